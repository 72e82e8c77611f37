"""Structured output (`response_format` json_object / json_schema). Pure: no I/O.

The upstream has no JSON mode, so the model is instructed, its answer's JSON is
extracted (fences and prose around it tolerated), validated against the schema, and
a failure is reported back for one corrective retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from ..errors import InvalidRequest
from .tools import lenient_json


@dataclass(frozen=True)
class JsonFormat:
    schema: dict[str, Any] | None  # None: any JSON object (json_object)
    name: str = "response"
    validator: Draft202012Validator | None = field(default=None, compare=False, repr=False)  # compiled once


def parse_response_format(body: dict[str, Any]) -> JsonFormat | None:
    raw = body.get("response_format")
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in {"text", "json_object", "json_schema"}:
        raise InvalidRequest(
            "'response_format.type' must be text, json_object or json_schema.", param="response_format"
        )
    if raw["type"] == "text":
        return None
    if raw["type"] == "json_object":
        return JsonFormat(None)
    spec = raw.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequest("'response_format.json_schema.schema' must be a JSON schema object.",
                             param="response_format.json_schema.schema")
    assert isinstance(spec, dict)  # a dict, or `schema` would be None and refused above
    return JsonFormat(schema, str(spec.get("name") or "response"), compile_schema(schema))


def compile_schema(schema: dict[str, Any], param: str = "response_format.json_schema.schema") -> Draft202012Validator:
    """A validator for `schema`, every `$ref` in it resolved now: a schema that cannot be used is
    the request's fault (400), found before anything goes upstream, never a failure mid-answer."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidRequest(f"'{param}' is not a valid JSON schema: {exc.message}", param=param) from None
    resolver = Registry().resolver_with_root(Resource.from_contents(schema, default_specification=DRAFT202012))
    for ref in sorted(set(_refs(schema))):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise InvalidRequest(f"'{param}' has a $ref that cannot be resolved: {ref!r} (only references "
                                 "inside the schema itself, such as '#/$defs/Name', are followed).",
                                 param=param) from None
    return Draft202012Validator(schema)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for key, value in node.items():
            if key not in ("const", "enum", "default", "examples"):  # data, not schema
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def format_instructions(fmt: JsonFormat) -> str:
    lines = ["# Answer format", "Reply with one JSON object only: no prose, no code fences."]
    if fmt.schema is not None:
        schema = orjson.dumps(fmt.schema).decode()
        lines += ["It must validate against this JSON schema:", "<schema>", schema, "</schema>"]
    return "\n".join(lines)


def correction(problem: str) -> str:
    return f"Your previous reply was not valid: {problem}. Reply again with the JSON object only."


def extract_json(text: str) -> tuple[str, str | None]:
    """The answer's JSON object as compact text, and what is wrong with it (None when valid)."""
    candidate = _object_span(text)
    if candidate is None:
        return text, "it contains no JSON object"
    value = lenient_json(candidate)
    if not isinstance(value, dict):
        return text, "its JSON object does not parse"
    return orjson.dumps(value).decode(), None


def validate(text: str, fmt: JsonFormat) -> tuple[str, str | None]:
    """Extract, then check against the schema; returns (content, problem or None)."""
    content, problem = extract_json(text)
    if problem is not None or fmt.schema is None:
        return content, problem
    validator = fmt.validator or compile_schema(fmt.schema)
    errors = sorted(validator.iter_errors(orjson.loads(content)), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "the top level"
        return content, f"at {where}: {errors[0].message}"
    return content, None


def _object_span(text: str) -> str | None:
    """From the first `{` to its matching `}`, skipping braces inside strings."""
    start = text.find("{")
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:index + 1]
    return text[start:]  # unclosed: lenient_json may still repair it
