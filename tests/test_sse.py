from gateway.qwen.sse import SSEDecoder


def test_events_split_across_chunks_are_reassembled():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":') == []
    assert decoder.feed(b'1}\n') == [b'{"a":1}']  # a whole JSON line is an event at once
    assert decoder.feed(b"\n") == []


def test_crlf_trailing_space_comments_and_unknown_fields():
    decoder = SSEDecoder()
    stream = b'data: {"x":1} \r\n\r\n: keep-alive\r\n\r\nevent: ping\nid: 3\nretry: 10\n\ndata:{"y":2}\n\n'
    assert decoder.feed(stream) == [b'{"x":1} ', b'{"y":2}']


def test_multi_line_data_is_joined_with_newlines():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\ndata: two\n\n") == [b"one\ntwo"]


def test_flush_returns_a_last_event_without_its_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"end":true}') == []
    assert decoder.flush() == [b'{"end":true}']
    assert decoder.flush() == []


def test_frames_without_blank_lines_are_one_event_per_data_line():
    decoder = SSEDecoder()
    stream = b'data: {"a":1}\ndata: {"b":2}\r\ndata: [DONE]\n'
    assert decoder.feed(stream) == [b'{"a":1}', b'{"b":2}', b"[DONE]"]


def test_a_data_line_that_is_not_whole_json_joins_the_next_ones():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":\ndata: [1,\n') == []
    assert decoder.feed(b'data: 2]}\ndata: {"b":3}\n') == [b'{"a":\n[1,\n2]}', b'{"b":3}']


def test_a_broken_line_does_not_swallow_the_events_after_it():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {oops\ndata: {"b":3}\n') == [b"{oops", b'{"b":3}']


def test_events_come_with_their_json_decoded_once():
    from gateway.qwen.sse import DONE, UNPARSED

    decoder = SSEDecoder()
    assert decoder.feed_decoded(b'data: {"a":1}\ndata: {"b":\ndata: 2}\ndata: [DONE]\ndata: nope\n\n') == [
        (b'{"a":1}', {"a": 1}), (b'{"b":\n2}', {"b": 2}), (b"[DONE]", DONE), (b"nope", UNPARSED)]
    assert decoder.feed(b'data: {"c"') == [] and decoder.flush_decoded() == [(b'{"c"', UNPARSED)]
