"""Make ``import torchvision`` (and so ``import timm``) work on a CPU-only torch.

Every Linux torchvision wheel on PyPI is a CUDA build. Next to a CPU build of torch its compiled
extension cannot load, and torchvision then dies at import time registering fake kernels for
operators that were never defined (``torchvision::nms``). Defining the two operator schemas first
lets the pure-Python parts of torchvision import; only the compiled detection ops stay unusable,
and nothing in edgezoo needs them. Where the extension loads, this does nothing.
"""

from __future__ import annotations

import contextlib
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
