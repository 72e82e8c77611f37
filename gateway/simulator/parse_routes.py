"""Document parsing (§3.8): `files/parse` starts it, `files/parse/status` reports it.

A file is `running` for `parse_polls` status calls, then `success`; the `parse_failed`
fault (on "parse") makes it `failed`. Only the uploading token may parse or use a file
(Q). Documents reach the model only once parsed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import envelopes
from .gate import admit, read_json, sim_of
from .state import SimState

PARSE_ERROR = "The file could not be parsed."


async def parse(request: Request) -> Response:
    admission = await admit(request, "parse", write=True)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    body = await read_json(request)
    file_id = body.get("file_id") if isinstance(body, dict) else None
    upload = sim.uploads.get(file_id) if isinstance(file_id, str) else None
    if upload is None or upload.owner != admission.token or f"/files/{upload.path}" not in sim.files:
        return envelopes.not_found("Not_Found", "File not found", always_200=True)
    failed = admission.fault is not None and admission.fault.kind == "parse_failed"
    upload.parse = "failed" if failed else "running"
    upload.polls_left = sim.options.parse_polls
    return envelopes.json_response(envelopes.ok({"file_id": file_id, "status": upload.parse}))


async def parse_status(request: Request) -> Response:
    admission = await admit(request, write=True)
    if isinstance(admission, Response):
        return admission
    sim = sim_of(request)
    body = await read_json(request)
    ids = body.get("file_id_list") if isinstance(body, dict) else None
    if not isinstance(ids, list):
        return envelopes.validation_error("Field 'file_id_list': Field required")
    return envelopes.json_response(envelopes.ok([_status(sim, str(i), admission.token) for i in ids]))


def _status(sim: SimState, file_id: str, token: str) -> dict[str, str]:
    upload = sim.uploads.get(file_id)
    if upload is None or upload.owner != token or upload.parse is None:
        return {"file_id": file_id, "status": "failed", "error_msg": "File not found"}
    if upload.parse == "running":
        if upload.polls_left <= 0:
            upload.parse = "success"
        upload.polls_left -= 1
    record = {"file_id": file_id, "status": upload.parse}
    if upload.parse == "failed":
        record["error_msg"] = PARSE_ERROR
    return record
