"""Stream shapes the upstream sends at times since Aug 2026 (§4), each switchable.

  * framing: `data:` lines with a blank line after each (captures, R), with none
    (S, 0.3.11), or with CRLF line ends: option `framing`;
  * `dual_answer`: a second answer (`response_index` "1") interleaved with the main
    one, its deltas first, its `finished` before the main one's (R #149);
  * `finish_reason`: the terminal event carries `choices[0].finish_reason`;
  * `unknown_phase`: a tool phase the gateway has never seen, before the answer;
  * `status_error`: after `after` deltas, a delta with `status:"error"`;
  * `empty_stream`: `response.created`, a keep-alive, then a clean end (§7a, §10).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from . import script

FRAMINGS = ("blank", "none", "crlf")
SECOND_ANSWER = "A second answer that no client should ever see."
UNKNOWN_PHASE = "fetch_page"
STATUS_ERROR = {"code": "internal_error", "details": "Internal error!"}


def frame(chunk: bytes, framing: str) -> bytes:
    """One event as the chosen framing writes it (the simulator builds blank-line frames)."""
    if framing == "none":
        return chunk.replace(b"\n\n", b"\n")
    if framing == "crlf":
        return chunk.replace(b"\n", b"\r\n")
    return chunk


def _event(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class SecondAnswer:
    """The other answer of a `dual_answer` stream: its own id, text and `finished`."""

    def __init__(self, chat_id: str, parent_id: str) -> None:
        self.response_id = str(uuid.uuid4())
        self._created = {"chat_id": chat_id, "parent_id": parent_id, "response_id": self.response_id,
                         "response_index": "1"}
        self._pieces = script.pieces(SECOND_ANSWER)

    def created(self) -> bytes:
        return _event({"response.created": self._created})

    def delta(self, index: int) -> bytes | None:
        """Its piece to go out before the main answer's piece `index`, if any is left."""
        if index >= len(self._pieces):
            return None
        delta = {"content": self._pieces[index], "phase": "answer", "status": "typing"}
        return _event({"choices": [{"delta": delta}], "response_id": self.response_id})

    def rest(self, sent: int) -> Iterator[bytes]:
        """What is left of it, then its `finished` (which comes before the main one's)."""
        for index in range(sent, len(self._pieces)):
            chunk = self.delta(index)
            if chunk is not None:
                yield chunk
        finished = {"content": "", "status": "finished", "phase": "answer"}
        yield _event({"choices": [{"delta": finished}], "response_id": self.response_id})


def unknown_phase(response_id: str) -> list[bytes]:
    typing = {"role": "assistant", "content": "tool output, not answer text", "phase": UNKNOWN_PHASE,
              "status": "typing", "extra": {"url": "https://example.com"}}
    finished = {"role": "assistant", "content": "", "phase": UNKNOWN_PHASE, "status": "finished"}
    return [_event({"choices": [{"delta": d}], "response_id": response_id}) for d in (typing, finished)]


def status_error(response_id: str) -> bytes:
    delta = {"role": "assistant", "content": "", "phase": "answer", "status": "error", "error": STATUS_ERROR}
    return _event({"choices": [{"delta": delta}], "response_id": response_id})


def finished_with_reason(phase: str, response_id: str, reason: str) -> bytes:
    delta = {"content": "", "role": "assistant", "status": "finished", "phase": phase}
    return _event({"choices": [{"delta": delta, "finish_reason": reason}], "response_id": response_id})
