"""A small deterministic "model" that follows instructions given in the prompt.

The real Qwen reads tool definitions and answer formats written into the message
(§11: it ignores native `tools`). This stands in for it, so tests can assert exact
replies. Rules:
  * an `<instructions>` block opens the message; the conversation follows it;
  * `<tools>` (one JSON function per line): if `<tool_response>` blocks follow the
    last user turn, answer "Tool results: <contents joined by '; '>"; otherwise call
    the function the instructions name (`must call the function "X"`), else every
    tool named in the last user turn (just the first under "at most one function"),
    else the first tool when a call is required; else answer normally;
  * "Reply with one JSON object only": an instance of the `<schema>` block, or
    `{"answer": "You said: <last user turn>"}` without one;
  * arguments and instances are filled from the last user turn: numbers in order,
    strings from quoted text then capitalised words not opening a sentence;
  * `[[sim:lazy]]` ignores the instructions until they carry a correction
    ("Your last reply" / "Your previous reply").
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_INSTRUCTIONS = re.compile(r"^\s*<instructions>\n(.*?)\n</instructions>\s*", re.DOTALL)
_TOOLS = re.compile(r"<tools>\n(.*?)\n</tools>", re.DOTALL)
_SCHEMA = re.compile(r"<schema>\n(.*?)\n</schema>", re.DOTALL)
_NAMED = re.compile(r'must call the function "([^"]+)"')
_TOOL_RESPONSE = re.compile(r"<tool_response[^>]*>(.*?)</tool_response>", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")
_WORD = re.compile(r"(^|[.!?]\s+|\s)([A-Z][\w-]*)")


def follow_instructions(text: str) -> str | None:
    """The reply when the message carries instructions the model should follow, else None."""
    match = _INSTRUCTIONS.match(text)
    if match is None:
        return None
    instructions, conversation = match.group(1), text[match.end():]
    turn = last_user_turn(conversation)
    if "[[sim:lazy]]" in conversation and "Your last reply" not in instructions \
            and "Your previous reply" not in instructions:
        return "I would rather chat: " + _clean(turn)
    tools = _TOOLS.search(instructions)
    if tools is not None:
        reply = _tool_reply(instructions, tools.group(1), conversation, turn)
        if reply is not None:
            return reply
    if "Reply with one JSON object only" in instructions:
        schema = _SCHEMA.search(instructions)
        if schema is None:
            return orjson.dumps({"answer": "You said: " + _clean(turn)}).decode()
        root = orjson.loads(schema.group(1))
        return orjson.dumps(_instance(root, root, _Filler(turn))).decode()
    return None


def strip_instructions(text: str) -> str:
    match = _INSTRUCTIONS.match(text)
    return text[match.end():] if match else text


def last_user_turn(conversation: str) -> str:
    """The text after the last `user: ` turn of a folded conversation (or all of it)."""
    index = conversation.rfind("\n\nuser: ")
    if index >= 0:
        return conversation[index + len("\n\nuser: "):]
    return conversation[len("user: "):] if conversation.startswith("user: ") else conversation


def _clean(text: str) -> str:
    return re.sub(r"\[\[sim:[^\]]*\]\]", "", text).strip()


def _tool_reply(instructions: str, tools_block: str, conversation: str, turn: str) -> str | None:
    results = _TOOL_RESPONSE.findall(conversation[conversation.rfind("\n\nuser: ") + 1:])
    if results:
        return "Tool results: " + "; ".join(r.strip() for r in results)
    tools = [orjson.loads(line) for line in tools_block.splitlines() if line.strip()]
    named = _NAMED.search(instructions)
    if named is not None:
        chosen = [t for t in tools if t["name"] == named.group(1)]
    else:
        chosen = [t for t in tools if t["name"] in turn]
        if not chosen and ("at least one function" in instructions or "Your last reply" in instructions):
            chosen = tools[:1]
    if "at most one function" in instructions:
        chosen = chosen[:1]
    if not chosen:
        return None
    blocks = []
    for tool in chosen:
        schema = tool.get("parameters") or {}
        call = {"name": tool["name"], "arguments": _instance(schema, schema, _Filler(turn))}
        blocks.append("<tool_call>" + orjson.dumps(call).decode() + "</tool_call>")
    return "\n".join(blocks)


class _Filler:
    """Values taken in order from the user's words."""

    def __init__(self, text: str) -> None:
        text = _clean(text)
        self.numbers = [float(n) for n in _NUMBER.findall(text)]
        quoted = [a or b for a, b in _QUOTED.findall(text)]
        words = [w for start, w in _WORD.findall(text) if start.strip() == "" and start != ""]
        self.strings = quoted + words

    def string(self) -> str:
        return self.strings.pop(0) if self.strings else "example"

    def number(self) -> float:
        return self.numbers.pop(0) if self.numbers else 1.0


def _instance(schema: dict[str, Any], root: dict[str, Any], fill: _Filler) -> Any:
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _instance(target, root, fill)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _instance(options[0], root, fill)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: _instance(sub, root, fill) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_instance(schema.get("items") or {}, root, fill)]
    if kind == "integer":
        return int(fill.number())
    if kind == "number":
        return fill.number()
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return fill.string()
