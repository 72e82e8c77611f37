"""Logging set-up: one line per record, with every control character a client could send escaped.

Request paths, model names and chat ids come from clients; a `%0a` in a path must not
start a forged line in the log. Escaping the formatted message here covers every logger
(ours and uvicorn's) at once, instead of trusting each call site to remember.
"""

from __future__ import annotations

import logging
import re

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


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
