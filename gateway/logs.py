"""Logging set-up: one line per record, with every control character a client could send escaped.

Request paths, model names and chat ids come from clients; a `%0a` in a path must not
start a forged line in the log. Escaping the formatted message here covers every logger
(ours and uvicorn's) at once, instead of trusting each call site to remember.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import orjson

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def escape_controls(text: str) -> str:
    """`text` with each control character written as a visible escape such as \\x0a."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", text)


class EscapingFormatter(logging.Formatter):
    """The message is escaped; a traceback (our own text) keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))


# What a request line carries besides its message (set through `extra=` by the access log).
REQUEST_FIELDS = ("request_id", "method", "path", "status", "model", "account", "duration_ms", "upstream_ms",
                  "first_token_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: JSON's own string escaping keeps control characters from forging lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        # JSON leaves U+2028/U+2029 raw, yet some readers split lines on them.
        return orjson.dumps(entry, default=str).decode().replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def configure_logging(level: str, fmt: str = "text") -> None:
    # No line names its thread, process or source line: spare every record (one per request)
    # from looking them up, as the logging HOWTO's "Optimization" section shows.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else EscapingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
