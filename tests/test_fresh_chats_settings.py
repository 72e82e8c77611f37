"""`upstream.fresh_chats` and `upstream.fresh_chat_ttl`: on by default, each mistake one line naming the key."""

import pytest

from gateway.config import ConfigError, load_settings


def test_on_by_default_and_off_with_zero(tmp_path):
    assert load_settings(None, {}).upstream.fresh_chats == 2
    path = tmp_path / "config.yaml"
    path.write_text("upstream:\n  fresh_chats: 0\n  fresh_chat_ttl: 60\n")
    upstream = load_settings(path, {}).upstream
    assert (upstream.fresh_chats, upstream.fresh_chat_ttl) == (0, 60)


@pytest.mark.parametrize(("text", "message"), [
    ("upstream: {fresh_chats: -1}\n", "upstream.fresh_chats: must be a whole number from 0 (off) to 16"),
    ("upstream: {fresh_chats: 100}\n", "upstream.fresh_chats: must be a whole number from 0 (off) to 16"),
    ("upstream: {fresh_chats: true}\n", "upstream.fresh_chats"),
    ("upstream: {fresh_chat_ttl: 0}\n", "upstream.fresh_chat_ttl: must be a number of seconds > 0"),
])
def test_bad_values_are_named(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(path, {})
