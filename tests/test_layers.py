"""The layering ARCHITECTURE.md draws: calls go downward only, and no route imports another route."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
ROUTE_HELPERS = {"common", "render", "event_stream"}  # shared by routes; not routes themselves


def _imports(path: Path) -> set[str]:
    """The gateway modules `path` imports, as dotted names under `gateway`."""
    package = ["gateway", *path.relative_to(GATEWAY).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("gateway.")}


@pytest.mark.parametrize("path", sorted((GATEWAY / "routes").glob("*.py")), ids=lambda p: p.name)
def test_no_route_imports_another_route(path: Path) -> None:
    routes = {p.stem for p in (GATEWAY / "routes").glob("*.py")} - ROUTE_HELPERS - {"__init__"}
    others = {f"gateway.routes.{name}" for name in routes - {path.stem}}
    assert not _imports(path) & others


@pytest.mark.parametrize("layer", ["calls", "translate", "qwen", "store"])
def test_lower_layers_never_import_routes(layer: str) -> None:
    for path in sorted((GATEWAY / layer).glob("*.py")):
        assert not {name for name in _imports(path) if name.startswith("gateway.routes")}, path.name


def test_translate_is_pure_of_services() -> None:
    for path in sorted((GATEWAY / "translate").glob("*.py")):
        assert not {name for name in _imports(path) if name.startswith(("gateway.calls", "gateway.accounts"))}, \
            path.name


def _sessions_opened(path: Path) -> bool:
    return any(isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "ClientSession"
               for node in ast.walk(ast.parse(path.read_text())))


def test_only_the_qwen_client_opens_a_session_upstream() -> None:
    # QwenClient is the one code that talks to Qwen (paths, headers, error mapping in one place); the
    # fetcher is the other HTTP client, for image URLs that clients give. The simulator plays Qwen.
    allowed = {GATEWAY / "qwen" / "client.py", GATEWAY / "fetcher.py"}
    opening = {p for p in GATEWAY.rglob("*.py") if "simulator" not in p.parts and _sessions_opened(p)}
    assert opening == allowed
