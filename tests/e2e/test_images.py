"""/v1/images/generations and /v1/images/edits through the real openai client."""

import base64
import math
import struct
import time

import httpx
import openai
import pytest

from .harness import TOKENS, default_settings, live_stack

ALPHA, BRAVO = TOKENS
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def client_for(stack):
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def same_shape(width, height, ratio):
    """Within 3 %: Qwen's 16:9 is 2688x1536 (1.75), not exactly 16/9."""
    return abs(math.log(width / height / ratio)) < 0.03


def completions(stack):
    return [r for r in stack.upstream_requests("/api/v2/chat/completions")]


@pytest.mark.parametrize(("size", "ratio"), [("1792x1024", 1792 / 1024), ("1024x1536", 3 / 4), ("1024x1024", 1.0),
                                             ("9:16", 9 / 16), ("1536x1024", 4 / 3), ("1280x720", 16 / 9)])
def test_generate_url_serves_a_png_of_the_requested_ratio(stack, size, ratio):
    result = client_for(stack).images.generate(prompt="a red fox in the snow", size=size)
    assert len(result.data) == 1
    image = result.data[0]
    assert image.b64_json is None and image.revised_prompt == "a red fox in the snow"
    width, height = png_size(httpx.get(image.url).content)
    assert same_shape(width, height, ratio)
    upstream = completions(stack)[-1]["body"]
    message = upstream["messages"][0]
    assert message["chat_type"] == "t2i" and message["content"] == "a red fox in the snow"
    assert result.size == size  # as asked, as OpenAI reports it: the image itself has Qwen's pixels


def test_the_response_passes_the_openai_clients_strict_validation(stack):
    strict = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0, _strict_response_validation=True)
    result = strict.images.generate(prompt="a red fox", size="1536x1024")
    assert result.size == "1536x1024" and result.data[0].url


def test_no_size_asked_reports_none(stack):
    assert client_for(stack).images.generate(prompt="a lighthouse").size is None


def test_generate_defaults_to_an_image_model_and_square(stack):
    client_for(stack).images.generate(prompt="a lighthouse")
    body = completions(stack)[-1]["body"]
    assert body["model"] == "qwen-image-2.0-pro" and body["size"] == "1:1"


def test_generate_b64_json_decodes_to_a_png(stack):
    result = client_for(stack).images.generate(prompt="a blue whale", size="1792x1024", response_format="b64_json",
                                               model="qwen3.7-plus", quality="hd", style="vivid", user="u-1")
    image = result.data[0]
    assert image.url is None
    width, height = png_size(base64.b64decode(image.b64_json))
    assert (width, height) == (2688 // 16, 1536 // 16)
    assert result.output_format == "png"


def test_n_2_makes_two_distinct_images_in_parallel_upstream_calls(stack):
    result = client_for(stack).images.generate(prompt="two cats", n=2)
    urls = [d.url for d in result.data]
    assert len(urls) == 2 and len(set(urls)) == 2
    assert all(png_size(httpx.get(url).content) for url in urls)
    assert {r["token"] for r in completions(stack)} == {ALPHA, BRAVO}  # spread over the accounts


def test_generate_fails_over_when_the_first_account_is_rate_limited(stack):
    stack.fault(ALPHA, {"kind": "ratelimited", "num": 5})
    result = client_for(stack).images.generate(prompt="a mountain")
    assert png_size(httpx.get(result.data[0].url).content)
    assert [r["token"] for r in completions(stack)] == [ALPHA, BRAVO]
    assert stack.accounts()["acct-alpha"]["state"] == "cooling"


def test_generate_with_a_transient_stream_error_is_retried_elsewhere(stack):
    stack.fault(ALPHA, {"kind": "stream_error", "after": 0})
    result = client_for(stack).images.generate(prompt="a harbour at dusk")
    assert result.data[0].url
    assert [r["token"] for r in completions(stack)] == [ALPHA, BRAVO]


def test_edit_uploads_the_image_then_edits_it(stack):
    result = client_for(stack).images.edit(image=("cat.png", PNG_1x1, "image/png"), prompt="make it blue",
                                           size="1024x1536")
    width, height = png_size(httpx.get(result.data[0].url).content)
    assert same_shape(width, height, 3 / 4)
    sts = stack.upstream_requests("/api/v2/files/getstsToken")
    assert len(sts) == 1 and sts[0]["body"] == {"filename": "cat.png", "filesize": str(len(PNG_1x1)), "filetype": "image"}
    message = completions(stack)[-1]["body"]["messages"][0]
    assert message["chat_type"] == "image_edit"
    [entry] = message["files"]
    assert entry["type"] == "image" and entry["file_class"] == "vision" and entry["file_type"] == "image/png"
    assert httpx.get(entry["url"]).content == PNG_1x1  # the simulator's OSS holds exactly those bytes


def test_edit_with_several_images_and_b64(stack):
    second = PNG_1x1 + b"\x00"
    result = client_for(stack).images.edit(image=[("a.png", PNG_1x1, "image/png"), ("b.png", second, "image/png")],
                                           prompt="merge them", response_format="b64_json", n=2)
    assert len(result.data) == 2 and all(png_size(base64.b64decode(d.b64_json)) for d in result.data)
    for request in completions(stack):
        assert [httpx.get(f["url"]).content for f in request["body"]["messages"][0]["files"]] == [PNG_1x1, second]


def test_edit_reuses_an_upload_of_the_same_bytes_on_the_same_account(stack):
    client = client_for(stack)
    for _ in range(3):
        client.images.edit(image=("cat.png", PNG_1x1, "image/png"), prompt="again")
    uploads = stack.upstream_requests("/api/v2/files/getstsToken")
    served = [r["token"] for r in completions(stack)]
    assert len(uploads) == len(set(served)) < 3  # one upload per account that served


def test_edit_mask_is_accepted_and_ignored(stack):
    result = client_for(stack).images.edit(image=("cat.png", PNG_1x1, "image/png"), prompt="a hat",
                                           mask=("mask.png", PNG_1x1, "image/png"))
    assert result.data[0].url
    assert len(stack.upstream_requests("/api/v2/files/getstsToken")) == 1  # the mask is not uploaded


def test_edit_on_a_model_without_image_edit_is_400(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).images.edit(image=("cat.png", PNG_1x1, "image/png"), prompt="x", model="qwen-max-latest")
    assert caught.value.body["param"] == "model"
    assert not stack.upstream_requests("/api/v2/files/getstsToken")


def test_stream_true_sends_one_completed_event_per_image(stack):
    events = list(client_for(stack).images.generate(prompt="two foxes", n=2, size="1792x1024", stream=True))
    assert [e.type for e in events] == ["image_generation.completed"] * 2
    for event in events:
        width, height = png_size(base64.b64decode(event.b64_json))
        assert same_shape(width, height, 1792 / 1024)
        assert event.size == "1792x1024" and event.output_format == "png" and event.created_at > 0
    assert len(completions(stack)) == 2


def test_an_edit_streams_an_image_edit_completed_event(stack):
    [event] = list(client_for(stack).images.edit(image=("cat.png", PNG_1x1, "image/png"), prompt="a hat",
                                                 stream=True))
    assert event.type == "image_edit.completed" and png_size(base64.b64decode(event.b64_json))


def test_a_stream_that_fails_before_its_first_image_is_an_http_error(stack):
    for token in TOKENS:
        stack.fault(token, *[{"kind": "http_5xx"}] * 3)
    with pytest.raises(openai.InternalServerError):
        list(client_for(stack).images.generate(prompt="a fox", stream=True))


def test_a_client_that_leaves_cancels_the_generation(stack):
    stack.sim_options(speed=1.0, first_event_delay=5.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        stack.http.post("/v1/images/generations", json={"prompt": "slow"}, timeout=0.5)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and sum(a["in_flight"] for a in stack.accounts().values()):
        time.sleep(0.05)
    assert sum(a["in_flight"] for a in stack.accounts().values()) == 0
    assert time.monotonic() - started < 3


# -- bad input: a clear 4xx naming the param, and no upstream call ---------------------

def assert_refused(response, status, param):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] == param
    return error


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": "x", "size": "huge"}, "size"),
    ({"prompt": "x", "stream": "yes"}, "stream"),
    ({"prompt": "x", "size": "0x100"}, "size"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "n": 5}, "n"),
    ({"prompt": "x", "n": "2"}, "n"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({}, "prompt"),
    ({"prompt": "x", "response_format": "png"}, "response_format"),
    ({"prompt": "x", "model": "qwen3-max"}, "model"),  # a text-only model
])
def test_bad_generation_requests_are_400_naming_the_param(stack, body, param):
    assert_refused(stack.http.post("/v1/images/generations", json=body), 400, param)
    assert not stack.upstream_requests("/api/v2/chat/completions")


def test_bad_generation_through_the_openai_client(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).images.generate(prompt="x", size="1000x")
    assert caught.value.body["param"] == "size" and "size" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client_for(stack).images.generate(prompt="x", model="dall-e-3")


@pytest.mark.parametrize(("files", "data", "param"), [
    ({}, {"prompt": "x"}, "image"),
    ({"image": ("a.png", PNG_1x1, "image/png")}, {"prompt": ""}, "prompt"),
    ({"image": ("a.png", PNG_1x1, "image/png")}, {"prompt": "x", "n": "9"}, "n"),
    ({"image": ("a.png", PNG_1x1, "image/png")}, {"prompt": "x", "n": "two"}, "n"),
    ({"image": ("a.png", PNG_1x1, "image/png")}, {"prompt": "x", "size": "wide"}, "size"),
    ({"image": ("notes.txt", b"hello", "text/plain")}, {"prompt": "x"}, "image"),
])
def test_bad_edit_requests_are_400_naming_the_param(stack, files, data, param):
    response = stack.http.post("/v1/images/edits", files=files or {"other": ("x", b"1", "text/plain")}, data=data)
    assert_refused(response, 400, param)
    assert not stack.upstream_requests("/api/v2/files/getstsToken")


def test_an_edit_that_is_not_multipart_is_415(stack):
    assert stack.http.post("/v1/images/edits", json={"prompt": "x"}).status_code == 415


def test_an_edit_image_over_the_upload_limit_is_413():
    from gateway.config import MediaSettings

    with live_stack(default_settings(media=MediaSettings(upload_max_bytes=1000))) as stack:
        big = PNG_1x1 + b"\x00" * 2000
        response = stack.http.post("/v1/images/edits", files={"image": ("big.png", big, "image/png")},
                                   data={"prompt": "x"})
        assert_refused(response, 413, "image")
        assert not stack.upstream_requests("/api/v2/files/getstsToken")
