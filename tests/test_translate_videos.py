"""OpenAI video requests → what the upstream gets; job records → Video objects and list pages."""

import pytest

from gateway.errors import InvalidRequest
from gateway.translate.videos import (
    VIDEO_FIELDS,
    ListQuery,
    after_status,
    list_page,
    new_job,
    parse_list_query,
    parse_video_request,
    task_id_of,
    video_object,
)


def job_at(started: float, **changes):
    request = parse_video_request({"prompt": "a cat"})
    return new_job(request, "qwen3.7-plus", "acct", "task-1", started, ttl=3600) | changes


def test_defaults_follow_openai_and_sizes_map_to_qwen_ratios():
    plain = parse_video_request({"prompt": "  a cat  "})
    assert (plain.prompt, plain.model, plain.size, plain.ratio) == ("a cat", None, "720x1280", "9:16")
    assert plain.seconds == "4"
    assert parse_video_request({"prompt": "p", "size": "1792x1024"}).ratio == "16:9"
    assert parse_video_request({"prompt": "p", "size": "4:3"}).ratio == "4:3"
    assert parse_video_request({"prompt": "p", "seconds": 12}).seconds == "12"  # JSON numbers are accepted too


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "p", "size": "1920x1080"}, "size"),
        ({"prompt": "p", "size": "1024x1024"}, "size"),
        ({"prompt": "p", "seconds": "5"}, "seconds"),
        ({"prompt": "p", "seconds": True}, "seconds"),
        ({"prompt": "p", "model": ""}, "model"),
        ({"prompt": "p", "input_reference": {"image_url": "https://x/a.png"}}, "input_reference"),
    ],
)
def test_bad_requests_name_the_parameter(fields, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_video_request(fields)
    assert caught.value.param == param and caught.value.status == 400


def test_task_id_is_read_from_the_wanx_extra():
    reply = {"data": {"messages": [{"extra": {"wanx": {"task_id": "t-1"}}}]}}
    assert task_id_of(reply) == "t-1"
    assert task_id_of({"data": {"messages": None}}) is None
    assert task_id_of({"success": True}) is None


def test_video_object_has_all_13_fields_and_estimates_progress_from_elapsed_time():
    job = job_at(1000.0)
    queued = video_object(job, 1000.0, typical_render=200)
    assert list(queued) == list(VIDEO_FIELDS) and len(queued) == 13
    assert (queued["status"], queued["progress"], queued["object"]) == ("queued", 0, "video")
    assert "account_id" not in queued and "task_id" not in queued  # internals stay inside
    running = after_status(job, "running", "", "", 1010.0, typical_render=200)
    assert video_object(running, 1100.0, typical_render=200)["progress"] == 50
    assert video_object(running, 5000.0, typical_render=200)["progress"] == 95  # capped until done


def test_upstream_task_states_become_job_states():
    job = after_status(job_at(1000.0), "running", "", "", 1001.0, 200)
    done = after_status(job, "success", "https://cdn/v.mp4", "", 1100.0, 200)
    assert (done["status"], done["progress"], done["completed_at"], done["video_url"]) == (
        "completed", 100, 1100, "https://cdn/v.mp4")
    assert after_status(job, "completed", "https://cdn/v.mp4", "", 1100.0, 200)["status"] == "completed"
    broken = after_status(job, "failed", "", "Video generation failed", 1100.0, 200)
    assert broken["status"] == "failed" and broken["error"]["code"] == "video_generation_failed"
    assert "Video generation failed" in broken["error"]["message"] and broken["completed_at"] == 1100
    assert after_status(job, "weird", "", "", 1100.0, 200)["status"] == "failed"  # §5: anything else fails
    assert after_status(job, "not_found", "", "", 1100.0, 200)["error"]["code"] == "task_not_found"
    assert after_status(job, "success", "", "", 1100.0, 200)["status"] == "failed"  # done without a URL


def test_list_pages_by_cursor_in_either_order():
    jobs = [job_at(1000.0 + i, id=f"video_{i}") for i in range(5)]
    render = lambda j: {"id": j["id"]}  # noqa: E731
    first = list_page(jobs, ListQuery(None, 2, "desc"), render)
    assert [v["id"] for v in first["data"]] == ["video_4", "video_3"]
    assert (first["first_id"], first["last_id"], first["has_more"]) == ("video_4", "video_3", True)
    last = list_page(jobs, ListQuery("video_1", 2, "desc"), render)
    assert [v["id"] for v in last["data"]] == ["video_0"] and last["has_more"] is False
    ascending = list_page(jobs, ListQuery("video_1", 3, "asc"), render)
    assert [v["id"] for v in ascending["data"]] == ["video_2", "video_3", "video_4"] and not ascending["has_more"]
    empty = list_page([], ListQuery(None, 20, "desc"), render)
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    with pytest.raises(InvalidRequest) as caught:
        list_page(jobs, ListQuery("video_gone", 2, "desc"), render)
    assert caught.value.param == "after"


@pytest.mark.parametrize(("params", "param"), [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"),
                                               ({"limit": "x"}, "limit"), ({"order": "up"}, "order")])
def test_bad_list_parameters_are_named(params, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_list_query(params)
    assert caught.value.param == param
    assert parse_list_query({}) == ListQuery(None, 20, "desc")
