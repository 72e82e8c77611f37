"""Settings: config.yaml, then the environment on top. Frozen; loading fails fast and clearly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_QWEN_BASE_URL = "https://chat.qwen.ai"
DEFAULT_QWEN_AUTH_URL = "https://auth.qwen.ai"
DEFAULT_QWEN_VERSION = "0.3.12"
STATE_SCHEMES = ("memory://", "sqlite://", "redis://", "rediss://")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class AccountSettings:
    id: str
    token: str = field(repr=False)  # access token or web-login JWT; "" when only a refresh token is given
    cookies: str = field(default="", repr=False)  # the browser's Cookie header
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    concurrency: int = 4
    refresh_token: str = field(default="", repr=False)  # the browser's `refresh_token` cookie (auth host)
    proxy: str = field(default="", repr=False)  # may carry a password
    keep_settings: bool = False  # True: leave the account's memory and tools settings alone (§3.9)


@dataclass(frozen=True)
class UpstreamSettings:
    auth_url: str = DEFAULT_QWEN_AUTH_URL  # where refresh tokens are spent (QWEN_AUTH_URL)
    refresh_margin: float = 120.0  # refresh an access token this many seconds before its `exp`
    refresh_every: float = 86400.0  # refresh an idle account at least this often, so its refresh token never lapses
    refresh_retry_max: float = 60.0  # longest pause between tries while the auth host is unreachable
    startup_check: bool = True  # check every account in the background at start-up
    unreachable_after: float = 60.0  # /health/ready fails once Qwen has not answered a probe for this long
    fresh_chats: int = 2  # upstream chats made ahead per account, model and chat type in use (fresh_chats.py); 0: off
    fresh_chat_ttl: float = 600.0  # seconds an unused one is kept, and a key nobody asks for is kept filled


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    first_event: float = 20.0  # a silent upstream is found this fast; thinking models answer a first event within it
    idle: float = 60.0  # between SSE events; upstream keep-alives come every ~10 s
    deadline: float = 120.0  # to wait for an account and start retries (a try under way runs on)
    shutdown_grace: float = 10.0  # open streams may finish this long after a shutdown begins
    max_answer: float = 600.0  # one try's whole answer: an answer that never ends is cut (504 / error event)


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
    detail_interval: float = 1.2  # between the 5 chat-detail reads for a task id the reply lacked (§5)


@dataclass(frozen=True)
class MediaSettings:
    image_model: str = ""  # images with no `model`: "" picks the first model that can do t2i
    upload_max_bytes: int = 25 * 1024 * 1024  # one uploaded file (Qwen takes 25 MB at most)
    fetch_max_bytes: int = 25 * 1024 * 1024  # an image the gateway downloads (client URL or b64_json)
    fetch_timeout: float = 30.0  # seconds for one such download, redirects included
    allow_private_fetch: bool = False  # let client image URLs reach loopback/private hosts (tests, dev)
    upload_cache_seconds: float = 240.0  # reuse an upload while its ~300 s signed URL is still valid
    parse_poll: float = 1.0  # seconds between files/parse/status polls of a document (§3.8)
    parse_wait: float = 15.0  # then the document is sent anyway: parsing ends server-side
    sts_keys: str = "auto"  # getstsToken keys: "old" filename/filesize/filetype, "new" file_name/...; "auto" learns


@dataclass(frozen=True)
class ConversationSettings:
    """How a chat request's conversation travels upstream (§6, §7a)."""

    chain: bool = True  # continue the upstream chat of a known conversation, sending only the new turns
    chain_ttl: float = 3600.0  # seconds a conversation's upstream chat is remembered (y13sint: 1 h)
    busy_retries: int = 2  # "The chat is in progress": tries again on the same account, before any output
    busy_delay: tuple[float, float] = (2.0, 4.0)  # seconds, uniform, before each of those
    context_file_chars: int = 100_000  # a prompt longer than this moves its older history into a file
    inline_tail_chars: int = 50_000  # the newest turns kept inline with such a file
    context_part_chars: int = 500_000  # one context file at most; more go as _2.txt, _3.txt…
    empty_retry_chars: int = 30_000  # an empty stream on a prompt this long is retried with the file forced


@dataclass(frozen=True)
class Limits:
    body_budget_bytes: int = 256 * 1024 * 1024  # request bodies held at once, all requests together; 503 beyond
    max_connections: int = 4096  # open client connections; 503 beyond (1,000 open streams must fit)
    head_timeout: float = 10.0  # seconds a client may take to send a request's line and headers


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3264
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    qwen_base_url: str = DEFAULT_QWEN_BASE_URL
    qwen_version: str = DEFAULT_QWEN_VERSION
    upstream: UpstreamSettings = UpstreamSettings()
    accounts: tuple[AccountSettings, ...] = ()
    simulate: bool = False
    timeouts: Timeouts = Timeouts()
    cooldowns: Cooldowns = Cooldowns()
    video: VideoSettings = VideoSettings()
    media: MediaSettings = MediaSettings()
    limits: Limits = Limits()
    conversation: ConversationSettings = ConversationSettings()
    max_attempts: int = 3
    max_body_bytes: int = 48 * 1024 * 1024  # a 25 MB image as a data: URI is ~34 MB of JSON
    models_ttl: float = 300.0
    state_url: str = "sqlite:///data/gateway.db"  # memory:// (tests), sqlite:///path, redis://host:port/db
    log_level: str = "info"
    log_format: str = "text"  # "json": one JSON object per line, for log collectors
    metrics: bool = True  # count requests for GET /metrics (false: no counting, no route; make bench compares)


def settings_from_command_line(config: str | None, environ: Mapping[str, str]) -> Settings:
    """The settings `--config` (else GATEWAY_CONFIG, else ./config.yaml) names; a file named
    either way must exist, the default one may not."""
    named = config or environ.get("GATEWAY_CONFIG")
    return load_settings(named or "config.yaml", environ, required=bool(named))


def load_settings(path: str | os.PathLike[str] | None, environ: Mapping[str, str], required: bool = False) -> Settings:
    """Read `path` (if given and present; `required`: it must be) with `config.local.yaml` over it,
    then apply environment overrides."""
    from .config_check import check_raw, read_config

    raw = read_config(path, required)
    check_raw(raw)
    try:
        settings = _from_mapping(raw)  # its checks name the key and the rule first
    except (TypeError, ValueError) as exc:  # a comparison with a value of the wrong type
        check_raw(raw, types=True)
        raise ConfigError(f"a value has the wrong type: {exc}") from None
    check_raw(raw, types=True)  # what no rule above looks at (timeouts.connect: "abc")
    return _apply_environ(settings, environ)


def _from_mapping(raw: Mapping[str, Any]) -> Settings:
    known = {"host", "port", "api_keys", "qwen_base_url", "qwen_version", "accounts", "simulate",
             "timeouts", "cooldowns", "video", "media", "limits", "conversation", "max_attempts", "max_body_bytes",
             "models_ttl", "state_url", "log_level", "log_format", "metrics", "upstream"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(sorted(unknown))}")
    sections = {"accounts", "timeouts", "cooldowns", "video", "media", "limits", "conversation", "api_keys",
                "upstream"}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k not in sections}
    values["api_keys"] = _api_keys(raw.get("api_keys"))
    values["accounts"] = tuple(_account(i, a) for i, a in enumerate(raw.get("accounts") or (), 1))
    values["timeouts"] = _section(Timeouts, raw.get("timeouts"), "timeouts")
    values["cooldowns"] = _section(Cooldowns, raw.get("cooldowns"), "cooldowns")
    values["video"] = _section(VideoSettings, raw.get("video"), "video")
    values["media"] = _section(MediaSettings, raw.get("media"), "media")
    values["limits"] = _section(Limits, raw.get("limits"), "limits")
    values["upstream"] = _section(UpstreamSettings, raw.get("upstream"), "upstream")
    values["conversation"] = _conversation(raw.get("conversation"))
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


def _api_keys(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("api_keys: must be a list of keys")
    keys = tuple(str(k).strip() for k in raw)
    for index, key in enumerate(keys):
        if not key:
            raise ConfigError(f"api_keys[{index}]: is blank; remove it, or give the key")
    return keys


def _conversation(raw: Any) -> ConversationSettings:
    if isinstance(raw, dict) and isinstance(raw.get("busy_delay"), list):
        raw = {**raw, "busy_delay": tuple(raw["busy_delay"])}
    conversation: ConversationSettings = _section(ConversationSettings, raw, "conversation")
    if not isinstance(conversation.chain, bool):
        raise ConfigError("conversation.chain: must be true or false")
    for name in ("context_file_chars", "inline_tail_chars", "context_part_chars", "empty_retry_chars"):
        value = getattr(conversation, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"conversation.{name}: must be a whole number of characters >= 1")
    delay = conversation.busy_delay
    if len(delay) != 2 or not all(isinstance(d, int | float) and d >= 0 for d in delay) or delay[0] > delay[1]:
        raise ConfigError("conversation.busy_delay: must be [low, high] seconds, 0 <= low <= high")
    return conversation


def _account(index: int, raw: Any) -> AccountSettings:
    if isinstance(raw, str):
        raw = {"token": raw}
    if not isinstance(raw, dict) or not (raw.get("token") or raw.get("refresh_token")):
        raise ConfigError(f"accounts[{index}]: needs a non-empty `token` or `refresh_token`")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(f"accounts[{index}].headers: must be a mapping")
    concurrency = raw.get("concurrency", 4)
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"accounts[{index}].concurrency: must be a whole number >= 1")
    if not isinstance(raw.get("keep_settings", False), bool):
        raise ConfigError(f"accounts[{index}].keep_settings: must be true or false")
    return AccountSettings(
        id=str(raw.get("id") or f"account-{index}"),
        token=str(raw.get("token") or ""),
        cookies=_cookie_string(raw.get("cookies"), index),
        headers={str(k): str(v) for k, v in headers.items()},
        concurrency=concurrency,
        refresh_token=str(raw.get("refresh_token") or ""),
        proxy=str(raw.get("proxy") or ""),
        keep_settings=raw.get("keep_settings", False),
    )


def _cookie_string(raw: Any, index: int) -> str:
    """Cookies as the browser's Cookie header string, or a name-to-value map."""
    if raw is None or isinstance(raw, str):
        return raw or ""
    if isinstance(raw, dict):
        return "; ".join(f"{k}={v}" for k, v in raw.items())
    raise ConfigError(f"accounts[{index}].cookies: must be a Cookie string or a name-to-value mapping")


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
        if not changes["api_keys"] and environ["GATEWAY_API_KEYS"]:
            # " , " is a mistake, not a wish for an open gateway: only an empty value turns auth off.
            raise ConfigError("GATEWAY_API_KEYS: holds no key, only blanks and commas; set it empty (or unset) "
                              "to turn client auth off, or list the keys")
    if environ.get("QWEN_BASE_URL"):
        changes["qwen_base_url"] = environ["QWEN_BASE_URL"]
    if environ.get("QWEN_TOKENS") or environ.get("QWEN_REFRESH_TOKENS"):
        # Both may be set: the accounts add up, access-token ones first.
        tokens = [AccountSettings(id="", token=t) for t in _split(environ.get("QWEN_TOKENS", ""))]
        tokens += [AccountSettings(
            id="", token="", refresh_token=t) for t in _split(environ.get("QWEN_REFRESH_TOKENS", "")
        )]
        changes["accounts"] = tuple(replace(a, id=f"env-{i}") for i, a in enumerate(tokens, 1))
    if environ.get("QWEN_AUTH_URL"):
        changes["upstream"] = replace(changes.get("upstream", settings.upstream), auth_url=environ["QWEN_AUTH_URL"])
    if environ.get("GATEWAY_STATE_URL"):
        changes["state_url"] = environ["GATEWAY_STATE_URL"]
    for name in ("log_level", "log_format"):
        if environ.get("GATEWAY_" + name.upper()):
            changes[name] = environ["GATEWAY_" + name.upper()].strip().lower()
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
    if not settings.upstream.auth_url.startswith(("http://", "https://")):
        raise ConfigError("upstream.auth_url (QWEN_AUTH_URL): must start with http:// or https://")
    for name in ("refresh_margin", "refresh_every", "refresh_retry_max"):
        value = getattr(settings.upstream, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"upstream.{name}: must be a number of seconds >= 0")
    fresh, ttl = settings.upstream.fresh_chats, settings.upstream.fresh_chat_ttl
    if not isinstance(fresh, int) or isinstance(fresh, bool) or not 0 <= fresh <= 16:
        raise ConfigError("upstream.fresh_chats: must be a whole number from 0 (off) to 16")
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl <= 0:
        raise ConfigError("upstream.fresh_chat_ttl: must be a number of seconds > 0")
    if settings.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
        raise ConfigError(f"log_level (GATEWAY_LOG_LEVEL): {settings.log_level!r} is not debug, info, warning or error")
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format (GATEWAY_LOG_FORMAT): {settings.log_format!r} is not text or json")
    if settings.max_attempts < 1:
        raise ConfigError("max_attempts: must be at least 1")
    _check_video(settings.video)
    _check_media(settings.media)
    _check_limits(settings.limits)
    if not settings.state_url.startswith(STATE_SCHEMES):
        # Name the scheme only: a redis:// URL may carry a password.
        scheme = settings.state_url.partition("://")[0] + "://" if "://" in settings.state_url else "that"
        raise ConfigError(f"state_url (GATEWAY_STATE_URL): {scheme} is not a store; "
                          "use sqlite:///path, redis://host:port/db, rediss://… or memory://")
    ids = [a.id for a in settings.accounts]
    if len(ids) != len(set(ids)):
        raise ConfigError("accounts: ids must be unique")


def _check_video(video: VideoSettings) -> None:
    for name in ("poll_interval", "timeout", "typical_render", "job_ttl", "detail_interval"):
        value = getattr(video, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"video.{name}: must be a number of seconds > 0")
    if video.status_api not in ("auto", "v2", "v1"):
        raise ConfigError("video.status_api: must be auto, v2 or v1")


def _check_limits(limits: Limits) -> None:
    for name in ("body_budget_bytes", "max_connections"):
        value = getattr(limits, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"limits.{name}: must be a whole number >= 1")
    if not isinstance(limits.head_timeout, int | float) or isinstance(limits.head_timeout, bool) \
            or limits.head_timeout <= 0:
        raise ConfigError("limits.head_timeout: must be a number of seconds > 0")


def _check_media(media: MediaSettings) -> None:
    for name in ("upload_max_bytes", "fetch_max_bytes"):
        value = getattr(media, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"media.{name}: must be a whole number of bytes >= 1")
    for name in ("fetch_timeout", "upload_cache_seconds", "parse_poll", "parse_wait"):
        value = getattr(media, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"media.{name}: must be a number of seconds >= 0")
    if not isinstance(media.allow_private_fetch, bool):
        raise ConfigError("media.allow_private_fetch: must be true or false")
    if media.sts_keys not in ("auto", "new", "old"):
        raise ConfigError("media.sts_keys: must be auto, new or old")
