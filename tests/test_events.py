import pytest

from gateway.errors import (
    UpstreamCaptcha,
    UpstreamChatBusy,
    UpstreamChatNotFound,
    UpstreamContract,
    UpstreamInvalidInput,
    UpstreamRateLimited,
    UpstreamTransient,
    UpstreamUnauthorized,
)
from gateway.qwen.events import KEEP_ALIVE, Delta, ResponseCreated, error_from_body, parse_event


def test_response_created_and_keep_alive():
    created = parse_event({"response.created": {"chat_id": "c", "parent_id": "p", "response_id": "r"}})
    assert created == ResponseCreated("c", "p", "r")
    assert parse_event({"response.info": {"action": "keep_alive"}}) is KEEP_ALIVE
    assert parse_event({"something.new": {}}) is KEEP_ALIVE


def test_end_is_finished_in_answer_or_image_phase_only():
    def delta(phase, status):
        return parse_event({"choices": [{"delta": {"content": "", "phase": phase, "status": status}}]})

    assert delta("answer", "finished").is_end
    assert delta("image_gen", "finished").is_end
    assert not delta("thinking_summary", "finished").is_end
    assert not delta("think", "finished").is_end
    assert not delta("web_search", "finished").is_end
    assert not delta("answer", "typing").is_end


def test_delta_keeps_usage_and_extra():
    event = parse_event({"choices": [{"delta": {"content": "Hi", "phase": "answer", "status": "typing",
                                                "extra": {"k": 1}}}], "usage": {"output_tokens": 3}})
    assert event == Delta("answer", "Hi", "typing", {"k": 1}, {"output_tokens": 3})


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"success": False, "data": {"code": "RateLimited", "details": "limit", "num": 10}}, 200, UpstreamRateLimited),
        ({"success": False, "data": {"code": "RateLimited", "details": "401 Unauthorized"}}, 200, UpstreamUnauthorized),
        ({"success": False, "data": {"code": "Unauthorized", "details": "Token has expired"}}, 200, UpstreamUnauthorized),
        ({"ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::busy"], "data": {"url": "x"}}, 200, UpstreamCaptcha),
        ({"success": False, "data": {"code": "Bad_Request", "details": "Internal error..."}}, 200, UpstreamTransient),
        ({"success": False, "code": "Bad_Request", "details": "missing version"}, 200, UpstreamContract),
        ({"detail": "Field 'chat_id': Field required", "code": "RequestValidationError"}, 400, UpstreamContract),
        ({"success": False, "data": {"code": "CHAT_NOT_FOUND", "details": "Chat not found"}}, 200, UpstreamChatNotFound),
        ({"success": False, "data": {"code": "Bad_Request",
                                     "details": "Invalid input chat parent_id x is not exist."}}, 200, UpstreamChatNotFound),
        ({"success": False, "data": {"code": "PARENT_NOT_FOUND", "details": "no parent"}}, 200, UpstreamChatNotFound),
        ({"success": False, "data": {"code": "Bad_Request", "details": "The chat is in progress"}}, 200, UpstreamChatBusy),
        ({"success": False, "data": {"code": "Bad_Request",
                                     "details": "Invalid input too many messages"}}, 200, UpstreamContract),
        ({"success": False, "data": {"code": "internal_error", "details": "Internal Error"}}, 400, UpstreamTransient),
        ({"error": "Internal error!"}, 200, UpstreamTransient),
        ({"error": {"code": "invalid_input", "details": "bad"}}, 200, UpstreamInvalidInput),
        (None, 429, UpstreamRateLimited),
        (None, 401, UpstreamUnauthorized),
        (None, 503, UpstreamTransient),
    ],
)
def test_error_catalogue(body, status, kind):
    error = error_from_body(body, status)
    assert type(error) is kind


def test_rate_limit_hours_come_from_num_or_stay_unknown():
    assert error_from_body({"success": False, "data": {"code": "RateLimited", "num": 6}}).hours == 6
    assert error_from_body({"success": False, "data": {"code": "RateLimited"}}).hours is None


def test_success_is_no_error():
    assert error_from_body({"success": True, "data": {"id": "x"}}) is None


def test_answer_selector_keeps_response_index_0():
    from gateway.qwen.events import AnswerSelector

    selector = AnswerSelector()
    r0 = ResponseCreated("c", "p", "r0", "0")
    r1 = ResponseCreated("c", "p", "r1", "1")
    assert selector.keep(r0) and not selector.keep(r1)
    assert selector.keep(Delta("answer", "a", "typing", None, None, "r0"))
    assert not selector.keep(Delta("answer", "b", "typing", None, None, "r1"))
    assert selector.keep(Delta("answer", "c", "typing", None, None, None))  # no id: passes
    first_seen = AnswerSelector()  # no response.created: the first id seen is kept
    assert first_seen.keep(Delta("answer", "a", "typing", None, None, "x"))
    assert not first_seen.keep(Delta("answer", "a", "typing", None, None, "y"))


def test_finish_reasons_and_status_error_deltas():
    def finished(reason, where="choice"):
        choice = {"delta": {"status": "finished", "phase": "answer", "content": ""}}
        if where == "choice":
            choice["finish_reason"] = reason
        else:
            choice["delta"]["finish_reason"] = reason
        return parse_event({"choices": [choice]})

    assert finished("max_tokens").finish_reason == "length"
    assert finished("content_filter", "delta").finish_reason == "content_filter"
    assert finished("end_turn").finish_reason == "stop" and finished("weird").finish_reason is None
    with pytest.raises(UpstreamTransient):
        parse_event({"choices": [{"delta": {"status": "error", "phase": "answer", "content": ""}}]})
