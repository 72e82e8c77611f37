"""Client mistakes: clear OpenAI errors naming the param, never a 500, never a secret."""

import openai
import pytest

from .harness import TOKENS, default_settings, live_stack


def client_for(stack, api_key="unused"):
    return openai.OpenAI(base_url=stack.base_url, api_key=api_key, max_retries=0)


def assert_openai_error(response, status, param=None, code=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    for token in TOKENS:
        assert token not in response.text
    return error


def test_unknown_model_is_404_model_not_found(stack):
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(stack).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
    assert caught.value.body["param"] == "model"
    assert not stack.upstream_requests("/api/v2/chat/completions")


def test_thinking_suffix_on_a_model_that_cannot_think_is_404(stack):
    with pytest.raises(openai.NotFoundError):
        client_for(stack).chat.completions.create(model="qwen-max-latest-thinking",
                                                  messages=[{"role": "user", "content": "x"}])


def test_empty_messages_is_400_naming_messages(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).chat.completions.create(model="qwen3-max", messages=[])
    assert caught.value.body["param"] == "messages"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "qwen3-max"}, "messages"),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "qwen3-max", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "qwen3-max", "messages": [{"role": "user", "content": {"a": 1}}]}, "messages[0].content"),
        ({"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
        ({"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "n": 3}, "n"),
        ({"model": "qwen3-max", "messages": [{"role": "user", "content": "x"}], "parent_id": "p"}, "parent_id"),
    ],
)
def test_wrong_fields_are_400_naming_the_param(stack, body, param):
    assert_openai_error(stack.http.post("/v1/chat/completions", json=body), 400, param)


def test_malformed_json_is_400(stack):
    response = stack.http.post("/v1/chat/completions", content=b'{"model": "qwen3-max", ',
                               headers={"content-type": "application/json"})
    error = assert_openai_error(response, 400)
    assert "not valid JSON" in error["message"]


def test_a_json_array_body_is_400(stack):
    assert_openai_error(stack.http.post("/v1/chat/completions", json=[1, 2]), 400)


def test_wrong_content_type_is_415(stack):
    response = stack.http.post("/v1/chat/completions", content=b"model=x", headers={"content-type": "text/plain"})
    assert_openai_error(response, 415)


def test_oversized_body_is_413():
    with live_stack(default_settings(max_body_bytes=1000)) as stack:
        body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "x" * 2000}]}
        assert_openai_error(stack.http.post("/v1/chat/completions", json=body), 413)
        # streamed without a declared length, the cap still holds
        chunks = (b'{"model":"qwen3-max","messages":[{"role":"user","content":"' + b"y" * 600, b"y" * 600 + b'"}]}')
        response = stack.http.post("/v1/chat/completions", content=iter(chunks),
                                   headers={"content-type": "application/json"})
        assert_openai_error(response, 413)


def test_unknown_path_is_an_openai_404_and_wrong_method_a_405(stack):
    error = assert_openai_error(stack.http.post("/v1/assistants", json={}), 404)
    assert "/v1/assistants" in error["message"]
    assert_openai_error(stack.http.get("/v1/chat/completions"), 405)


def test_api_keys_are_enforced_when_configured():
    with live_stack(default_settings(api_keys=("sk-right",))) as stack:
        with pytest.raises(openai.AuthenticationError) as caught:
            client_for(stack, "sk-wrong").models.list()
        assert "sk-wrong" not in str(caught.value.body) and "sk-right" not in str(caught.value.body)
        assert client_for(stack, "sk-right").models.list().data
        assert stack.http.get("/health").status_code == 200  # open
        assert_openai_error(stack.http.get("/v1/models"), 401, code="invalid_api_key")


def test_a_model_that_cannot_chat_is_a_400_naming_model(stack):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(stack).chat.completions.create(model="qwen-image-2.0-pro", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["param"] == "model" and caught.value.code == "model_not_supported"
    assert not stack.upstream_requests("/api/v2/chat/completions")
