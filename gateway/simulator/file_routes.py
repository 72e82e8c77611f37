"""Uploads (§3.5, §3.6) and the simulator's own CDN.

STS replies point `endpoint` at this server (`<base>/oss`, with a scheme), so
the client's signed PUT lands here; the bytes are then served at `file_url`
under /files, next to generated outputs under /output.
"""

from __future__ import annotations

import hashlib
import posixpath
import secrets
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from . import envelopes, media
from .gate import admit, base_url, read_json, sim_of
from .state import Grant, StoredFile, Upload, fake_jwt, new_id, uid_for

BUCKET = "qwen-webui-prod"
REGION = "oss-ap-southeast-1"
_KEY_SETS = {"new": ("file_name", "file_size", "file_type"), "old": ("filename", "filesize", "filetype")}


def _file_info(body: object, accepted: str) -> tuple[str, str] | None:
    """(name, type) when the body carries one accepted key set in full."""
    if not isinstance(body, dict):
        return None
    for key_set in ("new", "old") if accepted == "any" else (accepted,):
        name_key, size_key, type_key = _KEY_SETS[key_set]
        name, size, kind = body.get(name_key), body.get(size_key), body.get(type_key)
        # `filesize` is a string from the web UI (captured Aug 2026), a number from R
        sized = (isinstance(size, int) and not isinstance(size, bool)) or (isinstance(size, str) and size.isdigit())
        if isinstance(name, str) and name and sized and isinstance(kind, str) and kind:
            return name, kind
    return None


async def sts_token(request: Request) -> Response:
    admission = await admit(request, "sts", write=True)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    info = _file_info(await read_json(request), sim.options.sts_keys)
    if info is None:
        return envelopes.json_response(envelopes.top_level_failure("Bad_Request", "Invalid file information!"))
    name = posixpath.basename(info[0].replace("\\", "/")) or "file"
    file_id = new_id()
    grant = Grant(
        access_key_id="STS." + secrets.token_urlsafe(18),
        secret=secrets.token_urlsafe(30),
        security_token="CAIS" + secrets.token_urlsafe(96),
        bucket=BUCKET,
        file_path=f"{uid_for(admission.token)}/{file_id}_{name}",
        owner=admission.token,
    )
    sim.grants[grant.access_key_id] = grant
    sim.uploads[file_id] = Upload(admission.token, grant.file_path)
    base = base_url(request)
    reply = {
        "access_key_id": grant.access_key_id,
        "access_key_secret": grant.secret,
        "security_token": grant.security_token,
        "bucketname": grant.bucket,
        "region": REGION,
        "endpoint": f"{base}/oss",
        "file_path": grant.file_path,
        "file_url": f"{base}/files/{quote(grant.file_path)}?key={fake_jwt(file_id)}",
        "file_id": file_id,
    }
    return envelopes.json_response(envelopes.ok(reply) if sim.options.sts_form == "wrapped" else reply)


async def oss_put(request: Request) -> Response:
    """A V1-signed PUT of one object, checked against the STS grant for that path."""
    sim = sim_of(request)
    rid = secrets.token_hex(12).upper()
    file_path = request.path_params["file_path"]
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    key_id, _, signature = credential.partition(":")
    grant = sim.grants.get(key_id) if scheme == "OSS" else None
    if grant is None:
        return media.oss_error(403, "InvalidAccessKeyId",
                               "The OSS Access Key Id you provided does not exist in our records.", rid,
                               OSSAccessKeyId=key_id)
    if request.headers.get("x-oss-security-token") != grant.security_token:
        return media.oss_error(403, "InvalidAccessKeyId", "The security token you provided is invalid.", rid,
                               OSSAccessKeyId=key_id)
    date = request.headers.get("date", "")
    if not date:
        return media.oss_error(403, "AccessDenied", "Missing the Date header.", rid)
    if file_path != grant.file_path:
        return media.oss_error(403, "AccessDenied", "You have no right to access this object.", rid)
    oss_headers = {k.lower(): v.strip() for k, v in request.headers.items() if k.lower().startswith("x-oss-")}
    to_sign = media.oss_string_to_sign("PUT", request.headers.get("content-md5", ""),
                                       request.headers.get("content-type", ""), date, oss_headers,
                                       f"/{grant.bucket}/{file_path}")
    if not secrets.compare_digest(media.oss_signature(grant.secret, to_sign), signature):
        return media.oss_error(403, "SignatureDoesNotMatch",
                               "The request signature we calculated does not match the signature you provided.",
                               rid, OSSAccessKeyId=key_id, SignatureProvided=signature, StringToSign=to_sign)
    data = await request.body()
    content_type = request.headers.get("content-type") or "application/octet-stream"
    sim.files[f"/files/{file_path}"] = StoredFile(content_type, data)
    etag = '"' + hashlib.md5(data).hexdigest().upper() + '"'
    return Response(b"", status_code=200, headers={"etag": etag, "x-oss-request-id": rid})


async def serve_file(request: Request) -> Response:
    """`GET /files/…` and `/output/…`: stored bytes with their type; the `key` is not checked."""
    stored = sim_of(request).files.get(request.scope["path"])  # already percent-decoded
    if stored is None:
        return media.oss_error(404, "NoSuchKey", "The specified key does not exist.", secrets.token_hex(12).upper())
    return Response(stored.data, media_type=stored.content_type)
