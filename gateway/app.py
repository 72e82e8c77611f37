"""build_app(settings): routes, one error renderer, and a lifespan that owns the
upstream sessions, the account pool and, with no account configured, the simulator."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from . import metrics, readiness, status_page
from .account_marks import AccountMarks
from .accounts import AccountPool
from .attachments import MediaState
from .calls.lifetime import ClientDisconnected
from .catalog import ModelCatalog
from .chat_owners import ChatOwners
from .config import AccountSettings, Settings
from .conversations import ConversationMap
from .errors import GatewayError, InvalidRequest, NotFound
from .fresh_chats import FreshChats
from .jobs import JobManager
from .limits import BodyBudget
from .metrics import Metrics
from .middleware import ApiKeyAuth, RequestLog
from .qwen.auth import credential_key
from .qwen.client import QwenClient
from .readiness import UpstreamProbe
from .routes import admin, chat, file_list, files, images, legacy, models, responses, videos
from .routes.common import json_response
from .slots import SharedSlots
from .startup import log_report
from .store import Store, open_store
from .store.write_behind import WriteBehind
from .upkeep import Upkeep

if TYPE_CHECKING:
    from .simulator import RunningSimulator

log = logging.getLogger("gateway")
SIMULATOR_ACCOUNT = AccountSettings(id="simulator", token="simulator-token")


def build_app(settings: Settings, store: Store | None = None) -> Starlette:
    """`store`: shared state owned by the caller, which may outlive this app (else from `state_url`)."""
    state_store = store if store is not None else open_store(settings.state_url)
    if store is None and state_store.kind == "memory":
        log.warning("state_url is memory://: video jobs, files and account cool-downs are lost on restart and not "
                    "shared with other replicas; use the default sqlite:///data/gateway.db, or redis://")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        effective, simulator = await _upstream(settings)
        replica = uuid.uuid4().hex  # this process, for leases shared with other replicas
        pool = AccountPool(
            ((QwenClient(a, effective.qwen_base_url, effective.qwen_version, effective.timeouts,
                         upstream=effective.upstream, store=state_store, replica=replica), a.concurrency)
             for a in effective.accounts),
            effective.cooldowns,
            max_attempts=effective.max_attempts,
            deadline=effective.timeouts.deadline,
        )
        app.state.settings = effective
        app.state.pool = pool
        app.state.store = state_store
        writes = WriteBehind(state_store)  # the owners and links every answer leaves, written in batches
        app.state.chats = ChatOwners(state_store, pool, writes=writes)
        # Marks are keyed to the credential the operator configured: replacing it clears an invalid mark.
        marks = AccountMarks(state_store, pool, {a.id: credential_key(a) for a in effective.accounts})
        await marks.start()  # a restarted gateway knows which accounts rest before its first request
        if state_store.shared:
            pool.slots = SharedSlots(state_store)
            pool.slots.start()
        app.state.simulated = simulator is not None

        app.state.catalog = ModelCatalog(lambda: pool.ask(QwenClient.models), effective.models_ttl)
        app.state.media = MediaState(effective.media)  # image fetcher, upload cache, uploaded files
        app.state.conversations = ConversationMap(state_store, effective.conversation, writes)  # chaining (§6)
        app.state.jobs = JobManager(state_store, pool, effective.video)
        await app.state.jobs.start()  # resumes polling unfinished video jobs
        app.state.fresh_chats = FreshChats(pool, effective.upstream.fresh_chats, effective.upstream.fresh_chat_ttl)
        app.state.fresh_chats.start()  # upstream chats made ahead of use, deleted unused at shutdown
        upkeep = Upkeep(pool, effective.upstream)
        upkeep.start()  # the start-up check of every account runs behind serving
        app.state.probe = UpstreamProbe(pool, effective.upstream.unreachable_after)  # through its clients
        app.state.started = time.monotonic()
        if app.state.metrics is not None:
            app.state.metrics.watch(app.state)
        log_report(settings, simulator is not None, pool.status(), state_store.kind)
        try:
            yield
        finally:
            await upkeep.stop()
            await app.state.fresh_chats.stop()  # before the sessions close: it deletes the unused chats
            await app.state.jobs.stop()
            await app.state.chats.flush()
            await marks.stop()
            if pool.slots is not None:
                await pool.slots.stop()
            await app.state.media.close()
            await pool.close()
            if store is None:
                await state_store.close()
            if simulator is not None:
                await simulator.stop()

    routes = [*admin.ROUTES, *models.ROUTES, *chat.ROUTES, *videos.ROUTES, *images.ROUTES, *files.ROUTES,
              *file_list.ROUTES, *legacy.ROUTES, *responses.ROUTES, *readiness.ROUTES, *metrics.ROUTES,
              *status_page.ROUTES]
    middleware = [Middleware(RequestLog), Middleware(ApiKeyAuth, keys=settings.api_keys),
                  Middleware(BodyBudget, max_bytes=settings.limits.body_budget_bytes)]
    handlers = {GatewayError: _gateway_error, ClientDisconnected: _client_gone, HTTPException: _http_error,
                Exception: _unexpected}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.metrics = Metrics() if settings.metrics else None
    return app


async def _upstream(settings: Settings) -> tuple[Settings, RunningSimulator | None]:
    """The real Qwen, or the in-process simulator when no account is configured."""
    if settings.accounts and not settings.simulate:
        return settings, None
    from .simulator import start_simulator

    simulator = await start_simulator()
    log.warning(
        "NO QWEN ACCOUNT CONFIGURED: serving canned answers from the built-in Qwen simulator at %s. "
        "Set QWEN_TOKENS or `accounts` in config.yaml to reach the real Qwen Chat.", simulator.url,
    )
    upstream = replace(settings.upstream, auth_url=simulator.url)
    return replace(settings, qwen_base_url=simulator.url, accounts=(SIMULATOR_ACCOUNT,), upstream=upstream), simulator


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if request.url.path.startswith("/api/"):  # the original proxy's own error shape
        return json_response(legacy.legacy_error(exc), exc.status, exc.headers)
    return Response(exc.render(), status_code=exc.status, headers=exc.headers, media_type="application/json")


async def _client_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=499)  # nobody is listening; nginx's "client closed request"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: GatewayError = NotFound(f"Unknown path: {request.method} {request.url.path} is not served here.")
    else:
        error = InvalidRequest(f"{request.method} is not allowed on {request.url.path}.", status=exc.status_code,
                               code="method_not_allowed" if exc.status_code == 405 else None)
    return await _gateway_error(request, error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return json_response(GatewayError("The gateway failed unexpectedly; the error is logged.").body(), 500)
