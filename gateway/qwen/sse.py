"""A sans-I/O decoder for server-sent events: feed bytes, get each event's data.

Only `data` fields matter upstream; comments, `event`, `id` and `retry` are skipped.
Tolerates CRLF, trailing spaces, keep-alive comments and a final event without its
blank line (flush() at end of stream).
"""

from __future__ import annotations


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
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        # comments (":"), event:, id:, retry: and unknown fields are ignored
