"""attachments.py and fetcher.py: client images → bytes, with every refusal a 400 naming the field."""

import asyncio
import base64
import hashlib
import socket

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.attachments import (
    ImageRef,
    MediaState,
    UploadCache,
    decode_data_uri,
    gather_or_cancel,
    image_refs,
    load_images,
    sniff_image_type,
)
from gateway.config import MediaSettings
from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.fetcher import GuardedResolver, ImageFetcher, is_forbidden
from gateway.qwen.files import UploadedFile

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
PARAM = "messages[0].content[1].image_url"


# -- image_url parts ---------------------------------------------------------------------

def test_image_refs_take_objects_and_bare_strings_and_name_each_field():
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "compare"},
                                     {"type": "image_url", "image_url": {"url": DATA_URI, "detail": "high"}},
                                     {"type": "image_url", "image_url": " https://example.com/a.png "}]},
    ]
    assert image_refs(messages) == [
        ImageRef("messages[1].content[1].image_url", DATA_URI, 1),
        ImageRef("messages[1].content[2].image_url", "https://example.com/a.png", 1),
    ]


@pytest.mark.parametrize("value", [{}, {"url": ""}, {"url": 5}, None])
def test_an_image_url_part_without_a_url_is_400(value):
    messages = [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": value}]}]
    with pytest.raises(InvalidRequest) as caught:
        image_refs(messages)
    assert caught.value.param == PARAM


# -- data: URIs --------------------------------------------------------------------------

def test_data_uri_decodes_to_the_exact_bytes():
    image = decode_data_uri(DATA_URI, PARAM, 1000)
    assert (image.data, image.content_type, image.filename) == (PNG, "image/png", "image.png")
    assert image.sha256 == __import__("hashlib").sha256(PNG).hexdigest()


@pytest.mark.parametrize(("uri", "error"), [
    ("data:image/png;base64,@@@@", InvalidRequest),
    ("data:image/png;base64", InvalidRequest),
    ("data:text/plain;base64," + base64.b64encode(b"hello").decode(), InvalidRequest),
    ("data:,hello", InvalidRequest),
    ("data:image/png;base64," + base64.b64encode(b"x" * 2000).decode(), PayloadTooLarge),
])
def test_bad_data_uris_are_refused_naming_the_field(uri, error):
    with pytest.raises(error) as caught:
        decode_data_uri(uri, PARAM, 1000)
    assert caught.value.param == PARAM and caught.value.status in (400, 413)


def test_sniffing_knows_the_common_image_formats():
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    assert sniff_image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image_type(b"hello") is None


# -- the upload cache ------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def uploaded(expires_at=None):
    return UploadedFile("https://cdn/x.png?key=k", "id", "x.png", 3, "image/png", "image", expires_at)


def test_cache_is_per_account_and_expires_before_the_signed_url():
    clock = Clock()
    cache = UploadCache(240, clock=clock)
    cache.put("a1", "hash", uploaded())
    assert cache.get("a1", "hash") == uploaded() and cache.get("a2", "hash") is None
    clock.now += 239
    assert cache.get("a1", "hash") is not None
    clock.now += 2
    assert cache.get("a1", "hash") is None
    cache.put("a1", "soon", uploaded(expires_at=int(clock.now) + 100))  # the URL itself dies sooner
    clock.now += 41
    assert cache.get("a1", "soon") is None


def test_cache_stays_bounded():
    cache = UploadCache(240, clock=Clock(), max_entries=2)
    for digest in ("h1", "h2", "h3"):
        cache.put("a1", digest, uploaded())
    assert cache.get("a1", "h1") is None and cache.get("a1", "h3") is not None


async def test_gather_or_cancel_cancels_the_rest_on_the_first_failure():
    cancelled = asyncio.Event()

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def fail():
        raise InvalidRequest("bad", param="p")

    with pytest.raises(InvalidRequest):
        await gather_or_cancel([slow(), fail()])
    assert cancelled.is_set()
    assert await gather_or_cancel([asyncio.sleep(0, result=1), asyncio.sleep(0, result=2)]) == [1, 2]


# -- fetching URLs ---------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "forbidden"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("172.16.0.1", True), ("169.254.169.254", True),
    ("100.64.0.1", True), ("0.0.0.0", True), ("::1", True), ("fe80::1%eth0", True), ("fd00::1", True),
    ("::ffff:127.0.0.1", True), ("224.0.0.1", True), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
    # IPv4 embedded in IPv6: NAT64 (well-known and local-use), IPv4-compatible, 6to4, Teredo
    ("64:ff9b::7f00:1", True), ("64:ff9b::10.0.0.1", True), ("64:ff9b:1::a00:1", True), ("::127.0.0.1", True),
    ("::10.0.0.1", True), ("2002:7f00:1::", True), ("2001:0:4136:e378:8000:63bf:80ff:fffe", True),
    ("64:ff9b::8.8.8.8", False), ("::8.8.8.8", False), ("2002:808:808::1", False),
])
def test_address_classes(address, forbidden):
    assert is_forbidden(address) is forbidden


async def test_the_resolver_refuses_names_that_resolve_to_loopback():
    from gateway.fetcher import ForbiddenTarget

    with pytest.raises(ForbiddenTarget):
        await GuardedResolver(allow_private=False).resolve("localhost", 80, socket.AF_UNSPEC)
    assert await GuardedResolver(allow_private=True).resolve("localhost", 80, socket.AF_INET)


@pytest.fixture
async def images_site():
    """A small web site: an image, a page, a redirect to loopback, a slow and a huge image."""
    async def png(_):
        return web.Response(body=PNG, content_type="image/png")

    async def page(_):
        return web.Response(text="<html></html>", content_type="text/html")

    async def to_png(request):
        raise web.HTTPFound(str(request.url.with_path("/a.png")))

    async def slow(_):
        await asyncio.sleep(5)
        return web.Response(body=PNG, content_type="image/png")

    async def to_private(_):
        raise web.HTTPFound("http://10.0.0.1/a.png")

    async def huge(_):
        return web.Response(body=b"\x89PNG" + b"\x00" * 5000, content_type="image/png")

    app = web.Application()
    for path, handler in {"/a.png": png, "/page": page, "/redirect": to_png, "/slow.png": slow,
                          "/huge.png": huge, "/to-private": to_private}.items():
        app.router.add_get(path, handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.fixture
async def fetcher():
    made = []

    def make(allow_private=True, max_bytes=1000, timeout=1.0):
        made.append(ImageFetcher(max_bytes, timeout, allow_private))
        return made[-1]

    yield make
    for one in made:
        await one.close()


async def test_fetch_returns_the_image_and_follows_redirects(images_site, fetcher):
    assert await fetcher().fetch(images_site + "/a.png", PARAM) == (PNG, "image/png")
    assert await fetcher().fetch(images_site + "/redirect", PARAM) == (PNG, "image/png")


@pytest.mark.parametrize(("path", "words"), [
    ("/page", "not an image"), ("/missing.png", "HTTP 404"), ("/slow.png", "within 0.3 s"), ("/huge.png", "larger"),
])
async def test_fetch_failures_are_400_naming_the_field(images_site, fetcher, path, words):
    with pytest.raises(InvalidRequest) as caught:
        await fetcher(timeout=0.3).fetch(images_site + path, PARAM)
    assert caught.value.status == 400 and caught.value.param == PARAM and words in caught.value.message


async def test_unreachable_and_malformed_urls_are_400(fetcher):
    with pytest.raises(InvalidRequest, match="could not be downloaded"):
        await fetcher().fetch("http://127.0.0.1:9/a.png", PARAM)
    with pytest.raises(InvalidRequest, match="http"):
        await fetcher().fetch("ftp://example.com/a.png", PARAM)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "169.254.169.254"])
async def test_private_targets_are_refused_by_default(images_site, fetcher, host):
    port = images_site.rsplit(":", 1)[1]
    with pytest.raises(InvalidRequest) as caught:
        await fetcher(allow_private=False).fetch(f"http://{host}:{port}/a.png", PARAM)
    assert caught.value.param == PARAM and "private" in caught.value.message


async def test_a_redirect_to_a_private_address_is_refused(images_site, fetcher, monkeypatch):
    import gateway.fetcher

    real = gateway.fetcher.is_forbidden
    monkeypatch.setattr(gateway.fetcher, "is_forbidden", lambda a: a != "127.0.0.1" and real(a))  # the site is "public"
    assert await fetcher(allow_private=False).fetch(images_site + "/a.png", PARAM) == (PNG, "image/png")
    with pytest.raises(InvalidRequest, match="10.0.0.1"):
        await fetcher(allow_private=False).fetch(images_site + "/to-private", PARAM)


async def test_large_data_uris_decode_off_the_event_loop_to_the_exact_bytes():
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8192  # 2 MiB: decoded in a worker thread
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    media = MediaState(MediaSettings())
    try:
        (attachment,) = await load_images([ImageRef("messages[0].content[0].image_url", uri)], media)
    finally:
        await media.close()
    assert attachment.data == data and attachment.sha256 == hashlib.sha256(data).hexdigest()
