"""Documents in chat: OpenAI `file` parts uploaded, parsed (§3.8) and attached, through the openai client."""

import base64
import hashlib

import openai
import pytest

from gateway.config import MediaSettings

from .harness import default_settings, live_stack

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DOCX = b"PK\x03\x04docx-bytes"
NOTES = b"# Notes\nThe launch is on Friday.\n"


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def note(data):
    return f" [file: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}]"


def file_part(name, data, data_uri=True):
    encoded = base64.b64encode(data).decode()
    return {"type": "file", "file": {"filename": name,
                                     "file_data": f"data:application/octet-stream;base64,{encoded}" if data_uri else encoded}}


def ask(stack, parts, stream, model="qwen3.7-plus"):
    messages = [{"role": "user", "content": [{"type": "text", "text": "Summarize this"}, *parts]}]
    client = client_for(stack)
    if stream:
        chunks = client.chat.completions.create(model=model, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return client.chat.completions.create(model=model, messages=messages).choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("name", "data", "filetype"), [
    ("report.pdf", PDF, "document"), ("notes.md", NOTES, "file"), ("letter.docx", DOCX, "document"),
])
def test_an_inline_document_is_uploaded_parsed_and_attached(stack, stream, name, data, filetype):
    assert ask(stack, [file_part(name, data, data_uri=stream)], stream) == "You said: Summarize this" + note(data)
    [sts] = stack.upstream_requests("/api/v2/files/getstsToken")
    assert sts["body"]["filename"] == name and sts["body"]["filetype"] == filetype
    [parse] = stack.upstream_requests("/api/v2/files/parse")
    assert len(stack.upstream_requests("/api/v2/files/parse/status")) == 2
    [request] = stack.upstream_requests("/api/v2/chat/completions")
    [entry] = request["body"]["messages"][0]["files"]
    assert entry["id"] == parse["body"]["file_id"] and entry["file_class"] == "document" and entry["name"] == name


def test_the_model_reads_a_text_document_whole(stack):
    messages = [{"role": "user", "content": [{"type": "text", "text": "How many characters did you see?"},
                                             file_part("notes.md", NOTES)]}]
    answer = client_for(stack).chat.completions.create(model="qwen3.7-plus", messages=messages)
    assert answer.choices[0].message.content.startswith(f"I saw {len('How many characters did you see?') + len(NOTES)}")


def test_a_file_id_from_v1_files_is_attached(stack):
    client = client_for(stack)
    uploaded = client.files.create(file=("report.pdf", PDF, "application/pdf"), purpose="user_data")
    part = {"type": "file", "file": {"file_id": uploaded.id}}
    assert ask(stack, [part], False) == "You said: Summarize this" + note(PDF)


def test_a_model_without_the_document_capability_is_a_400_naming_it(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack, [file_part("report.pdf", PDF)], False, model="qwen3-max")
    assert caught.value.body["param"] == "model" and "qwen3-max" in caught.value.message
    assert not stack.upstream_requests("/api/v2/files/getstsToken")


def test_unsupported_types_unknown_ids_and_bad_base64_are_400s(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack, [file_part("tool.exe", b"MZ")], False)
    assert ".pdf" in caught.value.message and caught.value.body["param"] == "messages[0].content[1]"
    with pytest.raises(openai.NotFoundError):
        ask(stack, [{"type": "file", "file": {"file_id": "file-nope"}}], False)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack, [{"type": "file", "file": {"filename": "a.pdf", "file_data": "not base64!"}}], False)
    assert caught.value.body["param"] == "messages[0].content[1].file.file_data"
    with pytest.raises(openai.BadRequestError):
        ask(stack, [{"type": "file", "file": {}}], False)
    assert not stack.upstream_requests("/api/v2/chat/completions")


def test_the_upload_size_cap_applies():
    with live_stack(default_settings(media=MediaSettings(upload_max_bytes=100))) as stack:
        with pytest.raises(openai.APIStatusError) as caught:
            ask(stack, [file_part("big.txt", b"x" * 101)], False)
        assert caught.value.status_code == 413
        assert not stack.upstream_requests("/api/v2/files/getstsToken")


def test_a_document_qwen_cannot_parse_is_a_400(stack):
    stack.fault("token-alpha", {"kind": "parse_failed"})
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack, [file_part("report.pdf", PDF)], False)
    assert "report.pdf" in caught.value.message
