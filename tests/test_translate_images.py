"""translate/images.py: OpenAI image bodies in (errors naming the parameter), Qwen image events in,
the OpenAI images response and stream events out. Pure calls."""

import pytest

from gateway.errors import InvalidRequest, UpstreamInvalidInput, UpstreamTransient
from gateway.qwen.events import Delta, ResponseCreated
from gateway.translate.images import (
    GeneratedImage,
    ImageCollector,
    image_stream_event,
    images_response,
    parse_edit,
    parse_generation,
)

CAT = "https://cdn.example/out/cat.png?sig=1"


def delta(content, phase="image_gen", extra=None):
    return Delta(phase=phase, content=content, status=None, extra=extra, usage=None)


def test_a_generation_body_gets_defaults_and_keeps_the_size_asked():
    plain = parse_generation({"prompt": "  a cat  "})
    assert (plain.prompt, plain.model, plain.n, plain.ratio, plain.response_format, plain.size, plain.stream) == \
           ("a cat", None, 1, "1:1", "url", None, False)
    wide = parse_generation({"prompt": "a cat", "model": "qwen-image", "n": 2, "size": "1792x1024",
                             "response_format": "b64_json", "quality": "hd", "style": "vivid"})
    assert (wide.model, wide.n, wide.ratio, wide.response_format, wide.size) == \
           ("qwen-image", 2, "16:9", "b64_json", "1792x1024")


def test_a_streamed_generation_is_always_inline():
    assert parse_generation({"prompt": "a cat", "stream": True}).response_format == "b64_json"


@pytest.mark.parametrize(("body", "param"), [
    ({}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": "x" * 32_001}, "prompt"),
    ({"prompt": "a cat", "n": 5}, "n"),
    ({"prompt": "a cat", "n": 0}, "n"),
    ({"prompt": "a cat", "size": "banana"}, "size"),
    ({"prompt": "a cat", "response_format": "gif"}, "response_format"),
])
def test_bad_generation_bodies_are_400s_naming_the_parameter(body, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_generation(body)
    assert caught.value.status == 400 and caught.value.param == param


def test_edit_fields_arrive_as_strings_and_keep_the_source_shape_by_default():
    edit = parse_edit({"prompt": "add a hat", "n": " 3 ", "stream": "TRUE"})
    assert (edit.prompt, edit.n, edit.ratio, edit.stream, edit.response_format) == ("add a hat", 3, None, True,
                                                                                      "b64_json")
    assert parse_edit({"prompt": "add a hat", "size": "1024x1024"}).ratio == "1:1"


@pytest.mark.parametrize(("fields", "param"), [
    ({"prompt": "hat", "n": "two"}, "n"),
    ({"prompt": "hat", "stream": "yes"}, "stream"),
    ({"n": "1"}, "prompt"),
])
def test_bad_edit_fields_are_400s_naming_the_field(fields, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_edit(fields)
    assert caught.value.param == param


def test_the_collector_gathers_images_with_their_size_and_the_chat_ids():
    collector = ImageCollector()
    collector.feed(ResponseCreated(chat_id="chat-1", parent_id=None, response_id="resp-1"))
    collector.feed(delta(" " + CAT + "\n", extra={"output_image_hw": [[1024, 1792]]}))
    collector.feed(delta("", phase="image_gen"))
    [image] = collector.result()
    assert (image.url, image.width, image.height) == (CAT, 1792, 1024)
    assert (collector.chat_id, collector.response_id) == ("chat-1", "resp-1")


def test_urls_read_back_from_the_chat_detail_are_images_too():
    collector = ImageCollector("chat-2")
    collector.add_urls([CAT], {"output_image_hw": "not a list"})
    [image] = collector.result()
    assert (image.url, image.width, image.height) == (CAT, None, None)


def test_an_answer_in_words_is_the_clients_problem_and_silence_is_transient():
    refusing = ImageCollector()
    refusing.feed(delta("I can't draw that.", phase="answer"))
    assert refusing.said_anything
    with pytest.raises(UpstreamInvalidInput, match=r"I can't draw that\."):
        refusing.result()
    with pytest.raises(UpstreamTransient):
        ImageCollector().result()


def test_the_response_reports_the_size_asked_the_format_and_the_prompt_used():
    collector = ImageCollector()
    collector.feed(delta(CAT))
    request = parse_generation({"prompt": "a cat", "size": "1024x1024"})
    assert images_response(1700000000, collector.result(), request) == {
        "created": 1700000000, "size": "1024x1024", "output_format": "png",
        "data": [{"url": CAT, "revised_prompt": "a cat"}]}
    unsized = images_response(1, [], parse_generation({"prompt": "a cat"}))
    assert unsized == {"created": 1, "data": []}


def test_a_stream_event_is_one_completed_image_with_zero_usage():
    image = GeneratedImage("https://cdn.example/x.webp", b64_json="AAAA")
    event = image_stream_event("image_edit", image, 7, parse_edit({"prompt": "hat"}))
    assert event["type"] == "image_edit.completed" and event["b64_json"] == "AAAA"
    assert (event["created_at"], event["size"], event["output_format"]) == (7, "auto", "webp")
    assert event["usage"]["total_tokens"] == 0
