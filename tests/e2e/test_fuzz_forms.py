"""Property-based fuzzing of the multipart routes: no form gives a 5xx.

The JSON bodies are fuzzed against /openapi.json (test_fuzz.py); the uploads and edits take
multipart forms, which a clumsy client gets wrong in its own ways: a field sent twice or as a
file, a file under a text field's name, odd filenames and content types, numbers that are not
numbers, a body cut short or with the wrong boundary.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import live_stack

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
TEXTS = {  # the text fields of each route, and its file fields
    "/v1/files": (["purpose", "expires_after[anchor]", "expires_after[seconds]"], ["file"]),
    "/v1/images/edits": (["prompt", "model", "n", "size", "response_format", "quality"], ["image", "image[]", "mask"]),
    "/v1/videos": (["prompt", "model", "seconds", "size"], ["input_reference"]),
    "/api/files/upload": (["chatId"], ["file"]),
}
TEXT = st.one_of(st.text(max_size=16), st.sampled_from(["", "1", "2", "-1", "0", "1024x1024", "16:9", "b64_json", "url",
                                                       "qwen3-max", "qwen-image-2.0-pro", "vision", "4", "a cat"]))
FILE = st.tuples(st.one_of(st.text(max_size=12), st.sampled_from(["a.png", "a.txt", "", "../x", "a"])),
                 st.one_of(st.binary(max_size=64), st.just(PNG)),
                 st.sampled_from(["image/png", "text/plain", "application/octet-stream", "", "image/jpeg"]))
Drawn = tuple[dict[str, list[str]], list[tuple[str, Any]]]


def form(path: str) -> st.SearchStrategy[Drawn]:
    """Each known field present or not, once or twice, of a plausible or any text; the files likewise;
    sometimes a field no route knows, or a file under a text field's name."""
    texts, files = TEXTS[path]
    fields = st.fixed_dictionaries({}, optional={name: st.lists(TEXT, min_size=1, max_size=2) for name in texts})
    extra = st.dictionaries(st.text(max_size=8), st.lists(TEXT, min_size=1, max_size=1), max_size=1)
    uploads = st.lists(st.tuples(st.sampled_from(files + texts[:1]), FILE), max_size=3)
    return st.tuples(st.builds(lambda a, b: {**b, **a}, fields, extra), uploads)


@pytest.fixture(scope="module")
def stack():
    with live_stack() as stack:
        yield stack


@pytest.mark.parametrize("path", list(TEXTS))
def test_no_form_gives_a_server_error(stack, path):
    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(drawn=form(path))
    def no_5xx(drawn: Drawn) -> None:
        fields, files = drawn
        answer = stack.http.post(path, data=fields, files=files or [("_", ("", b"", ""))], timeout=30)
        assert answer.status_code < 500, (fields, files, answer.status_code, answer.text[:300])

    no_5xx()


@pytest.mark.parametrize("path", list(TEXTS))
def test_no_malformed_multipart_body_gives_a_server_error(stack, path):
    @settings(max_examples=40, deadline=None, database=None)
    @given(body=st.binary(max_size=200), boundary=st.sampled_from(["b", "x" * 70, ""]),
           prefix=st.sampled_from([b"", b"--b\r\n", b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"]))
    def no_5xx(body: bytes, boundary: str, prefix: bytes) -> None:
        answer = stack.http.post(path, content=prefix + body, timeout=30,
                                 headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert answer.status_code < 500, (prefix + body, answer.status_code, answer.text[:300])

    no_5xx()
