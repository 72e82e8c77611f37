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

from typing import Any

import orjson

UNPARSED: Any = object()  # an event's data that is not JSON (or not yet known to be)
DONE: Any = object()  # the `[DONE]` marker


def _decoded(value: bytes) -> Any:
    """The JSON `value` holds (DONE for `[DONE]`), or UNPARSED when it is not whole JSON."""
    if value.strip() == b"[DONE]":
        return DONE
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return UNPARSED


class SSEDecoder:
    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """Return the data of every event completed by `chunk`."""
        return [data for data, _ in self.feed_decoded(chunk)]

    def feed_decoded(self, chunk: bytes) -> list[tuple[bytes, Any]]:
        """Each completed event's data with its JSON, decoded once (it is decoded to find where an
        event ends anyway): the object, DONE, or UNPARSED."""
        buffer = self._buffer + chunk if self._buffer else chunk
        *lines, self._buffer = buffer.split(b"\n")
        events: list[tuple[bytes, Any]] = []
        for line in lines:
            self._line(line.rstrip(b"\r"), events)
        return events

    def flush(self) -> list[bytes]:
        """End of stream: whatever was pending counts as a last event."""
        return [data for data, _ in self.flush_decoded()]

    def flush_decoded(self) -> list[tuple[bytes, Any]]:
        events: list[tuple[bytes, Any]] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[tuple[bytes, Any]]) -> None:
        if not line.strip():
            if self._data:
                events.append((b"\n".join(self._data), UNPARSED))
                self._data = []
            return
        if not line.startswith(b"data:"):
            return  # comments (":"), event:, id:, retry: and unknown fields are ignored
        value = line[5:]
        value = value[1:] if value.startswith(b" ") else value
        if not self._data:
            obj = _decoded(value)
            if obj is not UNPARSED:
                events.append((value, obj))
            else:
                self._data.append(value)
            return
        self._data.append(value)
        joined = b"\n".join(self._data)
        if (obj := _decoded(joined)) is not UNPARSED:
            events.append((joined, obj))
            self._data = []
        elif (obj := _decoded(value)) is not UNPARSED:  # the pending part never completes: hand both on
            events.append((b"\n".join(self._data[:-1]), UNPARSED))
            events.append((value, obj))
            self._data = []
