"""One wrapper (`calls/lifetime.watched`) owns cancel-on-disconnect and the upstream time of every
route that calls Qwen; a video render accepted upstream outlives a client that leaves."""

import time

import httpx
import pytest

from gateway.config import VideoSettings

from .harness import TOKENS, default_settings, live_stack

FAST_VIDEO = VideoSettings(poll_interval=0.02, timeout=10, typical_render=1, job_ttl=600)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def access_line(caplog, path):
    for _ in range(100):  # the line is written just after the response is sent
        lines = [r for r in caplog.records if r.name == "gateway.access" and f"path={path} " in r.getMessage()]
        if lines:
            return lines[-1].getMessage()
        time.sleep(0.01)
    raise AssertionError(f"no access line for {path}")


def test_a_video_whose_client_left_is_still_rendered_and_listed():
    with live_stack(default_settings(video=FAST_VIDEO)) as stack:
        for token in TOKENS:  # whichever account takes it answers the render request slowly
            stack.fault(token, {"kind": "slow_first_byte", "seconds": 1.5})
        with pytest.raises(httpx.ReadTimeout):
            stack.http.post("/v1/videos", json={"prompt": "a kite over the sea"}, timeout=0.3)
        deadline = time.monotonic() + 10
        while not (videos := stack.http.get("/v1/videos").json()["data"]):
            assert time.monotonic() < deadline, "the render was cancelled with its client"
            time.sleep(0.05)
        assert videos[0]["prompt"] == "a kite over the sea"


def test_a_legacy_video_whose_client_left_is_still_rendered():
    with live_stack(default_settings(video=FAST_VIDEO)) as stack:
        for token in TOKENS:
            stack.fault(token, {"kind": "slow_first_byte", "seconds": 1.5})
        with pytest.raises(httpx.ReadTimeout):
            stack.http.post("/api/chat", json={"message": "a kite over the sea", "chatType": "t2v",
                                               "model": "qwen3.7-plus"}, timeout=0.3)
        deadline = time.monotonic() + 10
        while not stack.http.get("/v1/videos").json()["data"]:
            assert time.monotonic() < deadline, "the render was cancelled with its client"
            time.sleep(0.05)


def test_upstream_time_is_logged_for_routes_that_call_qwen_and_only_those(caplog):
    caplog.set_level("INFO", logger="gateway.access")
    with live_stack() as stack:
        upload = stack.http.post("/v1/files", files={"file": ("note.txt", b"hello", "text/plain")},
                                 data={"purpose": "user_data"})
        assert upload.status_code == 200
        file_id = upload.json()["id"]
        assert "upstream_ms=-" not in access_line(caplog, "/v1/files")
        content = stack.http.get(f"/v1/files/{file_id}/content")  # a GET: no body to wait for
        assert content.content == b"hello"
        assert "upstream_ms=-" not in access_line(caplog, f"/v1/files/{file_id}/content")
        stack.http.get(f"/v1/files/{file_id}")  # the gateway's own record: no upstream call
        assert "upstream_ms=-" in access_line(caplog, f"/v1/files/{file_id}")


def test_a_client_that_leaves_an_image_request_frees_the_account():
    with live_stack() as stack:
        for token in TOKENS:
            stack.fault(token, {"kind": "slow_first_byte", "seconds": 6})
        with pytest.raises(httpx.ReadTimeout):
            stack.http.post("/v1/images/generations", json={"prompt": "a lighthouse"}, timeout=0.5)
        deadline = time.monotonic() + 1.5
        while sum(a["in_flight"] for a in stack.accounts().values()):
            assert time.monotonic() < deadline, "the image call kept running after its client left"
            time.sleep(0.05)
