"""torchvision import shim: on where the compiled extension cannot load, off where it can."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_edgezoo_then_timm_works():
    out = _python(
        """
        import edgezoo, timm, torchvision
        import torch
        print(timm.__version__, hasattr(torch.ops.torchvision, "nms"))
        """
    )
    assert out.split()[1] == "True"


def test_shim_leaves_a_working_extension_alone():
    # Simulate a torchvision whose extension registered its operators before edgezoo is imported.
    out = _python(
        """
        import torch
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import edgezoo._compat as c
        c.ensure_torchvision_importable()
        print(c._library is None)
        """
    )
    assert out == "True"


def test_import_edgezoo_and_its_cli_does_not_import_torch():
    # The fix waits for torchvision's first import: `edgezoo list`/`table` and `predict` on an
    # artifact start without PyTorch (about 0.15 s instead of 1.1 s here).
    out = _python(
        """
        import sys
        import edgezoo, edgezoo.cli
        print("torch" in sys.modules, "torchvision" in sys.modules)
        import torchvision
        import torch
        print(hasattr(torch.ops.torchvision, "nms"))
        """
    )
    assert out.splitlines() == ["False False", "True"]
