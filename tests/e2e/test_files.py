"""/v1/files through the real openai client: an upload to Qwen's storage, and its limits."""

import httpx
import openai
import pytest

from gateway.config import MediaSettings

from .harness import TOKENS, default_settings, live_stack

ALPHA, BRAVO = TOKENS
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def test_files_create_uploads_to_qwen_and_returns_a_file_object(stack):
    before = int(__import__("time").time())
    created = client_for(stack).files.create(file=("report.pdf", PDF, "application/pdf"), purpose="user_data")
    assert created.object == "file" and created.id.startswith("file-")
    assert created.bytes == len(PDF) and created.filename == "report.pdf" and created.purpose == "user_data"
    assert created.status == "processed" and created.created_at >= before
    assert created.created_at < created.expires_at <= created.created_at + 400  # Qwen's signed URL lives ~300 s
    [sts] = stack.upstream_requests("/api/v2/files/getstsToken")
    assert sts["body"] == {"filename": "report.pdf", "filesize": str(len(PDF)), "filetype": "document"}
    assert client_for(stack).files.retrieve(created.id) == created
    # read back from Qwen's storage: the simulator's OSS stored exactly those bytes
    assert client_for(stack).files.content(created.id).content == PDF


def test_an_unknown_file_id_is_404(stack):
    with pytest.raises(openai.NotFoundError):
        client_for(stack).files.retrieve("file-nope")


def test_an_image_file_is_typed_as_an_image_and_names_are_made_storage_safe(stack):
    part = ("mon chat (1).png", b"\x89PNG\r\n\x1a\nrest", "application/octet-stream")
    response = stack.http.post("/v1/files", data={"purpose": "vision"}, files={"file": part})
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "mon chat (1).png"
    [sts] = stack.upstream_requests("/api/v2/files/getstsToken")
    assert sts["body"] == {"filename": "mon_chat_1_.png", "filesize": "12", "filetype": "image"}


def test_upload_fails_over_when_sts_says_the_token_is_invalid(stack):
    stack.fault(ALPHA, {"kind": "unauthorized", "on": "sts"})
    created = client_for(stack).files.create(file=("a.txt", b"hello", "text/plain"), purpose="user_data")
    assert created.bytes == 5
    assert [r["token"] for r in stack.upstream_requests("/api/v2/files/getstsToken")] == [ALPHA, BRAVO]
    assert stack.accounts()["acct-alpha"]["state"] == "invalid"


@pytest.mark.parametrize(("form", "keys"), [("flat", "new"), ("wrapped", "new"), ("flat", "old")])
def test_both_sts_reply_forms_and_key_sets(form, keys):
    with live_stack(default_settings(media=MediaSettings(sts_keys=keys))) as stack:
        stack.sim_options(sts_form=form, sts_keys=keys)
        created = client_for(stack).files.create(file=("a.txt", b"hello", "text/plain"), purpose="user_data")
        assert client_for(stack).files.content(created.id).content == b"hello"
        [sts] = stack.upstream_requests("/api/v2/files/getstsToken")
        assert ("filename" in sts["body"]) == (keys == "old")


def test_a_file_over_the_upload_limit_is_413_and_nothing_is_uploaded():
    with live_stack(default_settings(media=MediaSettings(upload_max_bytes=1000))) as stack:
        with pytest.raises(openai.APIStatusError) as caught:
            client_for(stack).files.create(file=("big.bin", b"x" * 1001, "application/octet-stream"),
                                           purpose="user_data")
        assert caught.value.status_code == 413 and caught.value.body["param"] == "file"
        # a body past the whole-body cap is refused before it is read
        huge = httpx.post(stack.url + "/v1/files", data={"purpose": "user_data"},
                          files={"file": ("huge.bin", b"x" * 40_000_000)}, timeout=30)
        assert huge.status_code == 413
        assert not stack.upstream_requests("/api/v2/files/getstsToken")


@pytest.mark.parametrize(("data", "files", "param"), [
    ({"purpose": "user_data"}, {"other": ("a.txt", b"x")}, "file"),
    ({}, {"file": ("a.txt", b"x")}, "purpose"),
    ({"purpose": "user_data"}, {"file": ("a.txt", b"")}, "file"),
])
def test_missing_or_empty_fields_are_400_naming_the_param(stack, data, files, param):
    response = stack.http.post("/v1/files", data=data, files=files)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert not stack.upstream_requests("/api/v2/files/getstsToken")


def test_upload_keys_default_to_filename_and_fall_back_once_to_the_other_set_remembered():
    with live_stack() as stack:
        stack.sim_options(sts_keys="new")  # an upstream that takes only file_name/file_size/file_type
        for content in (b"hello", b"world"):
            created = client_for(stack).files.create(file=("a.txt", content, "text/plain"), purpose="user_data")
            assert client_for(stack).files.content(created.id).content == content
        bodies = [r["body"] for r in stack.upstream_requests("/api/v2/files/getstsToken")]
        assert [sorted(b) for b in bodies] == [["filename", "filesize", "filetype"],
                                               ["file_name", "file_size", "file_type"],
                                               ["file_name", "file_size", "file_type"]]  # learnt: no second miss
        assert all(a["state"] == "healthy" for a in stack.accounts().values())


def test_upload_keys_of_the_default_upstream_need_no_fallback():
    with live_stack() as stack:
        client_for(stack).files.create(file=("a.txt", b"hello", "text/plain"), purpose="user_data")
        [sts] = stack.upstream_requests("/api/v2/files/getstsToken")
        assert sts["body"] == {"filename": "a.txt", "filesize": "5", "filetype": "file"}
