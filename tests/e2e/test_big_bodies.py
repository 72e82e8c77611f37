"""Bodies over 1 MB are decoded and checked in a worker process (offload.py): what the client
sees must not change, answers and errors alike. (The /health figure is in `python -m bench.loop_stall`.)"""

import httpx
import openai

from gateway.offload import OFFLOAD_BYTES

PARTS = 42_000  # 1.1 MB of JSON (over the offload threshold), an 84,000-character prompt


def parts(n):
    return [{"type": "text", "text": "w"} for _ in range(n - 1)] + [{"type": "text", "text": "the end"}]


def test_a_big_body_of_many_parts_gets_the_answer_a_joined_string_gets(stack):
    client = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
    many = parts(PARTS)
    joined = "\n".join(p["text"] for p in many)
    assert len(httpx.Request("POST", "/", json={"messages": [{"content": many}]}).content) > OFFLOAD_BYTES
    big = client.chat.completions.create(model="qwen3-max", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": many}])
    small = client.chat.completions.create(model="qwen3-max", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": joined}])
    assert big.choices[0].message.content == small.choices[0].message.content
    sent = [r["body"]["messages"][0]["content"] for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert sent[0] == sent[1] and sent[0].endswith("w\nthe end")


def test_a_big_body_with_a_bad_part_is_a_400_naming_it(stack):
    bad = parts(PARTS)
    bad[41_000] = {"type": "text", "text": ["not", "a", "string"]}
    response = stack.http.post("/v1/chat/completions", json={
        "model": "qwen3-max", "messages": [{"role": "user", "content": bad}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"].startswith("messages[0].content[41000]")


def test_big_bodies_that_are_not_json_are_a_400(stack):
    response = stack.http.post("/v1/chat/completions", content=b"{" + b" " * (OFFLOAD_BYTES + 10),
                               headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]
