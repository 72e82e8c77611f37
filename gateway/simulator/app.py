"""`build_simulator()`: the Starlette app standing in for chat.qwen.ai."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from . import auth_host, chat_routes, completions, control, file_routes, info_routes, parse_routes, tasks
from .latency import RoundTrip
from .options import SimOptions
from .recorder import Recorder
from .set_cookies import SetCookies
from .state import SimState
from .streams import quiet_simulated_drops


def _routes() -> list[Route]:
    return [
        # the upstream API
        Route("/api/models", info_routes.models_open, methods=["GET"]),
        Route("/api/v2/models/", info_routes.models_v2, methods=["GET"]),
        Route("/api/v2/models", info_routes.models_v2, methods=["GET"]),
        Route("/api/v1/auths/", info_routes.whoami, methods=["GET"]),
        Route("/api/v1/auths", info_routes.whoami, methods=["GET"]),
        Route("/api/v2/chats/new", chat_routes.create_chat, methods=["POST"]),
        Route("/api/v2/chats/", chat_routes.delete_all_chats, methods=["DELETE"]),
        Route("/api/v2/chats/{chat_id}", chat_routes.chat_detail, methods=["GET"]),
        Route("/api/v2/chats/{chat_id}", chat_routes.delete_chat, methods=["DELETE"]),
        Route("/api/v2/chat/completions", completions.create_completion, methods=["POST"]),
        Route("/api/v2/chat/completions/stop", chat_routes.stop_completion, methods=["POST"]),
        Route("/api/v1/tasks/status/{task_id}", tasks.status_v1, methods=["GET"]),
        Route("/api/v2/task/status/{task_id}", tasks.status_v2, methods=["GET"]),
        Route("/api/v1/files/getstsToken", file_routes.sts_token, methods=["POST"]),
        Route("/api/v2/files/getstsToken", file_routes.sts_token, methods=["POST"]),
        # the auth host (§2; its own host in production, this one in tests) and settings (§3.9)
        Route("/api/v2/auths/refresh", auth_host.refresh, methods=["GET", "POST"]),
        Route("/api/v2/users/user/settings/update", auth_host.update_settings, methods=["POST"]),
        Route("/api/v2/files/parse", parse_routes.parse, methods=["POST"]),
        Route("/api/v2/files/parse/status", parse_routes.parse_status, methods=["POST"]),
        # the stand-ins for Alibaba OSS and the CDN
        Route("/oss/{file_path:path}", file_routes.oss_put, methods=["PUT"]),
        Route("/files/{path:path}", file_routes.serve_file, methods=["GET", "HEAD"]),
        Route("/output/{path:path}", file_routes.serve_file, methods=["GET", "HEAD"]),
        # the test control plane
        Route("/__sim/faults", control.queue_faults, methods=["POST"]),
        Route("/__sim/faults", control.list_faults, methods=["GET"]),
        Route("/__sim/reset", control.reset, methods=["POST"]),
        Route("/__sim/options", control.options, methods=["GET", "POST"]),
        Route("/__sim/requests", control.requests, methods=["GET"]),
        Route("/__sim/streams", control.streams, methods=["GET"]),
        Route("/__sim/signin", auth_host.signin, methods=["POST"]),
        Route("/__sim/auth", auth_host.report, methods=["GET"]),
    ]


def build_simulator(options: SimOptions | None = None) -> Starlette:
    """A fresh simulator; `app.state.sim` is its `SimState`."""
    sim = SimState(options or SimOptions())
    quiet_simulated_drops()
    app = Starlette(routes=_routes(), middleware=[Middleware(RoundTrip, sim=sim), Middleware(Recorder, sim=sim),
                                                  Middleware(SetCookies, sim=sim)])
    app.state.sim = sim
    return app
