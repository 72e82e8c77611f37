"""Property-based fuzzing of every validated body against /openapi.json: no input gives a 5xx.

Bodies are drawn in the shape the description gives (known fields, nested as described)
with each value either of its described type or any JSON at all, which is how a clumsy
client goes wrong: the right field with the wrong type, deep inside.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import live_stack

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
MODELS = st.sampled_from(["qwen3-max", "qwen3.7-plus", "qwen-image-2.0-pro"])


def shaped(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values as `schema` describes them, or (sometimes) any JSON in their place."""
    return st.one_of(_described(schema, defs, depth), ANY_JSON) if depth else _described(schema, defs, depth)


def _described(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return shaped(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth)
    if depth > 5:
        return ANY_JSON
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([shaped(option, defs, depth + 1) for option in schema[key]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        properties = schema["properties"]
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: _field(k, v, defs, depth) for k, v in properties.items() if k in required},
            optional={k: _field(k, v, defs, depth) for k, v in properties.items() if k not in required})
    if kind == "array":
        return st.lists(shaped(schema.get("items", {}), defs, depth + 1), min_size=1, max_size=3)
    simple = {"string": st.text(max_size=20), "integer": st.integers(-5, 5), "number": st.floats(-2, 2),
              "boolean": st.booleans(), "null": st.none()}
    return simple.get(kind, ANY_JSON)


def _field(name: str, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if name == "model":
        return st.one_of(MODELS, shaped(schema, defs, depth + 1))
    return shaped(schema, defs, depth + 1)


@pytest.fixture(scope="module")
def stack():
    with live_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def document(stack):
    return stack.http.get("/openapi.json").json()


PATHS = ["/v1/chat/completions", "/v1/images/generations", "/v1/videos", "/api/chat", "/api/chat/completions"]


@pytest.mark.parametrize("path", PATHS)
def test_no_body_gives_a_server_error(stack, document, path):
    operation = document["paths"][path]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    defs = document["components"]["schemas"]

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=shaped(schema, defs) | ANY_JSON)
    def no_5xx(body: Any) -> None:
        if isinstance(body, dict) and body.get("stream") is True:
            body = {**body, "stream": False}  # a stream's status is 200 before its errors: judged elsewhere
        answer = stack.http.post(path, json=body, timeout=30)
        assert answer.status_code < 500, (body, answer.status_code, answer.text[:300])

    no_5xx()
