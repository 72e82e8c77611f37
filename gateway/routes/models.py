"""`GET /v1/models` and `GET /v1/models/{id}`: the upstream list in OpenAI's shape."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..catalog import SEARCH_SUFFIX, THINKING_SUFFIX, openai_models
from ..errors import ModelNotFound
from .common import json_response


async def list_models(request: Request) -> Response:
    catalog = request.app.state.catalog
    return json_response({"object": "list", "data": openai_models(await catalog.models(), catalog.created)})


async def retrieve_model(request: Request) -> Response:
    """Whatever chat accepts (old names such as `qwen-max` too) is the model chat would use."""
    catalog = request.app.state.catalog
    resolved = await catalog.resolve(request.path_params["model_id"])
    model_id = resolved.info.id + (THINKING_SUFFIX if resolved.thinking else "") + \
        (SEARCH_SUFFIX if resolved.search else "")
    for entry in openai_models([resolved.info], catalog.created):
        if entry["id"] == model_id:
            return json_response(entry)
    raise ModelNotFound(request.path_params["model_id"])


ROUTES = [Route("/v1/models", list_models), Route("/v1/models/{model_id:path}", retrieve_model)]
