"""Settings: config.yaml, then the environment on top. Frozen; loading fails fast and clearly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

DEFAULT_QWEN_BASE_URL = "https://chat.qwen.ai"
STATE_SCHEMES = ("memory://", "sqlite://", "redis://", "rediss://")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class AccountSettings:
    id: str
    token: str = field(repr=False)
    cookies: str = field(default="", repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    concurrency: int = 4


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    first_event: float = 60.0  # thinking models can be silent for a while
    idle: float = 60.0  # between SSE events; upstream keep-alives come every ~10 s
    deadline: float = 120.0  # to wait for an account and start retries (a try under way runs on)
    shutdown_grace: float = 10.0  # open streams may finish this long after a shutdown begins


@dataclass(frozen=True)
class Cooldowns:
    rate_limit_hours: float = 24.0  # when RateLimited carries no `num`
    blocked_minutes: float = 30.0  # WAF page or RGV587
    failure_threshold: int = 3  # consecutive transport failures before a cool-down
    failure_minutes: float = 5.0  # grows with each further failure


@dataclass(frozen=True)
class VideoSettings:
    poll_interval: float = 10.0  # between task-status polls: the web frontend's rate
    timeout: float = 1200.0  # a render still running after this fails (real ones take 90-340 s)
    typical_render: float = 200.0  # seconds, for the progress estimate
    job_ttl: float = 86400.0  # a job, and its video URL, is forgotten after this
    status_api: str = "auto"  # "auto": v2 task status, v1 where v2 is missing; or "v2" / "v1"


@dataclass(frozen=True)
class MediaSettings:
    image_model: str = ""  # images with no `model`: "" picks the first model that can do t2i
    upload_max_bytes: int = 25 * 1024 * 1024  # one uploaded file (Qwen takes 25 MB at most)
    fetch_max_bytes: int = 25 * 1024 * 1024  # an image the gateway downloads (client URL or b64_json)
    fetch_timeout: float = 30.0  # seconds for one such download, redirects included
    allow_private_fetch: bool = False  # let client image URLs reach loopback/private hosts (tests, dev)
    upload_cache_seconds: float = 240.0  # reuse an upload while its ~300 s signed URL is still valid
    sts_keys: str = "new"  # getstsToken keys: "new" file_name/file_size/file_type, "old" filename/...


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3264
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    qwen_base_url: str = DEFAULT_QWEN_BASE_URL
    qwen_version: str = "0.2.63"
    accounts: tuple[AccountSettings, ...] = ()
    simulate: bool = False
    timeouts: Timeouts = Timeouts()
    cooldowns: Cooldowns = Cooldowns()
    video: VideoSettings = VideoSettings()
    media: MediaSettings = MediaSettings()
    max_attempts: int = 3
    max_body_bytes: int = 48 * 1024 * 1024  # a 25 MB image as a data: URI is ~34 MB of JSON
    models_ttl: float = 300.0
    state_url: str = "sqlite:///data/gateway.db"  # memory:// (tests), sqlite:///path, redis://host:port/db
    log_level: str = "info"


def load_settings(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Settings:
    """Read `path` (if given and present) and apply environment overrides."""
    raw: dict[str, Any] = {}
    if path is not None and Path(path).exists():
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    settings = _from_mapping(raw)
    return _apply_environ(settings, environ)


def _from_mapping(raw: Mapping[str, Any]) -> Settings:
    known = {"host", "port", "api_keys", "qwen_base_url", "qwen_version", "accounts", "simulate",
             "timeouts", "cooldowns", "video", "media", "max_attempts", "max_body_bytes", "models_ttl", "state_url",
             "log_level"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(sorted(unknown))}")
    sections = {"accounts", "timeouts", "cooldowns", "video", "media", "api_keys"}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k not in sections}
    values["api_keys"] = tuple(str(k) for k in raw.get("api_keys") or ())
    values["accounts"] = tuple(_account(i, a) for i, a in enumerate(raw.get("accounts") or (), 1))
    values["timeouts"] = _section(Timeouts, raw.get("timeouts"), "timeouts")
    values["cooldowns"] = _section(Cooldowns, raw.get("cooldowns"), "cooldowns")
    values["video"] = _section(VideoSettings, raw.get("video"), "video")
    values["media"] = _section(MediaSettings, raw.get("media"), "media")
    try:
        settings = Settings(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    _check(settings)
    return settings


def _section(cls: type, raw: Any, name: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: must be a mapping")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _account(index: int, raw: Any) -> AccountSettings:
    if isinstance(raw, str):
        raw = {"token": raw}
    if not isinstance(raw, dict) or not raw.get("token"):
        raise ConfigError(f"accounts[{index}]: needs a non-empty `token`")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(f"accounts[{index}].headers: must be a mapping")
    concurrency = raw.get("concurrency", 4)
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"accounts[{index}].concurrency: must be a whole number >= 1")
    return AccountSettings(
        id=str(raw.get("id") or f"account-{index}"),
        token=str(raw["token"]),
        cookies=str(raw.get("cookies") or ""),
        headers={str(k): str(v) for k, v in headers.items()},
        concurrency=concurrency,
    )


def _apply_environ(settings: Settings, environ: Mapping[str, str]) -> Settings:
    changes: dict[str, Any] = {}
    if environ.get("GATEWAY_HOST"):
        changes["host"] = environ["GATEWAY_HOST"]
    if environ.get("GATEWAY_PORT"):
        try:
            changes["port"] = int(environ["GATEWAY_PORT"])
        except ValueError:
            raise ConfigError("GATEWAY_PORT: must be a port number") from None
    if "GATEWAY_API_KEYS" in environ:
        changes["api_keys"] = _split(environ["GATEWAY_API_KEYS"])
    if environ.get("QWEN_BASE_URL"):
        changes["qwen_base_url"] = environ["QWEN_BASE_URL"]
    if environ.get("QWEN_TOKENS"):
        tokens = _split(environ["QWEN_TOKENS"])
        changes["accounts"] = tuple(AccountSettings(id=f"env-{i}", token=t) for i, t in enumerate(tokens, 1))
    if environ.get("GATEWAY_STATE_URL"):
        changes["state_url"] = environ["GATEWAY_STATE_URL"]
    settings = replace(settings, **changes)
    _check(settings)
    return settings


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _check(settings: Settings) -> None:
    if not 0 < settings.port < 65536:
        raise ConfigError(f"port: {settings.port} is not a valid port")
    if not settings.qwen_base_url.startswith(("http://", "https://")):
        raise ConfigError("qwen_base_url: must start with http:// or https://")
    if settings.max_attempts < 1:
        raise ConfigError("max_attempts: must be at least 1")
    _check_video(settings.video)
    _check_media(settings.media)
    if not settings.state_url.startswith(STATE_SCHEMES):
        # Name the scheme only: a redis:// URL may carry a password.
        scheme = settings.state_url.partition("://")[0] + "://" if "://" in settings.state_url else "that"
        raise ConfigError(f"state_url (GATEWAY_STATE_URL): {scheme} is not a store; "
                          "use sqlite:///path, redis://host:port/db, rediss://… or memory://")
    ids = [a.id for a in settings.accounts]
    if len(ids) != len(set(ids)):
        raise ConfigError("accounts: ids must be unique")


def _check_video(video: VideoSettings) -> None:
    for name in ("poll_interval", "timeout", "typical_render", "job_ttl"):
        value = getattr(video, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"video.{name}: must be a number of seconds > 0")
    if video.status_api not in ("auto", "v2", "v1"):
        raise ConfigError("video.status_api: must be auto, v2 or v1")


def _check_media(media: MediaSettings) -> None:
    for name in ("upload_max_bytes", "fetch_max_bytes"):
        value = getattr(media, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"media.{name}: must be a whole number of bytes >= 1")
    for name in ("fetch_timeout", "upload_cache_seconds"):
        value = getattr(media, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"media.{name}: must be a number of seconds >= 0")
    if not isinstance(media.allow_private_fetch, bool):
        raise ConfigError("media.allow_private_fetch: must be true or false")
    if media.sts_keys not in ("new", "old"):
        raise ConfigError("media.sts_keys: must be new or old")
