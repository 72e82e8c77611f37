"""Everything the simulator remembers, owned by one `SimState` per app.

Nothing here is module-level: two simulators in one process (a test and the
gateway's in-process fallback, say) never share a chat, a fault or a quota.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from .auth_book import AuthBook
from .faults import Fault
from .options import SimOptions

MAX_RECORDED_REQUESTS = 10_000


@dataclass
class Message:
    id: str
    parent_id: str | None
    role: str
    content: str
    chat_type: str
    model: str
    timestamp: int
    children_ids: list[str] = field(default_factory=list)
    files: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    done: bool = True


@dataclass
class Chat:
    id: str
    owner: str  # the bearer token that created it
    title: str
    chat_type: str
    models: list[str]
    created_at: int
    messages: dict[str, Message] = field(default_factory=dict)
    current_id: str | None = None
    # Ids the upstream accepts as a parent but which lead nowhere (a non-stream
    # reply's `message_id`): "the turn works but context is lost".
    detached_ids: set[str] = field(default_factory=set)

    def add(self, message: Message) -> None:
        self.messages[message.id] = message
        parent = self.messages.get(message.parent_id or "")
        if parent is not None:
            parent.children_ids.append(message.id)
        self.current_id = message.id

    def ancestors(self, message_id: str | None) -> list[Message]:
        """The path from the root down to `message_id` (inclusive)."""
        path: list[Message] = []
        while message_id is not None and message_id in self.messages:
            message = self.messages[message_id]
            path.append(message)
            message_id = message.parent_id
        return path[::-1]


@dataclass
class Task:
    """A t2v render; its status is computed from the clock when polled."""

    id: str
    owner: str
    uid: str
    chat_id: str
    message_id: str
    size: str
    started: float  # time.monotonic()
    render_seconds: float
    outcome: str  # "success" | "failed" | "never"
    video_path: str  # URL path of the mp4 once rendered

    def status(self, now: float) -> str:
        if self.outcome == "never" or now - self.started < self.render_seconds:
            return "running"
        return self.outcome


@dataclass
class Grant:
    """Temporary STS credentials for one upload path."""

    access_key_id: str
    secret: str
    security_token: str
    bucket: str
    file_path: str
    owner: str


@dataclass
class StoredFile:
    content_type: str
    data: bytes


@dataclass
class Upload:
    """An STS grant's file by its `file_id`: who may use it and how far its parsing got (§3.8)."""

    owner: str
    path: str  # the file path under /files
    parse: str | None = None  # None (never asked), running, success, failed
    polls_left: int = 0


@dataclass
class StreamRecord:
    response_id: str
    chat_id: str
    token: str
    status: str = "running"  # running | finished | cancelled | faulted | closed


class SimState:
    """Chats, tasks, uploads, quotas, faults and recorded requests of one simulator."""

    def __init__(self, options: SimOptions) -> None:
        self.initial_options = options
        self.options = options
        # Shutdown wakes every simulated delay so open streams end at once. Plain
        # futures, not an asyncio.Event: the app may be driven from several loops.
        self.closed = False
        self._sleepers: set[asyncio.Future[bool]] = set()
        self.reset()

    def reset(self) -> None:
        """Forget everything and return to the options the simulator was built with."""
        self.options = self.initial_options
        self.chats: dict[str, Chat] = {}
        self.deleted_chats: set[str] = set()  # DELETE /api/v2/chats/…: GET says Not_Found, completions CHAT_NOT_FOUND
        self.tasks: dict[str, Task] = {}
        self.grants: dict[str, Grant] = {}
        self.files: dict[str, StoredFile] = {}  # by URL path: /files/… and /output/…
        self.uploads: dict[str, Upload] = {}  # by file_id
        self.faults: dict[str, deque[Fault]] = {}
        # Bounded: the gateway's no-account mode keeps a simulator up for days.
        self.requests: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self.streams: dict[str, StreamRecord] = {}
        self.chat_streams: dict[str, StreamRecord] = {}  # the latest stream of each chat ("in progress", §6)
        self.stopped: set[str] = set()  # response ids the client asked to stop
        self.usage: Counter[tuple[str, str, str]] = Counter()
        self.auth = AuthBook(self.options)  # refresh and access tokens given out, user settings

    # -- delays -----------------------------------------------------------
    def scaled(self, seconds: float) -> float:
        return seconds * self.options.speed

    async def pause(self, seconds: float) -> bool:
        """Sleep, waking early when the server shuts down; True means stop now."""
        if seconds <= 0 or self.closed:
            return self.closed
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _wake, sleeper, False)
        self._sleepers.add(sleeper)
        try:
            return await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)

    def close(self) -> None:
        """Wake all sleepers with "stop now" (call from the loop serving the app)."""
        self.closed = True
        for sleeper in list(self._sleepers):
            _wake(sleeper, True)

    # -- faults -----------------------------------------------------------
    def queue_faults(self, token: str, faults: list[Fault]) -> None:
        self.faults.setdefault(token, deque()).extend(faults)

    def take_fault(self, token: str, endpoint: str) -> Fault | None:
        """Pop the oldest fault queued for this token that targets `endpoint`."""
        queue = self.faults.get(token)
        if not queue:
            return None
        for fault in queue:
            if fault.on == endpoint:
                queue.remove(fault)
                return fault
        return None

    # -- quotas -----------------------------------------------------------
    def charge(self, token: str, kind: str, limit: int) -> bool:
        """Count one use against today's (UTC) limit; False when already spent."""
        key = (token, kind, datetime.datetime.now(datetime.UTC).date().isoformat())
        if limit > 0 and self.usage[key] >= limit:
            return False
        self.usage[key] += 1
        return True

    # -- bookkeeping ------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)

    def owned_chat(self, chat_id: str, token: str) -> Chat | None:
        chat = self.chats.get(chat_id)
        # By user, not token string: access tokens rotate every ~15 minutes (§2).
        return chat if chat is not None and (chat.owner == token or uid_for(chat.owner) == uid_for(token)) else None


def _wake(sleeper: asyncio.Future[bool], stop: bool) -> None:
    if not sleeper.done():
        sleeper.set_result(stop)


def uid_for(token: str) -> str:
    """The account id: a JWT's `id` claim when the token is one, else a stable uuid."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            if isinstance(claims, dict) and isinstance(claims.get("id"), str) and claims["id"]:
                return str(claims["id"])
        except (ValueError, orjson.JSONDecodeError):
            pass
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "qwen-sim:" + token))


def fake_jwt(subject: str, lifetime: int = 300) -> str:
    """A JWT-shaped `key` for CDN URLs; nobody verifies its signature."""
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()

    claims = {"sub": subject, "exp": int(time.time()) + lifetime}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{uuid.uuid4().hex}"


def new_id() -> str:
    return str(uuid.uuid4())
