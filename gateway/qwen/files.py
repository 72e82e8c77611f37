"""Uploading to Qwen's file storage (§3.5 getstsToken, §3.6 OSS PUT) and reading files back.

An upload asks Qwen for temporary STS credentials, then PUTs the bytes to Alibaba
OSS signed with them (V1: the presigned `file_url` fails, self-signing works). The
PUT address comes from the STS reply, never a hard-coded host (DESIGN "Upload
target"). Every call is a `QwenClient` method on the account's own session; the
account's headers and cookies go to Qwen only, never to OSS or the CDN.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from ..errors import UpstreamContract, UpstreamError, UpstreamTimeout, UpstreamTransient
from .client import QwenClient

# "old": what every public client and the web UI send (§3.5); "new": a Sep 2026 note's set, uncorroborated.
STS_KEYS = {"new": ("file_name", "file_size", "file_type"), "old": ("filename", "filesize", "filetype")}
_REFUSED_KEYS = "invalid file information"
# §7: the `files[]` item's type / file_class for each kind of file.
FILE_CLASSES = {"image": ("image", "vision"), "video": ("video", "video"), "audio": ("audio", "audio"),
                "document": ("file", "file"), "file": ("file", "file")}
_TYPES_BY_EXTENSION = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "bmp": "image/bmp", "pdf": "application/pdf", "txt": "text/plain", "md": "text/markdown", "csv": "text/csv",
    "json": "application/json", "mp4": "video/mp4", "mp3": "audio/mpeg", "wav": "audio/wav",
}
_DOCUMENT_TYPES = ("application/pdf", "text/", "application/msword", "application/vnd.")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_XML_FIELD = re.compile(rb"<(Code|Message)>([^<]{0,500})</")


@dataclass(frozen=True)
class UploadedFile:
    file_url: str  # signed CDN URL (~300 s): reference it at once
    file_id: str
    name: str
    size: int
    content_type: str
    kind: str  # image | video | audio | document | file
    expires_at: int | None  # when the signed URL's `key` expires, if it says


class StsKeys:
    """Which getstsToken key set this upstream takes (§3.5), learnt once per app.

    "auto" starts with `filename/filesize/filetype`; on "Invalid file information!"
    the other set is tried once, and the set that worked is used from then on.
    "old" / "new" pin one set.
    """

    def __init__(self, setting: str = "auto") -> None:
        self.auto = setting == "auto"
        self.current = "old" if self.auto else setting

    def other(self) -> str:
        return "new" if self.current == "old" else "old"


@dataclass(frozen=True)
class StsGrant:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)
    bucket: str
    endpoint: str
    file_path: str
    file_url: str
    file_id: str


def file_kind(content_type: str) -> str:
    """getstsToken's `file_type` for a MIME type."""
    major = content_type.split("/", 1)[0].lower()
    if major in ("image", "video", "audio"):
        return major
    if major == "text":
        return "file"  # as the web UI asks for plain text (captured)
    return "document" if content_type.lower().startswith(_DOCUMENT_TYPES) else "file"


def safe_name(filename: str) -> str:
    """A storage-safe file name: OSS keys are signed raw, so keep them plain ASCII."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip("._")[-100:]
    return cleaned or "file"


def parse_sts(body: Any) -> StsGrant:
    """Both reply forms: `data` when it holds `access_key_id` (Aug 2026 →), else the top level."""
    data = body.get("data") if isinstance(body, dict) else None
    fields = data if isinstance(data, dict) and "access_key_id" in data else body
    if not isinstance(fields, dict):
        raise UpstreamContract("Qwen's upload credentials have an unexpected shape")
    try:
        return StsGrant(
            access_key_id=str(fields["access_key_id"]),
            access_key_secret=str(fields["access_key_secret"]),
            security_token=str(fields["security_token"]),
            bucket=str(fields.get("bucketname") or fields["bucket"]),
            endpoint=str(fields["endpoint"]),
            file_path=str(fields["file_path"]),
            file_url=str(fields["file_url"]),
            file_id=str(fields.get("file_id") or ""),
        )
    except KeyError as missing:
        raise UpstreamContract(f"Qwen's upload credentials lack {missing}; the protocol may have changed") from None


def oss_url(grant: StsGrant) -> str:
    """`<endpoint>/<path>` when the endpoint has a scheme, else `https://<bucket>.<endpoint>/<path>`."""
    if "://" in grant.endpoint:
        return f"{grant.endpoint.rstrip('/')}/{grant.file_path}"
    return f"https://{grant.bucket}.{grant.endpoint.strip('/')}/{grant.file_path}"


def oss_v1_headers(grant: StsGrant, content_type: str, date: str) -> dict[str, str]:
    """The V1-signed headers of a PUT (the only `x-oss-*` header sent is the STS token)."""
    to_sign = (f"PUT\n\n{content_type}\n{date}\nx-oss-security-token:{grant.security_token}\n"
               f"/{grant.bucket}/{grant.file_path}")
    digest = hmac.new(grant.access_key_secret.encode(), to_sign.encode(), hashlib.sha1).digest()
    return {
        "authorization": f"OSS {grant.access_key_id}:{base64.b64encode(digest).decode()}",
        "date": date,
        "x-oss-security-token": grant.security_token,
        "content-type": content_type,
    }


def file_entry(uploaded: UploadedFile) -> dict[str, Any]:
    """The `files[]` item of a completion message (§7, the minimal tested form)."""
    kind_type, file_class = FILE_CLASSES[uploaded.kind]
    return {"type": kind_type, "name": uploaded.name, "file_type": uploaded.content_type, "showType": kind_type,
            "file_class": file_class, "status": "uploaded", "url": uploaded.file_url, "size": uploaded.size,
            "id": uploaded.file_id}


def type_by_name(filename: str, default: str) -> str:
    """The MIME type a file name's extension says (mimetypes would read /etc files on the loop)."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _TYPES_BY_EXTENSION.get(extension, default)


def hosted_image_entry(url: str) -> dict[str, Any]:
    """A `files[]` item for an image already on Qwen's storage (a `file_url` of an earlier upload)."""
    name = url.split("?", 1)[0].rsplit("/", 1)[-1] or "image"
    content_type = type_by_name(name, "image/png")
    if not content_type.startswith("image/"):
        content_type = "image/png"
    kind_type, file_class = FILE_CLASSES["image"]
    return {"type": kind_type, "name": name, "file_type": content_type, "showType": kind_type,
            "file_class": file_class, "status": "uploaded", "url": url}


async def upload(
    client: QwenClient, data: bytes, filename: str, content_type: str, *, keys: str | StsKeys = "old"
) -> UploadedFile:
    """STS credentials, then the signed PUT; any failure is an UpstreamError."""
    name, kind = safe_name(filename), file_kind(content_type)
    choice = keys if isinstance(keys, StsKeys) else StsKeys(keys)
    try:
        grant = parse_sts(await client.upload_grant(_sts_body(choice.current, name, len(data), kind)))
    except UpstreamContract as refused:
        if not choice.auto or _REFUSED_KEYS not in refused.message.lower():
            raise
        other = choice.other()
        grant = parse_sts(await client.upload_grant(_sts_body(other, name, len(data), kind)))
        choice.current = other  # this upstream takes the other set: remember it
    headers = oss_v1_headers(grant, content_type, formatdate(usegmt=True))
    status, body = await client.put_object(oss_url(grant), data, headers)
    if status >= 300:
        raise _oss_error(status, body)
    return UploadedFile(grant.file_url, grant.file_id, name, len(data), content_type, kind, url_expiry(grant.file_url))


def _sts_body(keys: str, name: str, size: int, kind: str) -> dict[str, Any]:
    key_name, key_size, key_type = STS_KEYS[keys]
    # The web UI sends `filesize` as a string (captured Aug 2026); the other set's form is unknown.
    return {key_name: name, key_size: str(size) if keys == "old" else size, key_type: kind}


def url_expiry(url: str) -> int | None:
    """The `exp` claim of a CDN URL's `key=<jwt>` (read, not verified), or None."""
    key = (parse_qs(urlsplit(url).query).get("key") or [""])[0]
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return int(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


async def download(client: QwenClient, url: str, max_bytes: int, timeout: float) -> tuple[bytes, str]:
    """A Qwen-hosted file (a generated image, an upload) read whole through the account: (bytes, type)."""
    too_big = f"a Qwen-hosted file is larger than the {max_bytes}-byte download limit"
    try:
        async with asyncio.timeout(timeout):
            file = await client.open_download(url)
            try:
                if file.status != 200:
                    raise UpstreamTransient(f"Qwen's CDN answered HTTP {file.status} for a file")
                if int(file.length or 0) > max_bytes:
                    raise UpstreamContract(too_big)
                data = bytearray()
                async for chunk in file.chunks():
                    data += chunk
                    if len(data) > max_bytes:
                        raise UpstreamContract(too_big)
                return bytes(data), file.content_type
            finally:
                file.close()
    except TimeoutError:
        raise UpstreamTimeout(f"Qwen's CDN did not deliver a file within {timeout:g} s") from None


def _oss_error(status: int, body: bytes) -> UpstreamError:
    """An OSS XML `<Error>` as an UpstreamError: a refused signature is our bug, 5xx is transient."""
    fields = {name.decode(): value.decode(errors="replace").strip() for name, value in _XML_FIELD.findall(body)}
    code, message = fields.get("Code", ""), fields.get("Message", "")
    said = f"{code}: {message}" if code else f"HTTP {status}"
    if status >= 500 or code in ("RequestTimeout", "InternalError", "ServiceUnavailable"):
        return UpstreamTransient(f"Qwen's file storage failed the upload ({said})")
    return UpstreamContract(f"Qwen's file storage refused the upload ({said})")
