"""qwen/files.py: STS parsing (both forms), the OSS V1 signature and address, uploads and
their failures against a scripted stand-in on a real socket (aioresponses does not
support aiohttp 3.14)."""

import base64

import orjson
import pytest
from aiohttp import web
from stub_server import serve_all

from gateway.config import AccountSettings, Timeouts
from gateway.errors import (
    UpstreamContract,
    UpstreamRateLimited,
    UpstreamTransient,
    UpstreamUnauthorized,
)
from gateway.qwen.client import QwenClient
from gateway.qwen.files import (
    UploadedFile,
    file_entry,
    file_kind,
    oss_url,
    oss_v1_headers,
    parse_sts,
    safe_name,
    upload,
    url_expiry,
)

BASE = "https://chat.example"
STS = {
    "access_key_id": "STS.key", "access_key_secret": "the-secret", "security_token": "CAIS-token",
    "bucketname": "qwen-webui-prod", "region": "oss-ap-southeast-1", "endpoint": "oss-ap-southeast-1.aliyuncs.com",
    "file_path": "uid/abc_a.png", "file_url": "https://cdn.example/uid/abc_a.png?key=k", "file_id": "abc",
}
OSS = "https://qwen-webui-prod.oss-ap-southeast-1.aliyuncs.com/uid/abc_a.png"


def grant(**changes):
    return parse_sts({**STS, **changes})


class FakeQwen:
    """A stand-in for getstsToken and OSS on a real socket, scripted per test."""

    def __init__(self) -> None:
        self.replies: dict[str, list[tuple[int, bytes]]] = {}
        self.put_reply = (200, "")
        self.seen: list[dict] = []
        self.sts: dict = {}
        self.client: QwenClient | None = None

    async def handle(self, request: web.Request) -> web.Response:
        data = await request.read()
        body = orjson.loads(data) if request.method == "POST" else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append({"path": request.path, "headers": headers, "body": body, "data": data})
        if request.method == "PUT":
            return web.Response(status=self.put_reply[0], text=self.put_reply[1], content_type="application/xml")
        status, reply = self.replies[request.path].pop(0)
        return web.Response(status=status, body=reply, content_type="application/json")


@pytest.fixture
async def fake():
    stub = FakeQwen()
    async with serve_all(stub.handle) as server:
        base = str(server.make_url("")).rstrip("/")
        stub.sts = {**STS, "endpoint": base + "/oss"}
        stub.client = QwenClient(AccountSettings(id="a1", token="jwt-secret-token"), base, "0.2.63", Timeouts())
        yield stub
        await stub.client.close()


def test_sts_reply_wrapped_and_flat_forms_parse_alike():
    flat = parse_sts(STS)
    wrapped = parse_sts({"success": True, "request_id": "r", "data": STS})
    assert flat == wrapped
    assert (flat.bucket, flat.security_token, flat.file_path) == ("qwen-webui-prod", "CAIS-token", "uid/abc_a.png")


def test_sts_reply_missing_a_key_is_protocol_drift():
    with pytest.raises(UpstreamContract, match="access_key_secret"):
        parse_sts({"success": True, "data": {k: v for k, v in STS.items() if k != "access_key_secret"}})


def test_v1_signature_matches_an_independent_hmac():
    # Expected value from `openssl dgst -sha1 -hmac the-secret -binary | base64` over the §3.6 string.
    headers = oss_v1_headers(grant(), "image/png", "Wed, 04 Mar 2026 09:24:38 GMT")
    assert headers == {
        "authorization": "OSS STS.key:WX4QxO4GVgDYtbsh16mu+CeWl6E=",
        "date": "Wed, 04 Mar 2026 09:24:38 GMT",
        "x-oss-security-token": "CAIS-token",
        "content-type": "image/png",
    }


def test_oss_address_comes_from_the_sts_reply():
    assert oss_url(grant()) == OSS
    assert oss_url(grant(endpoint="http://127.0.0.1:9000/oss/")) == "http://127.0.0.1:9000/oss/uid/abc_a.png"


@pytest.mark.parametrize(("mime", "kind"), [
    ("image/png", "image"), ("video/mp4", "video"), ("audio/mpeg", "audio"), ("application/pdf", "document"),
    ("text/plain", "file"), ("application/zip", "file"),
])
def test_file_kind_from_mime(mime, kind):
    assert file_kind(mime) == kind


def test_file_entry_is_the_minimal_tested_form():
    entry = file_entry(UploadedFile("https://cdn/x.png?key=k", "id1", "x.png", 3, "image/png", "image", None))
    assert {k: entry[k] for k in ("type", "name", "file_type", "showType", "file_class", "status", "url")} == {
        "type": "image", "name": "x.png", "file_type": "image/png", "showType": "image", "file_class": "vision",
        "status": "uploaded", "url": "https://cdn/x.png?key=k"}
    document = file_entry(UploadedFile("u", "id2", "r.pdf", 3, "application/pdf", "document", None))
    assert (document["type"], document["file_class"]) == ("file", "file")


def test_safe_names_and_url_expiry():
    assert safe_name("C:\\photos\\mon chat (1).png") == "mon_chat_1_.png"
    assert safe_name("../../") == "file"
    claims = base64.urlsafe_b64encode(orjson.dumps({"exp": 1790000000})).rstrip(b"=").decode()
    assert url_expiry(f"https://cdn/x.png?key=h.{claims}.s") == 1790000000
    assert url_expiry("https://cdn/x.png?key=opaque") is None


async def test_upload_signs_the_put_and_keeps_the_token_off_oss(fake):
    wrapped = {"success": True, "request_id": "r", "data": fake.sts}
    fake.replies["/api/v2/files/getstsToken"] = [(200, orjson.dumps(wrapped))]
    uploaded = await upload(fake.client, b"\x89PNGdata", "a.png", "image/png")
    sts_call, put_call = fake.seen
    assert sts_call["body"] == {"filename": "a.png", "filesize": "8", "filetype": "image"}
    assert sts_call["headers"]["cookie"].startswith("token=jwt-secret-token")
    assert put_call["path"] == "/oss/uid/abc_a.png" and put_call["data"] == b"\x89PNGdata"
    put_headers = put_call["headers"]
    assert put_headers["content-type"] == "image/png" and put_headers["x-oss-security-token"] == "CAIS-token"
    expected = oss_v1_headers(parse_sts(fake.sts), "image/png", put_headers["date"])
    assert put_headers["authorization"] == expected["authorization"]
    assert "jwt-secret-token" not in str(put_headers)
    assert uploaded == UploadedFile(STS["file_url"], "abc", "a.png", 8, "image/png", "image", None)


async def test_old_key_set_and_v1_fallback_when_v2_is_missing(fake):
    fake.replies["/api/v2/files/getstsToken"] = [(404, b'{"detail":"Not Found"}')]
    fake.replies["/api/v1/files/getstsToken"] = [(200, orjson.dumps(fake.sts))]  # the flat form of the older era
    await upload(fake.client, b"abc", "a.txt", "text/plain", keys="old")
    paths = [c["path"] for c in fake.seen]
    assert paths == ["/api/v2/files/getstsToken", "/api/v1/files/getstsToken", "/oss/uid/abc_a.png"]
    assert fake.seen[1]["body"] == {"filename": "a.txt", "filesize": "3", "filetype": "file"}


@pytest.mark.parametrize(("reply", "error"), [
    ({"success": False, "data": {"code": "RateLimited", "details": "401 Unauthorized"}}, UpstreamUnauthorized),
    ({"success": False, "data": {"code": "RateLimited", "details": "limit", "num": 3}}, UpstreamRateLimited),
    ({"success": False, "code": "Bad_Request", "details": "Invalid file information!"}, UpstreamContract),
])
async def test_sts_failures_map_to_the_error_catalogue(fake, reply, error):
    fake.replies["/api/v2/files/getstsToken"] = [(200, orjson.dumps(reply))]
    with pytest.raises(error):
        await upload(fake.client, b"abc", "a.png", "image/png")
    assert len(fake.seen) == 1  # nothing was put


@pytest.mark.parametrize(("status", "code", "error"), [
    (403, "SignatureDoesNotMatch", UpstreamContract),
    (503, "ServiceUnavailable", UpstreamTransient),
])
async def test_oss_xml_errors_are_clear_upstream_errors(fake, status, code, error):
    fake.replies["/api/v2/files/getstsToken"] = [(200, orjson.dumps(fake.sts))]
    xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>no &amp; never</Message></Error>"
    fake.put_reply = (status, xml)
    with pytest.raises(error) as caught:
        await upload(fake.client, b"abc", "a.png", "image/png")
    assert code in caught.value.message and "the-secret" not in caught.value.message


def test_credentials_stay_out_of_reprs():
    assert "the-secret" not in repr(grant()) and "CAIS-token" not in repr(grant())
