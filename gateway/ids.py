"""Random ids for the hot path: request ids, upstream message ids.

`uuid.uuid4()` reads 16 bytes from the kernel each time (a system call, which is dear on
some hosts: 3-5 % of a chat's CPU here, bench/README.md); these ids name things and guard
nothing, so Python's own generator, seeded from the kernel once, is enough.
"""

from __future__ import annotations

import os
import random

_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)  # a forked process must not repeat its parent's ids
_CLEAR = ~(0xF << 76 | 0x3 << 62)  # the version nibble and the variant bits of RFC 4122
_SET = 0x4 << 76 | 0x2 << 62  # version 4, variant 10


def uuid4_hex() -> str:
    """32 hex digits shaped like a version-4 UUID's."""
    return f"{_random.getrandbits(128) & _CLEAR | _SET:032x}"


def uuid4() -> str:
    """A version-4 UUID in its usual 8-4-4-4-12 form."""
    h = uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
