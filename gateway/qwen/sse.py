"""A sans-I/O decoder for server-sent events: feed bytes, get each event's data.

Only `data` fields matter upstream; comments, `event`, `id` and `retry` are skipped.
Tolerates CRLF, trailing spaces, keep-alive comments and a final event without its
blank line (flush() at end of stream).

Since the 0.3.x frontend the upstream may send `data:` lines with no blank line
between them (§4), so a `data:` line that is whole JSON is an event at once; one
that is not is joined with the lines that follow until the join parses (or a
blank line ends it, as plain SSE would).
"""

from __future__ import annotations

import orjson


def _whole(value: bytes) -> bool:
    if value.strip() == b"[DONE]":
        return True
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return True


class SSEDecoder:
    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """Return the data of every event completed by `chunk`."""
        buffer = self._buffer + chunk if self._buffer else chunk
        *lines, self._buffer = buffer.split(b"\n")
        events: list[bytes] = []
        for line in lines:
            self._line(line.rstrip(b"\r"), events)
        return events

    def flush(self) -> list[bytes]:
        """End of stream: whatever was pending counts as a last event."""
        events: list[bytes] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[bytes]) -> None:
        if not line.strip():
            if self._data:
                events.append(b"\n".join(self._data))
                self._data = []
            return
        if not line.startswith(b"data:"):
            return  # comments (":"), event:, id:, retry: and unknown fields are ignored
        value = line[5:]
        value = value[1:] if value.startswith(b" ") else value
        if not self._data:
            if _whole(value):
                events.append(value)
            else:
                self._data.append(value)
            return
        self._data.append(value)
        joined = b"\n".join(self._data)
        if _whole(joined):
            events.append(joined)
            self._data = []
        elif _whole(value):  # the pending part never completes: hand both on as they are
            events.append(b"\n".join(self._data[:-1]))
            events.append(value)
            self._data = []
