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
