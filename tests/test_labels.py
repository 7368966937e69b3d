"""ImageNet-1k class names: edgezoo's stored table equals timm's, and reading it imports no timm/PyTorch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgezoo.evaluate.datasets import imagenet_synsets
from edgezoo.zoo.labels import imagenet_labels


def test_the_stored_table_is_timms():
    timm_data = pytest.importorskip("timm.data", reason="timm is what the table is checked against")
    info = timm_data.ImageNetInfo("imagenet-1k")
    ours = imagenet_labels()
    assert len(ours) == info.num_classes() == 1000
    assert [(c.index, c.synset, c.label) for c in ours] == [
        (i, info.index_to_label_name(i), info.index_to_description(i)) for i in range(1000)
    ]
    assert imagenet_synsets() == tuple(info.label_names())
    assert imagenet_synsets() == tuple(sorted(imagenet_synsets()))  # timm's class index is sorted WordNet ids


def test_labels_need_no_timm_or_pytorch():
    """What predict and eval read on a device without PyTorch (the ARM tree of tests/emulate/qemu_arm.py)."""
    code = (
        "import sys; from edgezoo.zoo.labels import imagenet_labels; from edgezoo.evaluate.datasets import"
        " imagenet_synsets; labels = imagenet_labels(); assert imagenet_synsets()[967] == labels[967].synset;"
        " print(labels[967].label, 'timm' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-400:]
    assert out.stdout.split() == ["espresso", "False", "False"]
