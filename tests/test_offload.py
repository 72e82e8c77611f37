"""The worker's side of a big Responses body (offload.py): what it checks, what it folds, and
that the items it keeps for `input_items` are exactly the ones sent, under the same ids."""

import orjson

from gateway.offload import decode_responses
from gateway.translate.responses import parse_responses_request

PARTS = [{"type": "input_text", "text": "one"}, {"type": "input_text", "text": "two"},
         {"type": "input_image", "image_url": "https://example.com/a.png"}, {"type": "output_text", "text": "three"}]


def test_the_planning_copy_is_folded_and_the_kept_items_are_as_sent_with_the_same_ids():
    body = {"model": "qwen3-max", "instructions": "Be brief.", "input": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thought"}]},
        {"role": "user", "content": PARTS},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"}]}
    kind, (folded, kept) = decode_responses(orjson.dumps(body))
    assert kind == "ok"
    kept = orjson.loads(kept)
    assert kept[1]["content"] == PARTS and kept[0]["summary"] == body["input"][0]["summary"]
    planned = parse_responses_request(orjson.loads(folded))  # what the event loop parses: small
    assert [i["id"] for i in planned.items] == [i["id"] for i in kept]
    assert planned.items[1]["content"] == [{"type": "input_text", "text": "one\ntwo"}, PARTS[2],
                                           {"type": "input_text", "text": "three"}]
    assert planned.instructions == "Be brief." and planned.items[2:] == kept[2:]


def test_a_bad_part_comes_back_as_the_error_the_route_would_give():
    body = {"model": "qwen3-max", "input": [{"role": "user", "content": [PARTS[0], {"type": "input_text"}]}]}
    kind, (status, message, param, code) = decode_responses(orjson.dumps(body))
    assert (kind, status, param) == ("error", 400, "input[0].content[1]")
