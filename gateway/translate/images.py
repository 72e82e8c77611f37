"""OpenAI image requests → plain request objects; Qwen t2i/image_edit events → the
OpenAI images response. Pure: no I/O.

The upstream streams phase `image_gen` with one whole image URL per typing delta
(§4); `output_image_hw` is `[[height, width]]`. Sizes map to its five ratios (§8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest, UpstreamInvalidInput, UpstreamTransient
from ..qwen.events import Delta, Event, ResponseCreated
from ..schemas import ImageGenerationBody, check
from .sizes import to_ratio

MAX_IMAGES = 4
MAX_PROMPT_CHARS = 32_000
RESPONSE_FORMATS = ("url", "b64_json")
OUTPUT_FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp", "gif": "gif"}


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    model: str | None  # None: the configured or first image-capable model
    n: int
    ratio: str | None  # None: the upstream's choice (an edit keeps its source's shape)
    response_format: str
    size: str | None = None  # as the client asked it, reported back as such (None: not asked)
    stream: bool = False  # OpenAI's image streaming events instead of one JSON answer


@dataclass(frozen=True)
class GeneratedImage:
    url: str
    width: int | None = None
    height: int | None = None
    b64_json: str | None = None


def parse_generation(body: Any) -> ImageRequest:
    """A JSON `/v1/images/generations` body; quality, style, user and the rest are accepted and ignored."""
    check(ImageGenerationBody, body)
    return _request(body, body.get("n"), size_default="1:1")


def parse_edit(fields: Mapping[str, str]) -> ImageRequest:
    """The text fields of a multipart `/v1/images/edits` body (numbers arrive as strings)."""
    raw = (fields.get("n") or "").strip()
    try:
        n = int(raw) if raw else None
    except ValueError:
        raise InvalidRequest(f"'n' must be a whole number from 1 to {MAX_IMAGES}.", param="n") from None
    stream = (fields.get("stream") or "false").strip().lower()
    if stream not in ("true", "false"):
        raise InvalidRequest("'stream' must be true or false.", param="stream")
    return _request({**fields, "stream": stream == "true"}, n, size_default=None)


def _request(body: dict[str, Any], n: Any, *, size_default: str | None) -> ImageRequest:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("'prompt' is required and must be a non-empty string.", param="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"'prompt' is longer than {MAX_PROMPT_CHARS} characters.", param="prompt")
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InvalidRequest("'model' must be a non-empty string.", param="model")
    if n is None:
        n = 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGES:
        raise InvalidRequest(f"'n' must be a whole number from 1 to {MAX_IMAGES}.", param="n")
    size = body.get("size")
    ratio = to_ratio(size) if size not in (None, "") else size_default
    response_format = body.get("response_format") or "url"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidRequest("'response_format' must be 'url' or 'b64_json'.", param="response_format")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false.", param="stream")
    if stream:
        response_format = "b64_json"  # streamed images are only ever sent inline
    return ImageRequest(prompt.strip(), model.strip() if model else None, n, ratio, response_format,
                        size=size if isinstance(size, str) and size else None, stream=stream)


class ImageCollector:
    """Gathers the images of one t2i / image_edit answer from its events, and its chat ids."""

    def __init__(self, chat_id: str = "") -> None:
        self.images: list[GeneratedImage] = []
        self.chat_id = chat_id
        self.response_id = ""  # the parent of a next turn in this chat
        self._text: list[str] = []

    def feed(self, event: Event) -> None:
        if isinstance(event, ResponseCreated):
            self.chat_id = event.chat_id or self.chat_id
            self.response_id = event.response_id
            return
        if not isinstance(event, Delta) or not event.content:
            return
        if event.phase == "image_gen":
            height, width = _height_width(event.extra)
            self.images.append(GeneratedImage(event.content.strip(), width, height))
        elif event.phase in ("answer", None):
            self._text.append(event.content)

    @property
    def said_anything(self) -> bool:
        return bool("".join(self._text).strip())

    def add_urls(self, urls: list[str], extra: Any) -> None:
        """Images read back from the chat detail when the stream carried none."""
        height, width = _height_width(extra if isinstance(extra, dict) else None)
        self.images += [GeneratedImage(url, width, height) for url in urls]

    def result(self) -> list[GeneratedImage]:
        """The images, or the error the answer stands for when it has none."""
        if self.images:
            return self.images
        text = "".join(self._text).strip()
        if text:  # the model answered in words (a refusal): another account would say the same
            raise UpstreamInvalidInput(f"Qwen answered without an image: {text[:300]}")
        raise UpstreamTransient("Qwen finished without an image")


def _height_width(extra: dict[str, Any] | None) -> tuple[int | None, int | None]:
    hw = (extra or {}).get("output_image_hw")
    if isinstance(hw, list) and hw and isinstance(hw[0], list) and len(hw[0]) == 2:
        height, width = hw[0]
        if isinstance(height, int) and isinstance(width, int):
            return height, width
    return None, None


def images_response(created: int, images: list[GeneratedImage], request: ImageRequest) -> dict[str, Any]:
    """`{created, data, size?, output_format?}`; no `usage`: Qwen reports no image tokens.

    `size` is the size asked for, as OpenAI reports it (Qwen draws the nearest of its
    ratios at its own resolution, which the image itself shows).
    """
    data = []
    for image in images:
        item: dict[str, Any] = {"b64_json": image.b64_json} if image.b64_json is not None else {"url": image.url}
        item["revised_prompt"] = request.prompt  # Qwen does not rewrite prompts: the one used is the one sent
        data.append(item)
    response: dict[str, Any] = {"created": created, "data": data}
    if request.size is not None:
        response["size"] = request.size
    output_format = _output_format(images[0]) if images else None
    if output_format is not None:
        response["output_format"] = output_format
    return response


def image_stream_event(kind: str, image: GeneratedImage, created: int, request: ImageRequest) -> dict[str, Any]:
    """One `image_generation.completed` / `image_edit.completed` event (`kind` is the prefix).

    Qwen draws no partial images, so a stream is one completed event per image. Qwen
    counts no image tokens: the usage the event's schema requires is zero.
    """
    return {
        "type": f"{kind}.completed", "b64_json": image.b64_json, "created_at": created,
        "size": request.size or "auto", "quality": "auto", "background": "auto",
        "output_format": _output_format(image) or "png",
        "usage": {"input_tokens": 0, "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                  "output_tokens": 0, "total_tokens": 0},
    }


def _output_format(image: GeneratedImage) -> str | None:
    extension = image.url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    return OUTPUT_FORMATS.get(extension)
