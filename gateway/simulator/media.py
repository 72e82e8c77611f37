"""Bytes the simulator serves or checks: PNG images, mp4 stand-ins, OSS V1 signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import zlib
from xml.sax.saxutils import escape

from starlette.responses import Response

# Output pixel sizes per ratio, (width, height): 16:9 as captured, the rest ~4 MP (§8).
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (2048, 2048),
    "3:4": (1776, 2368),
    "4:3": (2368, 1776),
    "16:9": (2688, 1536),
    "9:16": (1536, 2688),
}
SERVED_SCALE = 16  # the PNG actually served is 1/16 of the advertised size, same ratio


def ratio_or_square(size: object) -> str:
    """The upstream accepts only the five ratios; anything else renders square."""
    return size if isinstance(size, str) and size in IMAGE_SIZES else "1:1"


def colour_for(seed: bytes) -> tuple[int, int, int]:
    digest = hashlib.sha256(seed).digest()
    return digest[0], digest[1], digest[2]


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour 8-bit RGB PNG: IHDR, one IDAT, IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width  # filter byte 0 (None), then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, or None when `data` is not one."""
    if len(data) < 24 or not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def mp4_bytes(seed: bytes) -> bytes:
    """A tiny ISO-BMFF file: an `ftyp` box, a `free` box naming the seed, an `mdat` box."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    free = box(b"free", b"qwen-simulator " + hashlib.sha256(seed).hexdigest().encode())
    mdat = box(b"mdat", hashlib.sha256(b"frames:" + seed).digest() * 64)
    return ftyp + free + mdat


def oss_string_to_sign(
    verb: str, content_md5: str, content_type: str, date: str, oss_headers: dict[str, str], resource: str
) -> str:
    """OSS V1: verb, MD5, type, date, sorted `x-oss-*` headers, then `/<bucket>/<key>`."""
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted(oss_headers.items()))
    return f"{verb}\n{content_md5}\n{content_type}\n{date}\n{canonical}{resource}"


def oss_signature(secret: str, string_to_sign: str) -> str:
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def oss_error(status: int, code: str, message: str, request_id: str, **extra: str) -> Response:
    """An OSS-style XML error document."""
    fields = "".join(f"\n  <{name}>{escape(value)}</{name}>" for name, value in extra.items())
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{code}</Code>\n  <Message>{escape(message)}</Message>\n"
        f"  <RequestId>{request_id}</RequestId>\n  <HostId>qwen-webui-prod.oss-ap-southeast-1.aliyuncs.com</HostId>"
        f"{fields}\n</Error>\n"
    )
    return Response(xml, status_code=status, media_type="application/xml",
                    headers={"x-oss-request-id": request_id})
