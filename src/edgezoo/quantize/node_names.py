"""Node names written for another implementation of a model -> the names in edgezoo's (timm) export.

Configs name ONNX nodes, and those names come from the PyTorch module path of the code that was
exported. The RDK model zoo's FastViT YAMLs were written against Apple's ``ml-fastvit`` code
(``/network.7/network.7.0/token_mixer/Softmax``, ``/patch_embed/patch_embed.0/activation/Mul_1``),
while edgezoo exports timm's port of the same network (``/stages.3/blocks/blocks.0/token_mixer/Softmax``,
``/stem/stem.0/act/Mul_1``). The weights are the same, so are the nodes: only the path differs.

Apple keeps one flat ``network`` list: per stage, its downsampling ``PatchEmbed`` (``proj``), its
positional embedding (``RepCPE``, the attention stages only) and its blocks, in that order; timm keeps
the same three parts under ``stages.N`` as ``downsample``, ``pos_emb`` and ``blocks``. The layout is
read off the export's own node names, so it fits every FastViT size without a table per model. The
attribute renames are those timm applies to Apple's checkpoints (``timm.models.fastvit.checkpoint_filter_fn``).
EfficientFormer's zoo names already are timm's: nothing to translate.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# Apple ml-fastvit attribute -> timm attribute (as timm's checkpoint_filter_fn renames weights).
_RENAMES = (
    ("patch_embed", "stem"),
    ("activation", "act"),
    ("convffn", "mlp"),
    ("rbr_conv", "conv_kxk"),
    ("rbr_scale", "conv_scale"),
    ("rbr_skip", "identity"),
    ("lkb_origin", "large_conv"),
    ("conv_exp", "final_conv"),
)
_FLAT = re.compile(r"^/network\.(\d+)(/.*)$")
_STAGE = re.compile(r"^/stages\.(\d+)/")


def _rename(path: str) -> str:
    for old, new in _RENAMES:
        path = re.sub(rf"(?<![A-Za-z0-9_]){old}(?![A-Za-z_])", new, path)
    return path


def _flat_layout(names: Collection[str]) -> list[tuple[str, int]]:
    """Apple's ``network`` indices as (part, stage) pairs, read from which timm stage parts exist."""
    stages = sorted({int(m.group(1)) for n in names if (m := _STAGE.match(n))})
    layout: list[tuple[str, int]] = []
    for s in stages:
        for part in ("downsample", "pos_emb"):
            if any(n.startswith(f"/stages.{s}/{part}/") for n in names):
                layout.append((part, s))
        layout.append(("blocks", s))
    return layout


def translate(name: str, names: Collection[str]) -> str | None:
    """The node of ``names`` (an export's node names) that ``name`` means, or None."""
    candidate = _rename(name)
    m = _FLAT.match(candidate)
    if m:
        layout = _flat_layout(names)
        index, rest = int(m.group(1)), m.group(2)
        if index >= len(layout):
            return None
        part, stage = layout[index]
        if part == "blocks":
            block = re.match(rf"^/network\.{index}\.(\d+)(/.*)$", rest)
            if block is None:
                return None
            candidate = f"/stages.{stage}/blocks/blocks.{block.group(1)}{block.group(2)}"
        else:
            candidate = f"/stages.{stage}/{part}{rest}"
    return candidate if candidate in names and candidate != name else None
