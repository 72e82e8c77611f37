"""Images and files referenced by a user message (§7), resolved to stored bytes.

Only URLs this simulator served itself (uploads under /files, outputs under
/output, on its own host) pass; `data:` URIs and third-party URLs are what the
real upstream rejects with `invalid_input`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from .state import SimState, StoredFile

_PART_URL_KEYS = {"image": "image", "video": "video", "audio": "audio", "file": "file"}


@dataclass(frozen=True)
class Attachment:
    kind: str  # image | video | audio | file
    url: str
    stored: StoredFile | None  # None: not a URL this simulator serves


def references(message: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """(kind, url) of every attachment in either form, and whether any is malformed."""
    found: list[tuple[str, str]] = []
    malformed = False
    files = message.get("files")
    for item in files if isinstance(files, list) else []:
        if not isinstance(item, dict):
            malformed = True
            continue
        nested = item.get("file")
        url = item.get("url") or (nested.get("url") if isinstance(nested, dict) else None)
        if not isinstance(url, str) or not url:
            malformed = True
            continue
        found.append((str(item.get("type") or "file"), url))
    content = message.get("content")
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict) or part.get("type") == "text":
            continue
        key = _PART_URL_KEYS.get(str(part.get("type")))
        url = part.get(key) if key else None
        if isinstance(url, str) and url:
            found.append((str(part["type"]), url))
        else:
            malformed = True  # e.g. an OpenAI `image_url` part passed through untranslated
    return found, malformed


def resolve(sim: SimState, url: str, own_netloc: str) -> StoredFile | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != own_netloc:
        return None
    return sim.files.get(unquote(parts.path))


def attachments(sim: SimState, message: dict[str, Any], own_netloc: str) -> tuple[list[Attachment], bool]:
    """Every attachment with its bytes when ours; the flag is True if any is unusable."""
    refs, malformed = references(message)
    resolved = [Attachment(kind, url, resolve(sim, url, own_netloc)) for kind, url in refs]
    return resolved, malformed or any(a.stored is None for a in resolved)
