"""Images in chat messages reach Qwen's vision models: data: URIs and http(s) URLs become
uploads (STS + OSS) referenced in the upstream message; bad images are 400s naming the part.

The simulator appends ` [image: N bytes, sha256 <12 hex>]` per image it could read from its
own storage, so each answer proves exactly which bytes arrived through OSS.
"""

import base64
import hashlib

import httpx
import openai
import pytest

from gateway.config import MediaSettings

from .harness import default_settings, live_stack

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
PARAM = "messages[0].content[1].image_url"
VISION = "qwen3.7-plus"


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def note(data):
    return f" [image: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}]"


def ask(stack, url, text="Describe it", stream=False):
    messages = [{"role": "user", "content": [{"type": "text", "text": text},
                                             {"type": "image_url", "image_url": {"url": url}}]}]
    client = client_for(stack)
    if stream:
        chunks = client.chat.completions.create(model=VISION, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return client.chat.completions.create(model=VISION, messages=messages).choices[0].message.content


def completions(stack):
    return stack.upstream_requests("/api/v2/chat/completions")


@pytest.fixture
def open_stack():
    """A gateway allowed to fetch from loopback, where the simulator serves its files."""
    with live_stack(default_settings(media=MediaSettings(allow_private_fetch=True))) as stack:
        yield stack


@pytest.mark.parametrize("stream", [False, True])
def test_a_data_uri_image_reaches_qwen_through_oss(stack, stream):
    assert ask(stack, DATA_URI, stream=stream) == "You said: Describe it" + note(PNG)
    [sts] = stack.upstream_requests("/api/v2/files/getstsToken")
    assert sts["body"]["filesize"] == str(len(PNG)) and sts["body"]["filetype"] == "image"
    [entry] = completions(stack)[-1]["body"]["messages"][0]["files"]
    assert entry["file_class"] == "vision" and httpx.get(entry["url"]).content == PNG


def test_an_http_image_url_is_fetched_by_the_gateway(open_stack):
    generated = client_for(open_stack).images.generate(prompt="a small red square").data[0].url
    png = httpx.get(generated).content
    assert ask(open_stack, generated) == "You said: Describe it" + note(png)


def test_the_same_image_again_reuses_the_upload(stack):
    ask(stack, DATA_URI)
    ask(stack, DATA_URI)
    ask(stack, DATA_URI)
    accounts = {r["token"] for r in completions(stack)}
    assert len(stack.upstream_requests("/api/v2/files/getstsToken")) == len(accounts) < 3


def test_a_loopback_url_is_refused_by_default(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack, stack.sim_url + "/files/anything.png")
    assert caught.value.body["param"] == PARAM and "private" in caught.value.message
    assert not completions(stack)


@pytest.mark.parametrize("host", ["[64:ff9b::7f00:1]", "[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]"])
def test_loopback_and_private_hosts_written_in_ipv6_forms_are_refused(stack, host):
    """NAT64 and IPv4-compatible addresses reach the IPv4 address they embed."""
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack, f"http://{host}:{httpx.URL(stack.sim_url).port}/files/anything.png")
    assert caught.value.body["param"] == PARAM and "private" in caught.value.message
    assert not completions(stack)


@pytest.mark.parametrize(("path", "words"), [("/api/models", "not an image"), ("/files/missing.png", "HTTP 404")])
def test_a_url_that_is_not_an_image_is_400(open_stack, path, words):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(open_stack, open_stack.sim_url + path)
    assert caught.value.body["param"] == PARAM and words in caught.value.message
    assert not completions(open_stack)


def test_an_unreachable_url_is_400(open_stack):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(open_stack, "http://127.0.0.1:9/cat.png")
    assert caught.value.body["param"] == PARAM and "could not be downloaded" in caught.value.message


@pytest.mark.parametrize("url", ["data:image/png;base64,!!!", "data:text/plain;base64,aGVsbG8=", "ftp://x/a.png"])
def test_a_bad_image_reference_is_400(stack, url):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(stack, url)
    assert caught.value.body["param"] == PARAM
    assert not stack.upstream_requests("/api/v2/files/getstsToken")
