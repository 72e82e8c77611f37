"""The original proxy's /api/* face, with the bodies and shapes of its guide."""

import pytest

from .harness import TOKENS


def post_chat(stack, **body):
    return stack.http.post("/api/chat", json=body)


def assert_legacy_error(response, status, *, error=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    if error is not None:
        assert body["error"] == error
    for token in TOKENS:
        assert token not in response.text
    return body


def test_text_chat_with_message_as_in_the_curl_example(stack):
    response = post_chat(stack, message="What is artificial intelligence?", model="qwen-max-latest")
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"] == "You said: What is artificial intelligence?"
    assert data["chatId"] and data["parentId"] and data["response_id"] == data["parentId"]
    assert data["usage"]["total_tokens"] > 0


def test_model_defaults_to_qwen_max_latest_and_messages_work(stack):
    data = post_chat(stack, messages=[{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": "Hi"}]).json()
    assert data["choices"][0]["message"]["content"] == "You said: system: Be brief.\n\nuser: Hi"
    assert stack.upstream_requests("/api/v2/chat/completions")[0]["body"]["model"] == "qwen-max-latest"


def test_chat_id_and_parent_id_continue_the_upstream_conversation(stack):
    first = post_chat(stack, message="The secret word is tangerine").json()
    second = post_chat(stack, message="What did I say before?", chatId=first["chatId"], parentId=first["parentId"]).json()
    assert second["choices"][0]["message"]["content"] == "Earlier you said: The secret word is tangerine"
    assert second["chatId"] == first["chatId"] and second["parentId"] != first["parentId"]
    third = post_chat(stack, message="What did I say before?", chatId=second["chatId"], parentId=second["parentId"]).json()
    assert third["choices"][0]["message"]["content"] == (
        "Earlier you said: The secret word is tangerine | What did I say before?")


def test_stream_for_text(stack):
    with stack.http.stream("POST", "/api/chat", json={"message": "stream me", "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) > 3


def test_openai_style_endpoint_takes_camel_case_ids(stack):
    first = stack.http.post("/api/chat/completions", json={
        "model": "qwen-max-latest", "messages": [{"role": "user", "content": "Remember: blue"}]}).json()
    second = stack.http.post("/api/chat/completions", json={
        "model": "qwen-max-latest", "messages": [{"role": "user", "content": "What did I say before?"}],
        "chatId": first["chat_id"], "parentId": first["parent_id"]}).json()
    assert second["choices"][0]["message"]["content"] == "Earlier you said: Remember: blue"


def test_models(stack):
    data = stack.http.get("/api/models").json()["data"]
    assert "qwen-max-latest" in {m["id"] for m in data}


@pytest.mark.parametrize(("body", "status"), [
    ({"message": "x", "chatType": "t3v"}, 400),
    ({"message": ""}, 400),
    ({}, 400),
    ({"message": "x", "model": "no-such-model"}, 404),
])
def test_bad_input_gets_the_guide_error_shape(stack, body, status):
    assert_legacy_error(post_chat(stack, **body), status)


def test_malformed_json_and_unknown_paths_keep_the_legacy_shape(stack):
    assert_legacy_error(stack.http.post("/api/chat", content=b"{oops", headers={"content-type": "application/json"}), 400)
    assert_legacy_error(stack.http.get("/api/nothing-here"), 404)


def test_rate_limited_everywhere_is_the_guide_rate_limit_shape(stack):
    for token in TOKENS:
        stack.fault(token, {"kind": "ratelimited"})
    body = assert_legacy_error(post_chat(stack, message="hi"), 429, error="RateLimited")
    assert "cooling" in body["detail"]


def png_size(data):
    import struct

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize(("size", "ratio"), [("1920*1080", 16 / 9), ("1024*1024", 1.0), ("16:9", 16 / 9),
                                             ("9:16", 9 / 16), (None, 1.0)])
def test_image_generation_as_in_the_guide(stack, size, ratio):
    body = {"message": "A futuristic city at night with neon lights", "model": "qwen-vl-max-latest",
            "chatType": "t2i"}
    if size:
        body["size"] = size
    data = post_chat(stack, **body).json()
    url = data["choices"][0]["message"]["content"]
    width, height = png_size(stack.http.get(url).content)
    assert abs(width / height - ratio) < 0.05  # Qwen's 16:9 is 2688x1536
    usage = data["usage"]
    assert usage["image_count"] == 1 and usage["width"] / usage["height"] == pytest.approx(ratio, abs=0.05)
    assert data["chatId"] and data["parentId"] == data["response_id"]
    sent = stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]
    assert sent["messages"][0]["chat_type"] == "t2i" and sent["size"] in ("16:9", "1:1", "9:16")


def test_bad_image_size_is_a_400(stack):
    assert_legacy_error(post_chat(stack, message="x", chatType="t2i", size="huge"), 400)
