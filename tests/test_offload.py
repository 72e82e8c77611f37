"""The worker's side of a big Responses body (offload.py): what it checks, what it folds, and
that the items it keeps for `input_items` are exactly the ones sent, under the same ids."""

import orjson
import pytest

from gateway.offload import decode_responses, page_items
from gateway.translate.responses import parse_responses_request

PARTS = [{"type": "input_text", "text": "one"}, {"type": "input_text", "text": "two"},
         {"type": "input_image", "image_url": "https://example.com/a.png"}, {"type": "output_text", "text": "three"}]


def run(work, tmp_path, body, *args):
    """A worker function as the pool runs it: the body in a file, its results written to files."""
    (tmp_path / "body").write_bytes(body)
    out = [tmp_path / "out0", tmp_path / "out1"]
    for path in out:
        path.write_bytes(b"")  # the gateway makes them: a worker never creates a file
    failure = work(str(tmp_path / "body"), [str(path) for path in out], *args)
    return failure, [path.read_bytes() for path in out]


def test_the_planning_copy_is_folded_and_the_kept_items_are_as_sent_with_the_same_ids(tmp_path):
    body = {"model": "qwen3-max", "instructions": "Be brief.", "input": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thought"}]},
        {"role": "user", "content": PARTS},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"}]}
    failure, (folded, kept) = run(decode_responses, tmp_path, orjson.dumps(body))
    assert failure is None
    kept = orjson.loads(kept)["input_items"]  # the record stored apart, which input_items lists
    assert kept[1]["content"] == PARTS and kept[0]["summary"] == body["input"][0]["summary"]
    planned = parse_responses_request(orjson.loads(folded))  # what the event loop parses: small
    assert [i["id"] for i in planned.items] == [i["id"] for i in kept]
    assert planned.items[1]["content"] == [{"type": "input_text", "text": "one\ntwo"}, PARTS[2],
                                           {"type": "input_text", "text": "three"}]
    assert planned.instructions == "Be brief." and planned.items[2:] == kept[2:]


    # ...and a page of them, as a worker gives it for input_items, is the one the route would give
    failure, (page, _) = run(page_items, tmp_path, orjson.dumps({"input_items": kept}), {"order": "asc", "limit": "2"})
    assert failure is None and orjson.loads(page) == {"object": "list", "data": kept[:2], "first_id": kept[0]["id"],
                                                      "last_id": kept[1]["id"], "has_more": True}


def test_a_bad_part_comes_back_as_the_error_the_route_would_give(tmp_path):
    body = {"model": "qwen3-max", "input": [{"role": "user", "content": [PARTS[0], {"type": "input_text"}]}]}
    failure, written = run(decode_responses, tmp_path, orjson.dumps(body))
    assert (failure[0], failure[2], written) == (400, "input[0].content[1]", [b"", b""])  # status, param


def test_a_bad_page_query_comes_back_as_the_error_the_route_would_give(tmp_path):
    failure, _ = run(page_items, tmp_path, b'{"input_items":[]}', {"limit": "0"})
    assert (failure[0], failure[2]) == (400, "limit")  # status, param


def test_a_worker_never_recreates_a_result_file_the_gateway_gave_up_on(tmp_path):
    # A client that leaves while its body is decoded: the gateway removes the files; the worker,
    # still running, must not leave a 30 MB result behind in the temp folder.
    (tmp_path / "body").write_bytes(orjson.dumps({"model": "qwen3-max", "input": "hi"}))
    gone = [str(tmp_path / "out0"), str(tmp_path / "out1")]
    with pytest.raises(FileNotFoundError):
        decode_responses(str(tmp_path / "body"), gone)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["body"]
