"""Files of `type:"file"` on a user message (§7, §7a): documents and context files.

A document is usable by its uploader once parsed (§3.8), by a model with the
`document` capability; the web UI's pasted-text context file (`file_class:"default"`,
`context:"full"`) goes with any model. The model reads text files whole: their text
is what `script` sees besides the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .catalog import ModelSpec
from .state import Chat, SimState


@dataclass
class Documents:
    texts: list[str] = field(default_factory=list)  # what the model reads, in order
    earlier_chars: int = 0  # of the conversation before this turn (the parent chain)
    context_urls: set[str] = field(default_factory=set)  # context files: no attachment note in the reply
    unusable: bool = False


def read_documents(sim: SimState, message: dict[str, Any], token: str, spec: ModelSpec) -> Documents:
    found = Documents()
    files = message.get("files")
    for item in files if isinstance(files, list) else []:
        if not isinstance(item, dict) or item.get("type") != "file":
            continue
        upload = sim.uploads.get(str(item.get("id") or ""))
        context = item.get("file_class") == "default" and item.get("context") == "full"
        if upload is None or upload.owner != token or upload.parse != "success" or not (context or spec.vision):
            found.unusable = True  # unknown, foreign, unparsed, or a model that reads no documents
            continue
        stored = sim.files.get(f"/files/{upload.path}")
        if stored is None:
            found.unusable = True
            continue
        if context:
            found.context_urls.add(str(item.get("url") or ""))
        if stored.content_type.startswith("text/"):
            found.texts.append(stored.data.decode("utf-8", errors="replace"))
    return found


def chars_before(sim: SimState, chat: Chat, parent_id: str | None) -> int:
    """Characters of the conversation the model already holds along the parent chain,
    attached text files included: the context a turn is answered with."""
    total = 0
    for message in chat.ancestors(parent_id):
        total += len(message.content)
        for item in message.files:
            upload = sim.uploads.get(str(item.get("id") or "")) if isinstance(item, dict) else None
            stored = sim.files.get(f"/files/{upload.path}") if upload is not None else None
            if stored is not None and stored.content_type.startswith("text/"):
                total += len(stored.data)
    return total
