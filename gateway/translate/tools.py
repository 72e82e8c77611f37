"""Emulated tool calling (protocol reference §11). Pure: no I/O.

Qwen's web API ignores native `tools`, so the definitions travel as instructions in
the one user message, and the model answers a call with
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks, parsed back here
into OpenAI `tool_calls`. History goes back the same way: earlier calls as
`<tool_call>` text, tool results as `<tool_response>` blocks.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import InvalidRequest

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(r"(?:```[\w-]*\s*)?<tool_call>(.*?)(?:</tool_call>|$)(?:\s*```)?", re.DOTALL)
_FENCE = re.compile(r"^\s*```[\w-]*\s*|\s*```\s*$")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_ID_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ToolPlan:
    """What the client asked of tools, validated."""

    tools: list[dict[str, Any]]  # the `function` objects the model may call
    choice: str  # "auto" | "required" | "none" | a function name
    parallel: bool

    @property
    def active(self) -> bool:
        return bool(self.tools) and self.choice != "none"

    @property
    def names(self) -> set[str]:
        return {t["name"] for t in self.tools}


def parse_tool_plan(body: dict[str, Any]) -> ToolPlan | None:
    raw_tools = body.get("tools")
    if raw_tools is None:
        return None
    if not isinstance(raw_tools, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    functions = [_function(i, tool) for i, tool in enumerate(raw_tools)]
    choice = _choice(body.get("tool_choice"), {f["name"] for f in functions})
    if choice not in {"auto", "required", "none"}:
        functions = [f for f in functions if f["name"] == choice]
    parallel = body.get("parallel_tool_calls")
    return ToolPlan(functions, choice, parallel is not False)


def _function(index: int, tool: Any) -> dict[str, Any]:
    where = f"tools[{index}]"
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise InvalidRequest(f"{where} must be a function tool.", param=where)
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise InvalidRequest(f"{where}.function.name is required.", param=f"{where}.function.name")
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict):
        raise InvalidRequest(
            f"{where}.function.parameters must be a JSON schema object.", param=f"{where}.function.parameters"
        )
    return {"name": function["name"], "description": function.get("description", ""), "parameters": parameters}


def _choice(raw: Any, names: set[str]) -> str:
    if raw is None:
        return "auto"
    if raw in ("auto", "required", "none"):
        return str(raw)
    name = (raw.get("function") or {}).get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str) or name not in names:
        raise InvalidRequest("'tool_choice' must be auto, required, none or a declared function.", param="tool_choice")
    return name


def tool_instructions(plan: ToolPlan) -> str:
    """The block that teaches the model the tools and the call syntax."""
    lines = ["# Tools", "You can call these functions:", "<tools>"]
    lines += [orjson.dumps(tool).decode() for tool in plan.tools]
    lines += ["</tools>", "To call a function, reply with one block per call and nothing else:",
              '<tool_call>{"name": "<function name>", "arguments": {<arguments as JSON>}}</tool_call>']
    if plan.choice == "required":
        lines.append("You must call at least one function now.")
    elif plan.choice != "auto":
        lines.append(f'You must call the function "{plan.choice}" now.')
    else:
        lines.append("Call a function only when it helps; otherwise answer directly.")
    if not plan.parallel:
        lines.append("Call at most one function per reply.")
    lines.append("Function results come back in <tool_response> blocks; use them to answer.")
    return "\n".join(lines)


REQUIRED_REMINDER = "Your last reply called no function. You must reply now with <tool_call> blocks only."


def render_tool_calls(calls: list[dict[str, Any]]) -> str:
    """An assistant's earlier `tool_calls`, as the text the model would have written."""
    blocks = []
    for call in calls:
        function = call.get("function") or {}
        arguments = _arguments_object(function.get("arguments", "{}"))
        blocks.append(OPEN + orjson.dumps({"name": function.get("name"), "arguments": arguments}).decode() + CLOSE)
    return "\n".join(blocks)


def render_tool_result(message: dict[str, Any], name: str | None, text: str) -> str:
    call_id = message.get("tool_call_id") or ""
    return f'<tool_response tool_call_id="{call_id}" name="{name or ""}">{text}</tool_response>'


def _arguments_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        parsed = lenient_json(arguments)
        return parsed if parsed is not None else arguments
    return arguments


def lenient_json(text: str) -> Any | None:
    """JSON as models write it: fenced, with trailing commas, Python literals or missing closers."""
    text = _FENCE.sub("", text.strip())
    for candidate in (text, _repair(text)):
        try:
            return orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
    return None


def _repair(text: str) -> str:
    text = _TRAILING_COMMA.sub(r"\1", text)
    text = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", text)))
    missing = text.count("{") - text.count("}")
    return text + "}" * max(0, missing)


def parse_tool_calls(text: str, allowed: set[str]) -> tuple[str, list[dict[str, Any]]]:
    """Split an answer into its plain text and OpenAI tool calls (unknown or broken calls stay text)."""
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    position = 0
    for match in _BLOCK.finditer(text):
        call = _call(match.group(1), allowed)
        if call is None:
            continue
        kept.append(text[position:match.start()])
        position = match.end()
        calls.append(call)
    kept.append(text[position:])
    return "".join(kept).strip() if calls else text, calls


def _call(body: str, allowed: set[str]) -> dict[str, Any] | None:
    parsed = lenient_json(body)
    if not isinstance(parsed, dict) or parsed.get("name") not in allowed:
        return None
    arguments = parsed.get("arguments", parsed.get("parameters", {}))
    if isinstance(arguments, str):
        decoded = lenient_json(arguments)
        arguments = decoded if decoded is not None else arguments
    encoded = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    return {"id": new_call_id(), "type": "function", "function": {"name": parsed["name"], "arguments": encoded}}


def new_call_id() -> str:
    return "call_" + "".join(secrets.choice(_ID_CHARS) for _ in range(24))


class ToolCallFilter:
    """Streams answer text through until a tool call may be starting, then holds the rest.

    A fence (```json) or `<` that could open `<tool_call>` is held back until it is
    clearly not one; once `<tool_call` is seen everything else is held for `finish()`.
    """

    def __init__(self) -> None:
        self._held = ""
        self._capturing = False

    def feed(self, text: str) -> str:
        """The part of the text so far that can safely go to the client now."""
        self._held += text
        if self._capturing:
            return ""
        start = _possible_call_start(self._held)
        if start is None:
            out, self._held = self._held, ""
            return out
        out, self._held = self._held[:start], self._held[start:]
        self._capturing = _opens_call(self._held)
        return out

    def finish(self) -> str:
        """Everything held back; the caller parses it for calls."""
        held, self._held = self._held, ""
        return held


def _possible_call_start(text: str) -> int | None:
    index = 0
    while True:
        candidates = [i for i in (text.find("<", index), text.find("`", index)) if i >= 0]
        if not candidates:
            return None
        index = min(candidates)
        if _could_open_call(text[index:]):
            return index
        index += 1


def _after_fence(rest: str) -> str | None:
    """What follows an opening fence and its language tag, or None while that is still unknown."""
    if not rest.startswith("```"):
        return rest
    tail = rest[3:]
    body = tail.lstrip(string.ascii_letters + string.digits + "-_")
    stripped = body.lstrip()
    return stripped if stripped else None


def _could_open_call(rest: str) -> bool:
    if "```".startswith(rest):
        return True
    after = _after_fence(rest)
    return after is None or OPEN.startswith(after) or after.startswith(OPEN[:-1])


def _opens_call(held: str) -> bool:
    after = _after_fence(held)
    return after is not None and after.startswith(OPEN[:-1])
