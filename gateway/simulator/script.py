"""Deterministic replies: what the simulated model "says" for a prompt.

Tests on both sides of the gateway assert these strings, so the rules are few
and exact:
  * a message opening with an `<instructions>` block (tools, answer format) is
    answered by `model.follow_instructions` when it applies;
  * `[[sim:tool=NAME,k=v]]` → `<tool_call>{"name":NAME,"arguments":{k:v}}</tool_call>`
    (only while no `<tool_response` follows the marker, so a folded history that
    already answered the call gets a normal reply);
  * text containing "how many characters did you see" → "I saw <n> characters.", n
    counting the chat's earlier messages, the prompt and attached text files (§7a);
  * text containing "what is 17 * 19" → "17 * 19 = 323.";
  * text containing "what did i say before" → the earlier user turns of the
    parent chain, proving the gateway kept the conversation's context;
  * otherwise "You said: <text>", <text> being the prompt without markers, stripped;
  * each attachment appends " [image: <n> bytes, sha256 <12 hex>]".
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import orjson

from . import model

_MARKER = re.compile(r"\[\[sim:([^\]]*)\]\]")
PIECE_CHARS = 8
THINK_TEXT = "Let me think about this."
# Each step repeats the earlier items: the summary lists look cumulative upstream.
SUMMARY_STEPS: list[tuple[list[str], list[str]]] = [
    (["Reading the question"], ["The user wants an answer."]),
    (["Reading the question"], ["The user wants an answer.", "Answering now."]),
]
SUMMARY_REASONING_TOKENS = (12, 20)


def message_text(content: Any) -> str:
    """A message's text: the string itself, or its `text` parts concatenated."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return ""


def _coerce(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in ("null", "none"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value.strip()


def markers(text: str) -> list[dict[str, Any]]:
    """Each `[[sim:k=v,k2=v2]]` marker as a dict, in order of appearance."""
    found: list[dict[str, Any]] = []
    for match in _MARKER.finditer(text):
        params: dict[str, Any] = {}
        for item in match.group(1).split(","):
            key, sep, value = item.partition("=")
            if key.strip():
                params[key.strip()] = _coerce(value) if sep else True
        found.append(params)
    return found


def clean_text(text: str) -> str:
    return _MARKER.sub("", text).strip()


def _tool_calls(text: str) -> str | None:
    matches = [m for m in _MARKER.finditer(text) if m.group(1).strip().startswith("tool=")]
    if not matches or "<tool_response" in text[matches[-1].end():]:
        return None
    blocks = []
    for match in matches:
        params = markers(match.group(0))[0]
        name = str(params.pop("tool"))
        call = orjson.dumps({"name": name, "arguments": params}).decode()
        blocks.append(f"<tool_call>{call}</tool_call>")
    return "\n".join(blocks)


def answer_for(text: str, earlier_user_texts: list[str], documents: list[str] | None = None,
               earlier_chars: int = 0) -> str:
    """The reply to `text` (raw, markers included), before any attachment notes.

    `documents` are the texts of attached text files, read as part of the prompt;
    `earlier_chars` what the chat held before this turn.
    """
    if "how many characters did you see" in model.last_user_turn(model.strip_instructions(text)).lower():
        # what reached the model: the chat so far, the prompt and every attached text (§7a tests)
        return f"I saw {earlier_chars + len(text) + sum(len(d) for d in documents or ())} characters."
    followed = model.follow_instructions(text)
    if followed is not None:
        return followed
    text = model.strip_instructions(text)
    tool_reply = _tool_calls(text)
    if tool_reply is not None:
        return tool_reply
    clean = clean_text(text)
    lowered = clean.lower()
    if "what is 17 * 19" in lowered:
        return "17 * 19 = 323."
    if "what did i say before" in lowered:
        if not earlier_user_texts:
            return "Earlier you said nothing."
        return "Earlier you said: " + " | ".join(earlier_user_texts)
    return "You said: " + clean


def attachment_note(kind: str, data: bytes) -> str:
    return f" [{kind}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}]"


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def input_tokens(text: str) -> int:
    return max(1, len(clean_text(text)) // 4)


def text_tokens(chars: int) -> int:
    return math.ceil(chars / 4)
