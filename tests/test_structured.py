import pytest

from gateway.errors import InvalidRequest
from gateway.translate.structured import extract_json, format_instructions, parse_response_format, validate

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


def fmt(schema=SCHEMA):
    return parse_response_format({"response_format": {"type": "json_schema",
                                                      "json_schema": {"name": "person", "schema": schema, "strict": True}}})


def test_formats():
    assert parse_response_format({}) is None
    assert parse_response_format({"response_format": {"type": "text"}}) is None
    assert parse_response_format({"response_format": {"type": "json_object"}}).schema is None
    assert fmt().name == "person"
    assert "<schema>" in format_instructions(fmt()) and "JSON object only" in format_instructions(fmt())


@pytest.mark.parametrize("raw", [{"type": "xml"}, "json", {"type": "json_schema"},
                                 {"type": "json_schema", "json_schema": {"schema": {"type": "nope"}}}])
def test_bad_formats_are_400(raw):
    with pytest.raises(InvalidRequest) as caught:
        parse_response_format({"response_format": raw})
    assert caught.value.param.startswith("response_format")


def test_extraction_tolerates_fences_and_prose():
    assert extract_json('Sure!\n```json\n{"name": "Ada", "note": "a } brace"}\n```') == (
        '{"name":"Ada","note":"a } brace"}', None)
    assert extract_json("no json here")[1] == "it contains no JSON object"


def test_validation_reports_the_first_problem():
    assert validate('{"name": "Ada", "age": 36}', fmt()) == ('{"name":"Ada","age":36}', None)
    content, problem = validate('{"name": "Ada", "age": "old"}', fmt())
    assert "age" in problem and "integer" in problem
    assert validate('{"name": "Ada"}', fmt())[1].startswith("at the top level")
    assert validate('{"anything": 1}', parse_response_format({"response_format": {"type": "json_object"}}))[1] is None
