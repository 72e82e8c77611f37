"""The upstream model list: fetched from `GET /api/models`, cached with a TTL, and used to
resolve what a client asks for (ids, display names, aliases, `-thinking` suffixes).

`pick` is the one rule for which model serves a call and whether it may: a name that matches
no model is a 404 `model_not_found`; a model without what the call needs (a mode such as t2i,
or a capability such as vision) is a 400 `model_not_supported`, whatever the route."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .errors import ModelNotFound, ModelNotSupported, UpstreamContract

log = logging.getLogger("gateway.catalog")

# Old names clients still send (y13sint/FreeQwenApi), resolved when the target exists upstream.
ALIASES = {
    "qwen-max": "qwen3-max",
    "qwen-vl-plus": "qwen3-vl-plus",
    "qwen-vl-max": "qwen3-vl-plus",
    "qwen-vl-max-latest": "qwen3-vl-plus",
    "qwen2.5-max": "qwen-max-latest",
    "qwen-plus": "qwen-plus-2025-09-11",
    "qwen3": "qwen3-235b-a22b",
}
THINKING_SUFFIX = "-thinking"
SEARCH_SUFFIX = "-search"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    thinking: bool
    vision: bool
    chat_types: frozenset[str]
    must_think: bool = False  # `think_skip.enable` false (qwen3.8): thinking off is refused (§9)
    document: bool = False  # reads attached documents


@dataclass(frozen=True)
class ResolvedModel:
    info: ModelInfo
    thinking: bool  # asked for through the `-thinking` suffix
    search: bool = False  # asked for through the `-search` suffix


def parse_models(body: Any) -> list[ModelInfo]:
    """Active models from an `/api/models` body (`{"data": [...]}`, or wrapped once more)."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, list):
        raise UpstreamContract("Qwen's model list has an unexpected shape")
    models = []
    for item in data:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        info = item.get("info") or {}
        if info.get("is_active") is False:
            continue
        meta = info.get("meta") or {}
        capabilities = meta.get("capabilities") or {}
        abilities = meta.get("abilities") or {}
        thinking = bool(capabilities.get("thinking")) or (abilities.get("thinking") or 0) > 0
        models.append(
            ModelInfo(
                id=str(item["id"]),
                name=str(item.get("name") or item["id"]),
                thinking=thinking,
                vision=bool(capabilities.get("vision")),
                chat_types=frozenset(meta.get("chat_type") or ("t2t",)),
                must_think=(meta.get("think_skip") or {}).get("enable") is False,
                document=bool(capabilities.get("document")),
            )
        )
    return models


def resolve(models: list[ModelInfo], requested: str) -> ResolvedModel:
    """Find the model a client means, or raise ModelNotFound (never a silent substitute)."""
    name = requested.strip().lower()
    search = name.endswith(SEARCH_SUFFIX)
    if search:
        name = name[: -len(SEARCH_SUFFIX)]
    thinking = name.endswith(THINKING_SUFFIX)
    if thinking:
        name = name[: -len(THINKING_SUFFIX)]
    by_key: dict[str, ModelInfo] = {}
    for model in models:
        by_key.setdefault(model.id.lower(), model)
        by_key.setdefault(model.name.lower(), model)
    found = by_key.get(name) or by_key.get(ALIASES.get(name, ""))
    if found is None or (thinking and not found.thinking) or (search and "search" not in found.chat_types):
        raise ModelNotFound(requested)
    return ResolvedModel(found, thinking, search)


# What a call may need of a model: a chat type (mode) or a capability, in the words errors use.
NEEDS = {"t2t": "chat", "search": "web search", "t2i": "image generation", "image_edit": "image editing",
         "t2v": "video generation", "vision": "reading images", "document": "reading documents"}


def supports(model: ModelInfo, need: str) -> bool:
    if need == "vision":
        return model.vision
    if need == "document":
        return model.document
    return need in model.chat_types


def require(model: ModelInfo, need: str, param: str = "model") -> None:
    """Raise ModelNotSupported unless `model` offers `need` (a key of NEEDS)."""
    if not supports(model, need):
        raise ModelNotSupported(f"The model '{model.id}' does not support {NEEDS[need]}; pick one that does "
                                "(see GET /v1/models).", param=param)


def pick(models: list[ModelInfo], requested: str | None, mode: str) -> ResolvedModel:
    """The model that serves a call in `mode`: the one named, checked; else (no name) a model
    made for the mode first (an image model before a chat model that can draw), else any able one."""
    if requested:
        resolved = resolve(models, requested)
        require(resolved.info, mode)
        return resolved
    able = [m for m in models if supports(m, mode)]
    chosen = next((m for m in able if "t2t" not in m.chat_types), able[0] if able else None)
    if chosen is None:
        raise ModelNotSupported(f"No Qwen model offers {NEEDS[mode]}; name one with 'model'.", param="model")
    return ResolvedModel(chosen, False)


def openai_models(models: list[ModelInfo], created: int) -> list[dict[str, Any]]:
    """The `/v1/models` entries: each model and the `-thinking` / `-search` variants it allows."""
    entries = []
    for model in models:
        variants = [""]
        if model.thinking:
            variants.append(THINKING_SUFFIX)
        if "search" in model.chat_types:
            variants += [SEARCH_SUFFIX] + ([THINKING_SUFFIX + SEARCH_SUFFIX] if model.thinking else [])
        entries += [{"id": model.id + v, "object": "model", "created": created, "owned_by": "qwen",
                     "capabilities": capabilities(model)} for v in variants]
    return entries


def capabilities(model: ModelInfo) -> dict[str, bool]:
    """What a model can do, as an extra field of its `/v1/models` entry (OpenAI has none)."""
    return {"vision": model.vision, "thinking": model.thinking, "search": "search" in model.chat_types,
            "image": "t2i" in model.chat_types, "video": "t2v" in model.chat_types, "documents": model.document}


class ModelCatalog:
    """Caches the upstream list; one refresh at a time; a stale list beats no list."""

    def __init__(
        self, fetch: Callable[[], Awaitable[Any]], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._models: list[ModelInfo] | None = None
        self._fetched_at = 0.0
        self.created = int(time.time())
        self._lock = asyncio.Lock()

    async def models(self) -> list[ModelInfo]:
        if self._models is not None and self._clock() - self._fetched_at < self._ttl:
            return self._models
        async with self._lock:
            if self._models is not None and self._clock() - self._fetched_at < self._ttl:
                return self._models
            try:
                self._models = parse_models(await self._fetch())
                self._fetched_at = self._clock()
            except Exception as exc:
                if self._models is None:
                    raise
                log.warning("model list refresh failed, keeping the cached one: %s", exc)
                self._fetched_at = self._clock()  # do not hammer a failing upstream
        return self._models

    async def resolve(self, requested: str) -> ResolvedModel:
        return resolve(await self.models(), requested)

    async def pick(self, requested: str | None, mode: str) -> ResolvedModel:
        """See `pick`: the one rule for every route."""
        return pick(await self.models(), requested, mode)
