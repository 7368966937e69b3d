"""What a benchmark ran on: CPU model and the instruction sets that decide int8/bf16 speed, cores,
memory, engine versions, and which GPUs (if any) the engines can see.

Every figure in a benchmark is only meaningful next to this block, so it is recorded with them.
"""

from __future__ import annotations

import os
import platform
import shutil
from functools import cache
from typing import Any

from edgezoo.artifact import versions
from edgezoo.host import current_host
from edgezoo.runtime.engines import ov_type_name


def _cpu() -> dict[str, Any]:
    import psutil

    host = current_host()  # model, arch, ISA flags and class: one detection for the whole package
    return {
        "model": host.model,
        "arch": host.arch,
        "flags": list(host.flags),
        "isa": host.isa_class,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def openvino_default_precision() -> str | None:
    """What OpenVINO runs a float model in on this CPU when not told (bf16 where the CPU has it, f16 on
    ARM CPUs with half-precision arithmetic)."""
    try:
        import openvino as ov

        return ov_type_name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    except Exception:  # not installed, or no CPU plugin: nothing to report
        return None


def gpu_status() -> dict[str, Any]:
    """Which GPU paths exist here, each with the reason when it does not."""
    status: dict[str, Any] = {"nvidia_smi": shutil.which("nvidia-smi") is not None}
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
    except ImportError:
        providers = []
    status["onnxruntime_providers"] = providers
    try:
        import torch

        status["torch_cuda"] = bool(torch.cuda.is_available())
        if status["torch_cuda"]:
            status["torch_cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:
        status["torch_cuda"] = False
    return status


@cache
def machine_info() -> dict[str, Any]:
    """The machine block of a benchmark result (computed once per process)."""
    return {
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu": _cpu(),
        "openvino_default_precision": openvino_default_precision(),
        "gpu": gpu_status(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions(),
    }
