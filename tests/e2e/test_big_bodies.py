"""Bodies over 1 MB are decoded and checked in a worker process (offload.py): what the client
sees must not change, answers and errors alike. (The /health figure is in `python -m bench.loop_stall`.)"""

import threading
from pathlib import Path

import httpx
import openai
import pytest

from gateway.offload import OFFLOAD_BYTES

from .processes import cluster, wait_until

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


def test_a_big_body_sent_in_chunks_without_a_length_gets_the_same_answer(stack):
    """Transfer-Encoding: chunked, as a streaming client sends it: spooled as it arrives, like any big body."""
    many = parts(PARTS)
    body = httpx.Request("POST", "/", json={"model": "qwen3-max", "messages": [{"role": "user", "content": many}]}).content

    def pieces(size=64 * 1024):
        for start in range(0, len(body), size):
            yield body[start:start + size]

    assert len(body) > OFFLOAD_BYTES and httpx.Request("POST", "/", content=pieces()).headers["transfer-encoding"] == "chunked"
    chunked = stack.http.post("/v1/chat/completions", content=pieces(), headers={"content-type": "application/json"})
    whole = stack.http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert chunked.status_code == whole.status_code == 200
    assert chunked.json()["choices"][0]["message"]["content"] == whole.json()["choices"][0]["message"]["content"]
    sent = [r["body"]["messages"][0]["content"] for r in stack.upstream_requests("/api/v2/chat/completions")]
    assert sent[-1] == sent[-2] and sent[-1].endswith("w\nthe end")
    broken = stack.http.post("/v1/chat/completions", content=iter([body[: len(body) // 2], b"]"]),
                             headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]


def test_big_bodies_that_are_not_json_are_a_400(stack):
    response = stack.http.post("/v1/chat/completions", content=b"{" + b" " * (OFFLOAD_BYTES + 10),
                               headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


# /v1/responses: tens of MB in many parts. Its input items are stored and listed back as sent, so
# the worker folds only the copy the chat is planned from. The bulk is earlier reasoning (kept, not
# re-sent): a prompt over ~118k characters would go up as context files, which is slow and beside the point.
REASONING_PARTS = 30_000
USER_PARTS = 40_000
QUESTION = "How many characters did you see?"


def big_input(user_parts):
    reasoning = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "w" * 700}] * REASONING_PARTS}
    return [reasoning, {"type": "message", "role": "user", "content": user_parts}]


def user_parts():
    return [{"type": "input_text", "text": "w"} for _ in range(USER_PARTS)] + [{"type": "input_text", "text": QUESTION}]


def test_a_big_responses_body_gets_its_answer_keeps_its_items_and_health_answers_meanwhile(stack):
    client = openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0, timeout=120)
    many = big_input(user_parts())
    assert len(httpx.Request("POST", "/", json={"input": many}).content) > 20 * OFFLOAD_BYTES
    health: list[int] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=stack.url, timeout=60) as http:
            while not done.is_set():
                health.append(http.get("/health").status_code)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        big = client.responses.create(model="qwen3-max", input=many)
    finally:
        done.set()
        poller.join()
    assert health and set(health) == {200}  # /health kept answering while the body was decoded
    joined = "\n".join(p["text"] for p in many[1]["content"])
    small = client.responses.create(model="qwen3-max", input=joined)
    assert big.output_text == small.output_text
    assert big.output_text.startswith("I saw ") and int(big.output_text.split()[2]) >= len(joined)
    listed = stack.http.get(f"/v1/responses/{big.id}/input_items", params={"order": "asc"}).json()["data"]
    assert [item["type"] for item in listed] == ["reasoning", "message"]
    assert listed[0]["summary"] == many[0]["summary"]  # every part as sent, none folded
    assert listed[1]["content"] == many[1]["content"] and listed[1]["id"].startswith("msg_")


def test_a_big_responses_body_with_a_bad_part_is_a_400_naming_it(stack):
    bad = user_parts()
    bad[30_000] = {"type": "input_text", "text": 7}
    response = stack.http.post("/v1/responses", json={"model": "qwen3-max", "input": big_input(bad)})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input[1].content[30000]"


def test_a_big_response_on_the_sqlite_store_is_listed_paged_continued_and_deleted_as_sent(tmp_path):
    # The default store, real gateway processes: a big body's items are written to the store already
    # encoded, paged back in a worker, and outlive a restart like the response they belong to.
    many = [{"type": "reasoning", "summary": [{"type": "summary_text", "text": "w" * 700}] * 3_000},
            {"type": "message", "role": "user", "content": user_parts()[-2_000:]}]
    assert len(httpx.Request("POST", "/", json={"input": many}).content) > 2 * OFFLOAD_BYTES
    with cluster(tmp_path, f"sqlite:///{tmp_path}/gateway.db") as running:
        first = running.gateway("first")
        big = first.openai().responses.create(model="qwen3-max", input=many)
        follow = first.openai().responses.create(model="qwen3-max", input="And then?", previous_response_id=big.id)
        assert follow.status == "completed" and follow.previous_response_id == big.id
        first.stop()
        second = running.gateway("second")
        client, http = second.openai(), second.http()
        assert client.responses.retrieve(big.id).output_text == big.output_text
        listed = http.get(f"/v1/responses/{big.id}/input_items").json()
        assert [item["type"] for item in listed["data"]] == ["message", "reasoning"]  # newest first
        assert listed["data"][1]["summary"] == many[0]["summary"] and listed["data"][0]["content"] == many[1]["content"]
        first_page = http.get(f"/v1/responses/{big.id}/input_items", params={"order": "asc", "limit": 1}).json()
        assert [item["type"] for item in first_page["data"]] == ["reasoning"] and first_page["has_more"] is True
        after = http.get(f"/v1/responses/{big.id}/input_items",
                         params={"order": "asc", "after": first_page["last_id"]}).json()
        assert after["data"] == listed["data"][:1] and after["has_more"] is False
        wrong = http.get(f"/v1/responses/{big.id}/input_items", params={"after": "msg_nope"})
        assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "after"
        client.responses.delete(big.id)
        assert http.get(f"/v1/responses/{big.id}/input_items").status_code == 404
        assert client.responses.retrieve(follow.id).id == follow.id  # the follow-up is its own record


def children(pid):
    return {int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc")
def test_the_decoding_workers_end_with_the_gateway_even_when_it_is_killed(tmp_path):
    with cluster(tmp_path, "memory://") as running:
        gateway = running.gateway("first")
        bad = parts(PARTS)
        bad[-1] = {"type": "text"}  # a 400 from the worker: no answer to wait for
        with gateway.http() as http:
            assert http.post("/v1/chat/completions", json={
                "model": "qwen3-max", "messages": [{"role": "user", "content": bad}]}).status_code == 400
        workers = children(gateway.process.pid)
        assert workers  # the decoding pool (and its resource tracker)
        gateway.kill()  # no clean-up of its own: the workers must notice
        assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), within=10)
