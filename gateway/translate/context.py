"""Big prompts as context files (§7a). Pure: no I/O.

A prompt over ~118k characters gets Qwen's anti-bot stub instead of an answer, so
above a threshold the web UI's way is followed: the gateway's instructions and the
newest turns stay inline, with a short note, and the older history goes into one
or more text files attached with `context: "full"`. Nothing of the conversation is
dropped: every message is either inline or in a file, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .chat import compose_prompt, fold_lines

NAME = "Pasted_Text_{stamp}{part}.txt"


@dataclass(frozen=True)
class ContextFile:
    name: str
    text: str


@dataclass(frozen=True)
class ContextPlan:
    prompt: str  # what goes inline
    files: list[ContextFile]  # the older history, in order
    moved_chars: int


def file_names(stamp: int, count: int) -> list[str]:
    """`Pasted_Text_<ms>.txt`, then `…_2.txt`, `…_3.txt` in order."""
    return [NAME.format(stamp=stamp, part="" if i == 0 else f"_{i + 1}") for i in range(count)]


def plan_context(instructions: list[str], messages: list[dict[str, Any]], *, tail_chars: int,
                 part_chars: int, stamp: int, earlier: list[dict[str, Any]] | None = None) -> ContextPlan:
    """Split a folded conversation: the newest lines (≤ `tail_chars`, at least the last one)
    inline, everything before them into files of at most `part_chars` each. `earlier`
    messages are upstream already (a continued chat) and only name tool calls."""
    lines = fold_lines(messages, earlier)
    keep = 1
    size = len(lines[-1])
    while keep < len(lines) and size + len(lines[-keep - 1]) + 2 <= tail_chars:
        keep += 1
        size += len(lines[-keep]) + 2
    older, newer = lines[:-keep], lines[-keep:]
    if not older and len(lines[-1]) > tail_chars:
        older, newer = lines, []  # one giant message: all of it goes into the file
    history = "\n\n".join(older)
    parts = [history[i:i + part_chars] for i in range(0, len(history), part_chars)] or [""]
    names = file_names(stamp, len(parts))
    listed = ", ".join(names)
    if newer:
        note = (f"[The earlier conversation ({len(history)} characters) is attached as {listed}; "
                "read it in full as the beginning of this conversation.]")
        conversation = note + "\n\n" + "\n\n".join(newer)
    else:
        conversation = (f"[The conversation ({len(history)} characters) is attached as {listed}; "
                        "read it in full and answer its last message.]")
    files = [ContextFile(name, text) for name, text in zip(names, parts, strict=True)]
    return ContextPlan(compose_prompt(instructions, conversation), files, len(history))
