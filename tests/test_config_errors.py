"""Config that fails loudly: every mistake is one line naming the key's path."""

import re
from pathlib import Path

import pytest
import yaml

from gateway.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("timeouts:\n  conect: 5\n", "timeouts.conect: unknown config key (did you mean timeouts.connect?)"),
    ("upstream: {refresh_margn: 1}\n", "upstream.refresh_margn: unknown config key (did you mean upstream.refresh_margin?)"),
    ("accounts:\n  - {token: t, coookies: x}\n", "accounts[1].coookies: unknown config key (did you mean accounts[1].cookies?)"),
    ("simulat: true\n", "simulat: unknown config key (did you mean simulate?)"),
    ("log_level: verbose\n", "log_level: 'verbose' is not one of debug, info, warning, error, critical"),
    ("log_format: xml\n", "log_format: 'xml' is not one of text, json"),
    ("timeouts: {connect: soon}\n", "timeouts.connect: must be a number, not 'soon'"),
    ("port: http\n", "port: must be a whole number, not 'http'"),
    ("simulate: maybe\n", "simulate: must be true or false, not 'maybe'"),
])
def test_each_mistake_is_one_line_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {})
    assert str(caught.value) == message


def test_a_missing_config_file_named_explicitly_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: no such config file"):
        load_settings(tmp_path / "nope.yaml", {}, required=True)
    assert load_settings(tmp_path / "nope.yaml", {}).port == 3264  # the implicit default may be absent


def test_config_local_yaml_is_laid_over_the_config_key_by_key(tmp_path):
    path = write(tmp_path, "port: 9000\ntimeouts: {connect: 3, idle: 7}\naccounts: [{id: a, token: public}]\n")
    write(tmp_path, "timeouts: {idle: 9}\naccounts: [{id: mine, refresh_token: secret-rt}]\n", "config.local.yaml")
    settings = load_settings(path, {})
    assert settings.port == 9000
    assert (settings.timeouts.connect, settings.timeouts.idle) == (3, 9)
    assert [(a.id, a.refresh_token) for a in settings.accounts] == [("mine", "secret-rt")]


def test_a_typo_in_config_local_yaml_is_named_too(tmp_path):
    path = write(tmp_path, "port: 9000\n")
    write(tmp_path, "medai: {}\n", "config.local.yaml")
    with pytest.raises(ConfigError, match=r"medai: unknown config key \(did you mean media\?\)"):
        load_settings(path, {})


def test_log_level_and_format_come_from_the_environment():
    settings = load_settings(None, {"GATEWAY_LOG_LEVEL": "DEBUG", "GATEWAY_LOG_FORMAT": "json"})
    assert (settings.log_level, settings.log_format) == ("debug", "json")
    with pytest.raises(ConfigError, match="GATEWAY_LOG_LEVEL"):
        load_settings(None, {"GATEWAY_LOG_LEVEL": "loud"})


def test_every_key_of_the_shipped_config_is_commented():
    lines = (ROOT / "config.yaml").read_text().splitlines()
    uncommented = []
    for index, line in enumerate(lines):
        if re.match(r"^\s*[a-z_]+:", line) and "#" not in line and not lines[index - 1].lstrip().startswith("#"):
            uncommented.append(line.strip())
    assert uncommented == []
    assert "simulate" in yaml.safe_load((ROOT / "config.yaml").read_text())
