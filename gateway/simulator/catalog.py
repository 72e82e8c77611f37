"""The simulated model registry, in the `/api/models` element shape (§3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    chat_types: tuple[str, ...]
    vision: bool = False
    thinking: int = 0  # abilities.thinking: >0 means it can think
    search: bool = False
    active: bool = True
    max_context_length: int = 262144
    must_think: bool = False  # `think_skip.enable` false: thinking off gets `invalid_input` (§9)

    @property
    def can_think(self) -> bool:
        return self.thinking > 0

    def element(self) -> dict[str, Any]:
        capabilities = {
            "vision": self.vision,
            "document": self.vision,
            "video": self.vision,
            "audio": False,
            "thinking": self.can_think,
            "search": self.search,
        }
        modality = ["text"] + (["image", "video"] if self.vision else [])
        meta: dict[str, Any] = {
            "capabilities": capabilities,
            "abilities": {"vision": int(self.vision), "mcp": 1, "thinking": self.thinking},
            "max_context_length": self.max_context_length,
            "chat_type": list(self.chat_types),
            "modality": modality,
        }
        if self.can_think:
            meta["auto_thinking"] = True
            meta["thinking_format"] = "summary"
            meta["think_skip"] = {"enable": not self.must_think}
        return {
            "id": self.id,
            "name": self.name,
            "object": "model",
            "owned_by": "qwen",
            "preset": True,
            "info": {"id": self.id, "is_active": self.active, "is_visitor_active": self.active, "meta": meta},
        }


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("qwen3-max", "Qwen3-Max", ("t2t", "search"), thinking=1, search=True),
    ModelSpec(
        "qwen3.7-plus",
        "Qwen3.7-Plus",
        ("t2t", "t2i", "t2v", "i2v", "image_edit", "search"),
        vision=True,
        thinking=3,
        search=True,
        max_context_length=1000000,
    ),
    ModelSpec("qwen3-vl-plus", "Qwen3-VL-Plus", ("t2t", "t2i", "t2v", "image_edit"), vision=True),
    ModelSpec("qwen-max-latest", "Qwen2.5-Max", ("t2t", "t2i", "t2v")),
    ModelSpec("qwen-plus-2025-09-11", "Qwen-Plus-2025-09-11", ("t2t",), thinking=1),
    ModelSpec("qwen-image-2.0-pro", "Qwen-Image-2.0-Pro", ("t2i", "image_edit")),
    ModelSpec("qwen2.5-old-instruct", "Qwen2.5-Old-Instruct", ("t2t",), active=False),
    ModelSpec("qwen3.8-max", "Qwen3.8-Max", ("t2t", "search"), vision=True, thinking=3, search=True,
              max_context_length=1000000, must_think=True),
)


def model_list() -> list[dict[str, Any]]:
    return [spec.element() for spec in MODELS]


def find_model(model_id: str) -> ModelSpec | None:
    """An active model by exact id; inactive ones are refused like unknown ones."""
    for spec in MODELS:
        if spec.id == model_id and spec.active:
            return spec
    return None
