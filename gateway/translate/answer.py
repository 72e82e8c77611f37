"""What of an answer's text reaches the client, and when. Pure: no I/O.

Plain answers pass straight through. With tools, text flows until a tool call may
be starting (`ToolCallFilter`); with a JSON answer format the content is held whole,
since it is only known to be valid at the end. `finish()` says what is left to send,
the tool calls found, and what is wrong (a missing required call, invalid JSON) so
that the caller may ask the model once more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .structured import JsonFormat, correction, validate
from .tools import REQUIRED_REMINDER, ToolCallFilter, ToolPlan, parse_tool_calls

Piece = tuple[str, str]


@dataclass
class Shaped:
    content: str  # content still to send (for a stream) / to add (for a whole answer)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    correction: str | None = None  # what to tell the model when the answer is unusable

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


class ClientAnswerShaper:
    """The client's side of an answer: of the pieces read from upstream (`AnswerTranslator.feed`),
    what the client may see now, and at the end what is left, the tool calls and any correction."""

    def __init__(self, tools: ToolPlan | None, json_format: JsonFormat | None) -> None:
        self._tools = tools if tools is not None and tools.active else None
        self._format = json_format
        self._filter = ToolCallFilter() if self._tools is not None and json_format is None else None
        self._held: list[str] = []

    @property
    def holds_content(self) -> bool:
        """True when no content may reach the client before the answer is complete."""
        return self._format is not None

    def feed(self, piece: Piece) -> Piece | None:
        """The piece to send now, if any."""
        field_name, text = piece
        if field_name != "content":
            return piece
        if self._format is not None:
            self._held.append(text)
            return None
        if self._filter is not None:
            out = self._filter.feed(text)
            return ("content", out) if out else None
        return piece

    def finish(self) -> Shaped:
        if self._filter is not None:
            return self._with_calls(self._filter.finish())
        if self._format is not None:
            text = "".join(self._held)
            if self._tools is not None:
                shaped = self._with_calls(text)
                if shaped.tool_calls:
                    return shaped
            content, problem = validate(text, self._format)
            return Shaped(content, correction=correction(problem) if problem else None)
        return Shaped("")

    def _with_calls(self, text: str) -> Shaped:
        assert self._tools is not None
        content, calls = parse_tool_calls(text, self._tools.names)
        if not self._tools.parallel:
            calls = calls[:1]
        must_call = self._tools.choice != "auto"
        return Shaped(content, calls, REQUIRED_REMINDER if must_call and not calls else None)
