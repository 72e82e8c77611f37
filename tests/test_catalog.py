"""catalog: parsing the model list, resolving names, and the one rule (`pick`) that chooses and
checks a model for a mode, with one error for every route."""

import pytest

from gateway.catalog import ModelCatalog, ModelInfo, parse_models, pick, require, resolve
from gateway.errors import ModelNotFound, ModelNotSupported, UpstreamContract, UpstreamTransient


def model(id_, *chat_types, vision=False, thinking=False, document=False):
    return ModelInfo(id_, id_.upper(), thinking=thinking, vision=vision, chat_types=frozenset(chat_types),
                     document=document)


CHAT = model("qwen3-max", "t2t", "search", "t2i", "t2v", thinking=True)
VISION = model("qwen3-vl-plus", "t2t", "t2i", "image_edit", vision=True)
IMAGES = model("qwen-image", "t2i", "image_edit")
MODELS = [CHAT, VISION, IMAGES]


def test_the_model_list_keeps_active_models_and_their_capabilities():
    body = {"data": {"data": [
        {"id": "a", "name": "A", "info": {"meta": {"chat_type": ["t2t", "t2i"], "capabilities": {"vision": True},
                                                   "abilities": {"thinking": 1}}}},
        {"id": "off", "info": {"is_active": False}},
        {"name": "no id"},
        {"id": "b", "info": {"meta": {"think_skip": {"enable": False}, "capabilities": {"document": True}}}},
    ]}}
    a, b = parse_models(body)
    assert (a.id, a.name, a.vision, a.thinking, a.chat_types) == ("a", "A", True, True, frozenset({"t2t", "t2i"}))
    assert (b.chat_types, b.must_think, b.document) == (frozenset({"t2t"}), True, True)
    with pytest.raises(UpstreamContract):
        parse_models({"data": "nope"})


def test_names_resolve_by_id_display_name_alias_and_suffix_never_to_a_substitute():
    assert resolve(MODELS, "QWEN3-MAX").info is CHAT
    assert resolve(MODELS, "qwen-vl-max").info is VISION  # an old alias
    thinking = resolve(MODELS, "qwen3-max-thinking-search")
    assert (thinking.info, thinking.thinking, thinking.search) == (CHAT, True, True)
    for missing in ("gpt-4o", "qwen3-vl-plus-thinking", "qwen-image-search"):
        with pytest.raises(ModelNotFound):
            resolve(MODELS, missing)


def test_a_named_model_is_checked_for_the_mode_with_one_error():
    assert pick(MODELS, "qwen3-vl-plus", "image_edit").info is VISION
    for name, mode in (("qwen-image", "t2t"), ("qwen3-max", "image_edit"), ("qwen-image", "t2v")):
        with pytest.raises(ModelNotSupported) as caught:
            pick(MODELS, name, mode)
        error = caught.value
        assert (error.status, error.code, error.param) == (400, "model_not_supported", "model")
    with pytest.raises(ModelNotFound):
        pick(MODELS, "dall-e-3", "t2i")


def test_with_no_name_a_model_made_for_the_mode_comes_first_and_none_able_is_the_same_error():
    assert pick(MODELS, None, "t2i").info is IMAGES  # an image model before a chat model that can draw
    assert pick(MODELS, "", "t2v").info is CHAT
    with pytest.raises(ModelNotSupported, match="No Qwen model offers video generation"):
        pick([VISION, IMAGES], None, "t2v")


def test_capabilities_a_request_needs_are_checked_by_the_same_rule():
    require(VISION, "vision")
    with pytest.raises(ModelNotSupported, match="reading documents") as caught:
        require(CHAT, "document")
    assert caught.value.code == "model_not_supported"
    with pytest.raises(ModelNotSupported) as caught:
        require(VISION, "search", param="web_search_options")
    assert caught.value.param == "web_search_options"


async def test_the_catalog_caches_and_keeps_a_stale_list_over_no_list():
    now = [0.0]
    calls = []

    async def fetch():
        calls.append(now[0])
        if len(calls) == 2:
            raise UpstreamTransient("down")
        return {"data": [{"id": "m1"}]}

    catalog = ModelCatalog(fetch, ttl=60, clock=lambda: now[0])
    assert [m.id for m in await catalog.models()] == ["m1"]
    await catalog.models()
    assert len(calls) == 1  # cached
    now[0] = 61
    assert [m.id for m in await catalog.models()] == ["m1"]  # the refresh failed: the stale list serves
    assert (await catalog.pick("m1", "t2t")).info.id == "m1"
    assert len(calls) == 2  # and the failure is not retried at once


async def test_no_list_at_all_is_the_upstream_error():
    async def fetch():
        raise UpstreamTransient("down")

    with pytest.raises(UpstreamTransient):
        await ModelCatalog(fetch, ttl=60).models()
