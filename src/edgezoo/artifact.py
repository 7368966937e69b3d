"""Artifacts: an .onnx file plus its JSON card, the unit that is copied to a device.

Every later stage (quantize, predict, bench, eval) reads a model through this card, so the card
says everything a device needs: input name, shape, layout, dtype and pixel format, preprocessing,
output meaning, where the weights came from, and how it was checked.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import shlex
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import onnx

from edgezoo.errors import EdgezooError
from edgezoo.fsutil import atomic_path, ensure_dir

FORMAT_VERSION = 1
_VERSIONED = ("edgezoo", "torch", "timm", "onnx", "onnxruntime", "onnxslim", "openvino", "nncf", "numpy")


@dataclass(frozen=True)
class Artifact:
    """An ONNX model on disk and the card that describes it."""

    onnx_path: Path
    card: dict[str, Any]

    @property
    def card_path(self) -> Path:
        return self.onnx_path.with_suffix(".json")

    @property
    def model_name(self) -> str:
        return str(self.card["model"])


def versions() -> dict[str, str]:
    """Versions of the packages that shaped an artifact or a measurement."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def command_line() -> str:
    """The command that is running, as a user would retype it."""
    prog = Path(sys.argv[0]).name if sys.argv else "edgezoo"
    return shlex.join(["edgezoo" if prog in {"edgezoo", "__main__.py", "cli.py"} else prog, *sys.argv[1:]])


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_artifact(model: onnx.ModelProto, card: dict[str, Any], out_dir: Path, stem: str) -> Artifact:
    """Write ``stem.onnx`` and ``stem.json`` into ``out_dir``, each atomically.

    The card gains the file name, size and sha256 of the bytes actually written.
    """
    ensure_dir(out_dir)
    payload = model.SerializeToString()
    onnx_path = out_dir / f"{stem}.onnx"
    full = {
        "edgezoo_artifact": FORMAT_VERSION,
        **card,
        "file": onnx_path.name,
        "size_bytes": len(payload),
        "sha256": sha256_bytes(payload),
    }
    with atomic_path(onnx_path) as tmp_onnx, atomic_path(onnx_path.with_suffix(".json")) as tmp_json:
        tmp_onnx.write_bytes(payload)
        tmp_json.write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return Artifact(onnx_path, full)


def read_artifact(path: str | Path) -> Artifact:
    """Open an artifact from its .onnx or .json path, refusing files that edgezoo did not write."""
    path = Path(path)
    onnx_path = path.with_suffix(".onnx")
    card_path = path.with_suffix(".json")
    if not onnx_path.is_file():
        raise EdgezooError(f"{onnx_path}: file not found")
    if not card_path.is_file():
        raise EdgezooError(f"{onnx_path}: not an edgezoo artifact (no card {card_path.name} beside it)")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgezooError(f"{card_path}: unreadable artifact card ({exc})") from exc
    if not isinstance(card, dict) or card.get("edgezoo_artifact") != FORMAT_VERSION:
        raise EdgezooError(f"{card_path}: not an edgezoo artifact card (format {FORMAT_VERSION} expected)")
    return Artifact(onnx_path, card)


def is_artifact_path(arg: str) -> bool:
    """Whether a MODEL|ARTIFACT argument names a file rather than a model."""
    return arg.endswith((".onnx", ".json")) or Path(arg).is_file()
