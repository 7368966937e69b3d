"""Lazy re-exports for the stage packages.

Each stage's ``__init__`` names its public API without importing it: ``edgezoo list`` must not pay
for torch, ONNX Runtime or OpenVINO just because it reads a card from ``edgezoo.zoo``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_api(package: str, api: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<api[name]>`` on first use of ``name``."""

    def __getattr__(name: str) -> Any:
        if name in api:
            return getattr(import_module(f"{package}.{api[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
