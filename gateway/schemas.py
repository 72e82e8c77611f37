"""Request bodies as pydantic models: every type error is a 400 naming its field.

The models check types and shapes only; what a value means (n must be 1, a tool_choice
must name a declared function) stays with the translators. Unknown fields are allowed,
as OpenAI clients send many the gateway ignores. Unions carry tags that start with "~"
so an error's location reads as the client wrote it (`messages[0].content[2].text`),
not as pydantic walked its union members.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, StrictInt, StrictStr, Tag, ValidationError
from pydantic.json_schema import models_json_schema

from .errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)
NonEmpty = Annotated[StrictStr, Field(min_length=1)]
Number = float  # temperature and the like (strict: ints pass, strings and booleans do not); checked, then ignored


class Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


def _by_type(value: Any) -> str | None:
    """The tag of a value's JSON type, for `str | list | object` unions."""
    if isinstance(value, str):
        return "~string"
    if isinstance(value, list):
        return "~array"
    if isinstance(value, dict):
        return "~object"
    if isinstance(value, int) and not isinstance(value, bool):
        return "~integer"
    return None


def _by_field(name: str) -> Callable[[Any], str | None]:
    def tag(value: Any) -> str | None:
        kind = value.get(name) if isinstance(value, dict) else None
        return f"~{kind}" if isinstance(kind, str) else None
    return tag


# -- chat completions -------------------------------------------------------------------

class ImageUrl(Shape):
    url: StrictStr
    detail: StrictStr | None = None


class TextPart(Shape):
    type: Literal["text", "input_text"]
    text: StrictStr


class ImageUrlPart(Shape):
    type: Literal["image_url"]
    image_url: Annotated[Annotated[StrictStr, Tag("~string")] | Annotated[ImageUrl, Tag("~object")],
                         Discriminator(_by_type)]


class ImagePart(Shape):
    type: Literal["image"]
    image: StrictStr


class RefusalPart(Shape):
    type: Literal["refusal"]
    refusal: StrictStr


class FileRef(Shape):
    file_data: StrictStr | None = None
    file_id: StrictStr | None = None
    filename: StrictStr | None = None


class FilePart(Shape):
    type: Literal["file"]
    file: FileRef


ContentPart = Annotated[
    Annotated[TextPart, Tag("~text")] | Annotated[TextPart, Tag("~input_text")]
    | Annotated[ImageUrlPart, Tag("~image_url")] | Annotated[ImagePart, Tag("~image")]
    | Annotated[RefusalPart, Tag("~refusal")] | Annotated[FilePart, Tag("~file")],
    Discriminator(_by_field("type"), custom_error_type="part_type",
                  custom_error_message="content parts are text, image_url, image, input_text, refusal or file"),
]
Content = Annotated[Annotated[StrictStr, Tag("~string")] | Annotated[list[ContentPart], Tag("~array")],
                    Discriminator(_by_type, custom_error_type="content_type",
                                  custom_error_message="content must be a string or an array of parts")]


class FunctionCall(Shape):
    name: NonEmpty
    arguments: Annotated[Annotated[StrictStr, Tag("~string")] | Annotated[dict[str, Any], Tag("~object")],
                         Discriminator(_by_type)] | None = None


class ToolCall(Shape):
    id: StrictStr | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(Shape):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Content | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: StrictStr | None = None


class FunctionDefinition(Shape):
    name: NonEmpty
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class Tool(Shape):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(Shape):
    name: NonEmpty


class NamedToolChoice(Shape):
    type: Literal["function"] = "function"
    function: NamedFunction


class JsonSchemaSpec(Shape):
    name: StrictStr | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: StrictBool | None = None
    description: StrictStr | None = None


class ResponseFormat(Shape):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class StreamOptions(Shape):
    include_usage: StrictBool | None = None


class ChatCompletionBody(Shape):
    model: NonEmpty
    messages: Annotated[list[Message], Field(min_length=1)]
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    n: StrictInt | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    enable_thinking: StrictBool | None = None
    thinking_budget: StrictInt | None = None
    chat_id: StrictStr | None = None
    chatId: StrictStr | None = None  # noqa: N815 (the original proxy's name)
    parent_id: StrictStr | None = None
    parentId: StrictStr | None = None  # noqa: N815
    tools: list[Tool] | None = None
    tool_choice: Annotated[Annotated[Literal["none", "auto", "required"], Tag("~string")]
                           | Annotated[NamedToolChoice, Tag("~object")],
                           Discriminator(_by_type)] | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    web_search_options: dict[str, Any] | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    max_tokens: StrictInt | None = None
    max_completion_tokens: StrictInt | None = None
    user: StrictStr | None = None


# -- images, videos, the original API -----------------------------------------------------

class ImageGenerationBody(Shape):
    prompt: NonEmpty
    model: StrictStr | None = None
    n: StrictInt | None = None
    size: StrictStr | None = None
    response_format: StrictStr | None = None
    stream: StrictBool | None = None
    quality: StrictStr | None = None
    style: StrictStr | None = None
    user: StrictStr | None = None


class VideoBody(Shape):
    prompt: NonEmpty
    model: StrictStr | None = None
    size: StrictStr | None = None
    seconds: Annotated[Annotated[StrictStr, Tag("~string")] | Annotated[StrictInt, Tag("~integer")],
                       Discriminator(_by_type)] | None = None


class LegacyChatBody(Shape):
    message: Content | None = None
    messages: list[Message] | None = None
    model: StrictStr | None = None
    chatType: StrictStr | None = None  # noqa: N815
    chatId: StrictStr | None = None  # noqa: N815
    parentId: StrictStr | None = None  # noqa: N815
    stream: StrictBool | None = None
    size: StrictStr | None = None
    waitForCompletion: StrictBool | None = None  # noqa: N815


class VideoListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    after: StrictStr | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    order: Literal["asc", "desc"] = "desc"


def check(model: type[M], body: Any) -> M:
    """`body` as `model`, or a 400 whose `param` names the first wrong field."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None


def check_query(model: type[M], params: Mapping[str, str]) -> M:
    """Query parameters (strings, converted where the model says so) as `model`."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> InvalidRequest:
    error = exc.errors(include_url=False)[0]
    param = location(error["loc"])
    where = f"'{param}'" if param else "The request body"
    message = _MODEL_NAME.sub("", error["msg"])  # pydantic names our classes; the client knows none
    return InvalidRequest(f"{where}: {message}.", param=param or None)


_MODEL_NAME = re.compile(r" or instance of \w+")


def location(loc: tuple[int | str, ...]) -> str:
    """`('messages', 0, '~array', 2, 'text')` → `messages[0].content[2].text`-style paths."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith("~"):
            path += f".{part}" if path else part
    return path


def openapi(paths: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """An OpenAPI 3.1 description of the request bodies: `{"POST /v1/...": Model}`."""
    models = sorted(set(paths.values()), key=lambda m: m.__name__)
    refs, schema = models_json_schema([(m, "validation") for m in models],
                                      ref_template="#/components/schemas/{model}")
    document: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": "Qwen Gateway", "version": "0.1.0"},
                                "paths": {}, "components": {"schemas": schema.get("$defs", {})}}
    for route, model in paths.items():
        method, path = route.split(" ", 1)
        document["paths"].setdefault(path, {})[method.lower()] = {
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": refs[(model, "validation")]}}},
            "responses": {"200": {"description": "OK"}, "400": {"description": "Invalid request"}},
        }
    return document
