"""Emulation harness: run edgezoo (its test suite, a benchmark) on an x86 with AVX-512 as if it were an
AVX2-only host. Not imported by the suite itself; put on ``PYTHONPATH`` with the variables below
(docs/tune.md, "Running the suite as an AVX2 host"):

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 EDGEZOO_CPUINFO=$PWD/tests/data/cpuinfo/zen3.txt \\
        PYTHONPATH=$PWD/tests/emulate/avx2 python -m pytest tests

oneDNN (OpenVINO's and PyTorch's convolution kernels) honours the ISA limit, PyTorch's other kernels
follow ``ATEN_CPU_CAPABILITY``, and edgezoo takes the recorded Zen 3 as its host. OpenVINO alone reads
CPUID for its float precision: it keeps choosing bf16, which the limited oneDNN cannot run, and every
compile at the default precision fails. On a real AVX2 host OpenVINO runs f32 by default and runs a
bf16 hint as f32 (seen on the Zen 3 of issue 15), so this file makes it do exactly that. ONNX Runtime
picks its kernels from CPUID and has no switch: its int8 kernels stay the host's own.
"""

from __future__ import annotations

import os
from typing import Any

if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper().startswith("AVX2"):
    import openvino as _ov
    from openvino import _ov_api

    _PRECISION = "INFERENCE_PRECISION_HINT"
    _compile = _ov_api.Core.compile_model
    _get_property = _ov_api.Core.get_property

    def _compile_model(
        self: Any, model: Any, device_name: str | None = None, config: dict | None = None, **kwargs: Any
    ) -> Any:
        config = dict(config or {})
        if device_name is None or str(device_name).upper() == "AUTO":
            device_name = "CPU"  # AUTO would pick the CPU here, without passing the hint on to it
        hint = config.get(_PRECISION)
        if str(device_name).upper().startswith("CPU") and str(hint).lower() in ("none", "bf16", "bfloat16"):
            config[_PRECISION] = "f32"
        return _compile(self, model, device_name, config, **kwargs)

    def _property(self: Any, *args: Any) -> Any:
        if len(args) == 2 and str(args[0]).upper() == "CPU" and args[1] == _PRECISION:
            return _ov.Type.f32
        return _get_property(self, *args)

    _ov_api.Core.compile_model = _compile_model
    _ov_api.Core.get_property = _property
