import pytest

from gateway.config import ConfigError, load_settings


def test_the_shipped_config_loads_with_defaults(tmp_path):
    settings = load_settings("config.yaml", {})
    assert settings.port == 3264
    assert settings.accounts == ()
    assert settings.qwen_base_url == "https://chat.qwen.ai"


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("port: 9000\naccounts:\n  - {id: a, token: t1, concurrency: 2}\n")
    settings = load_settings(path, {"GATEWAY_PORT": "9001", "QWEN_TOKENS": "x, y", "GATEWAY_API_KEYS": "k1,k2"})
    assert settings.port == 9001
    assert [a.id for a in settings.accounts] == ["env-1", "env-2"]
    assert [a.token for a in settings.accounts] == ["x", "y"]
    assert settings.api_keys == ("k1", "k2")


def test_account_details_are_read(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("accounts:\n  - token: t1\n    cookies: 'cna=1'\n    headers: {bx-ua: abc}\n  - t2\n")
    first, second = load_settings(path, {}).accounts
    assert (first.id, first.cookies, dict(first.headers), first.concurrency) == ("account-1", "cna=1", {"bx-ua": "abc"}, 4)
    assert second.token == "t2"


def test_secrets_stay_out_of_repr(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("api_keys: [sekrit-key]\naccounts: [{token: sekrit-token}]\n")
    text = repr(load_settings(path, {}))
    assert "sekrit" not in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("portt: 1\n", "unknown config key"),
        ("accounts: [{id: a}]\n", "needs a non-empty `token`"),
        ("accounts: [{token: a, concurrency: 0}]\n", "concurrency"),
        ("qwen_base_url: ftp://x\n", "qwen_base_url"),
        ("port: [1\n", "not valid YAML"),
        ("timeouts: {idle: 1, bogus: 2}\n", "timeouts"),
        ("upstream: {fresh_chats: -1}\n", r"upstream.fresh_chats: must be a whole number from 0 \(off\) to 16"),
        ("upstream: {fresh_chats: 100}\n", r"upstream.fresh_chats: must be a whole number from 0 \(off\) to 16"),
        ("upstream: {fresh_chats: true}\n", "upstream.fresh_chats"),
        ("upstream: {fresh_chat_ttl: 0}\n", "upstream.fresh_chat_ttl: must be a number of seconds > 0"),
    ],
)
def test_bad_config_fails_fast_and_says_why(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, {})


def test_bad_port_in_the_environment():
    with pytest.raises(ConfigError, match="GATEWAY_PORT"):
        load_settings(None, {"GATEWAY_PORT": "http"})


def test_media_settings_are_read_and_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("media: {upload_max_bytes: 1000, allow_private_fetch: true, sts_keys: old}\n")
    media = load_settings(path, {}).media
    assert (media.upload_max_bytes, media.allow_private_fetch, media.sts_keys) == (1000, True, "old")
    assert media.fetch_max_bytes == 25 * 1024 * 1024 and media.image_model == ""
    for bad, message in [("{sts_keys: v3}", "sts_keys"), ("{upload_max_bytes: 0}", "upload_max_bytes"),
                         ("{allow_private_fetch: 'yes'}", "allow_private_fetch"), ("{bogus: 1}", "media")]:
        path.write_text(f"media: {bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(path, {})


def test_video_settings_load_with_real_render_defaults_and_are_checked(tmp_path):
    video = load_settings("config.yaml", {}).video
    assert (video.poll_interval, video.timeout, video.status_api) == (10, 1200, "auto")
    path = tmp_path / "c.yaml"
    path.write_text("video: {poll_interval: 0.5, job_ttl: 3600}\n")
    assert load_settings(path, {}).video.poll_interval == 0.5
    for text, message in [("video: {poll_interval: 0}\n", "video.poll_interval"),
                          ("video: {status_api: v3}\n", "video.status_api"),
                          ("video: {bogus: 1}\n", "video")]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_settings(path, {})


@pytest.mark.parametrize("value", [" , ", " ", ",,"])
def test_blank_only_api_keys_refuse_to_start_rather_than_turn_auth_off(value):
    with pytest.raises(ConfigError, match="GATEWAY_API_KEYS: holds no key"):
        load_settings(None, {"GATEWAY_API_KEYS": value})


def test_an_empty_api_keys_variable_still_means_no_client_auth():
    assert load_settings(None, {"GATEWAY_API_KEYS": ""}).api_keys == ()


def test_a_blank_key_in_the_config_file_is_named(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("api_keys: [good-key, '  ']\n")
    with pytest.raises(ConfigError, match=r"api_keys\[1\]: is blank"):
        load_settings(path, {})


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("limits: {body_budget_bytes: 0}", "limits.body_budget_bytes: must be a whole number >= 1"),
    ("limits: {max_connections: many}", "limits.max_connections: must be a whole number >= 1"),
    ("limits: {head_timeout: -1}", "limits.head_timeout: must be a number of seconds > 0"),
])
def test_limits_are_checked_and_named(tmp_path, yaml_text, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, {})


def test_limits_default_to_a_256_mib_body_budget():
    limits = load_settings("config.yaml", {}).limits
    assert limits.body_budget_bytes == 256 * 1024 * 1024 and limits.head_timeout == 10


def test_conversation_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("conversation: {chain: false, busy_delay: [0.5, 1], context_file_chars: 90000}\n")
    conversation = load_settings(path, {}).conversation
    assert (conversation.chain, conversation.busy_delay, conversation.context_file_chars) == (False, (0.5, 1), 90000)
    assert load_settings("config.yaml", {}).conversation.chain is True
    for bad, message in [("{chain: maybe}", "conversation.chain"), ("{busy_delay: [4, 2]}", "busy_delay"),
                         ("{context_file_chars: 0}", "context_file_chars"), ("{chains: true}", "conversation")]:
        path.write_text(f"conversation: {bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(path, {})


def test_fresh_chats_are_on_by_default_and_off_with_zero(tmp_path):
    assert load_settings(None, {}).upstream.fresh_chats == 2
    path = tmp_path / "config.yaml"
    path.write_text("upstream:\n  fresh_chats: 0\n  fresh_chat_ttl: 60\n")
    upstream = load_settings(path, {}).upstream
    assert (upstream.fresh_chats, upstream.fresh_chat_ttl) == (0, 60)
