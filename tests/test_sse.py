from gateway.qwen.sse import SSEDecoder


def test_events_split_across_chunks_are_reassembled():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":') == []
    assert decoder.feed(b'1}\n') == []
    assert decoder.feed(b"\n") == [b'{"a":1}']


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
