"""`GET /v1/models` and `GET /v1/models/{id}`: the upstream list in OpenAI's shape."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..catalog import openai_models
from ..errors import ModelNotFound
from .common import json_response


async def list_models(request: Request) -> Response:
    catalog = request.app.state.catalog
    return json_response({"object": "list", "data": openai_models(await catalog.models(), catalog.created)})


async def retrieve_model(request: Request) -> Response:
    catalog = request.app.state.catalog
    model_id = request.path_params["model_id"]
    for entry in openai_models(await catalog.models(), catalog.created):
        if entry["id"] == model_id:
            return json_response(entry)
    raise ModelNotFound(model_id)


ROUTES = [Route("/v1/models", list_models), Route("/v1/models/{model_id:path}", retrieve_model)]
