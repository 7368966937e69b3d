"""Make ``import torchvision`` (and so ``import timm``) work on a CPU-only torch.

Every Linux torchvision wheel on PyPI is a CUDA build. Next to a CPU build of torch its compiled
extension cannot load, and torchvision then dies at import time registering fake kernels for
operators that were never defined (``torchvision::nms``). Defining the two operator schemas first
lets the pure-Python parts of torchvision import; only the compiled detection ops stay unusable,
and nothing in edgezoo needs them. Where the extension loads, this does nothing.

The fix costs an ``import torch`` (about 1 s), which commands that never touch PyTorch (``list``,
``predict`` on an artifact, ``table``) should not pay: :func:`install` only puts a finder on
``sys.meta_path`` that applies it the moment something first imports torchvision (timm does).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # keeps the registration alive for the life of the process


def _torchvision_ops_missing() -> bool:
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 - attribute lookup is the check
    except (AttributeError, RuntimeError):
        return True
    return False


def ensure_torchvision_importable() -> None:
    """Define torchvision's NMS schemas when its compiled extension did not register them."""
    global _library
    if _library is not None or importlib.util.find_spec("torchvision") is None:
        return
    if "torchvision" in sys.modules:
        return
    import torch

    # Load torchvision's own extension first (as its import would); only when that leaves the
    # operators undefined do we step in.
    spec = importlib.util.find_spec("torchvision")
    folder = Path(spec.origin).parent if spec and spec.origin else None
    for lib in folder.glob("_C*.so") if folder else ():
        with contextlib.suppress(OSError, RuntimeError):
            torch.ops.load_library(str(lib))
    if not _torchvision_ops_missing():
        return
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _library.define(schema)


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs :func:`ensure_torchvision_importable` just before torchvision's first import, then leaves."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "torchvision":
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)
            ensure_torchvision_importable()
        return None  # never finds anything itself: the normal finders import torchvision


def install() -> None:
    """Have the torchvision fix run at torchvision's first import (nothing to do once it is imported)."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        sys.meta_path.insert(0, _BeforeTorchvision())
