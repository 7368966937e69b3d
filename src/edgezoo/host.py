"""The CPU this process runs on: model, architecture, the instruction sets that decide int8/bf16
speed and int8 arithmetic, and an "ISA class" that names hosts which run the same kernels.

Why a class and not the flag list: two hosts with the same class pick the same int8 and float
kernels in ONNX Runtime and OpenVINO, so a recipe measured on one (speed, and on x86 without VNNI
even fidelity: 16-bit intermediate sums can saturate) carries over to the other. Configs and
artifact cards record the class; ``predict``/``bench``/``eval`` compare it with this host's.

Detection reads ``/proc/cpuinfo`` (x86 ``flags``, ARM ``Features``) with :mod:`platform` for the
architecture, and falls back to py-cpuinfo where there is no ``/proc`` (macOS, Windows). Parsing
is a pure function of the text, so it is tested on recorded cpuinfo of hosts we cannot reach.

``EDGEZOO_CPUINFO=FILE`` makes edgezoo take a recorded cpuinfo as this host: to quantize for the
host an artifact will run on (7-bit weights for an AVX2 fleet from a VNNI build machine), and, with
oneDNN limited to that host's ISA (``ONEDNN_MAX_CPU_ISA``), to run its code paths end to end.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from edgezoo.errors import EdgezooError

CPUINFO = Path("/proc/cpuinfo")
CPUINFO_ENV = "EDGEZOO_CPUINFO"  # a recorded cpuinfo file to take as this host (see the module docstring)

# Flags that change which kernels the engines pick, in /proc/cpuinfo's spelling.
FLAGS_OF_INTEREST = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "amx_fp16",
    "asimd",
    "asimdhp",
    "asimddp",
    "i8mm",
    "bf16",
)
# py-cpuinfo and some kernels drop the underscore (avx512vnni); map those back.
_ALIASES = {f.replace("_", ""): f for f in FLAGS_OF_INTEREST if "_" in f}
ISA_CLASSES = (
    "amx",
    "avx512-vnni-bf16",
    "avx512-vnni",
    "avx512",
    "avx2-vnni",
    "avx2",
    "x86",
    "arm-neon-i8mm",
    "arm-neon-dotprod",
    "arm-neon",
    "arm",
    "unknown",
)
# What a config that says nothing about its host was measured on: every shipped choice before
# 2026-12-02 was timed on the project's AMD EPYC Zen 4 hosts (docs/benchmarks.md).
DEFAULT_MEASURED_ON = {"isa": "avx512-vnni-bf16", "cpu": "AMD EPYC (Zen 4)"}


@dataclass(frozen=True)
class Host:
    """One CPU as far as the engines' kernel choice goes."""

    model: str
    arch: str  # x86_64 | aarch64 | ...
    flags: tuple[str, ...]  # the FLAGS_OF_INTEREST present, in that order

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def is_x86(self) -> bool:
        return self.arch in ("x86_64", "amd64", "i686", "i386", "x86")

    @property
    def is_arm(self) -> bool:
        return self.arch.startswith(("aarch64", "arm"))

    @property
    def int8_dot_product(self) -> bool:
        """Whether int8 multiply-accumulate runs without 16-bit intermediates (VNNI, AMX, ARM dot product).

        x86 without it multiplies u8 x s8 with ``vpmaddubsw``, whose pairwise 16-bit sums saturate
        for large activations and weights; ONNX Runtime's quantization guide advises 7-bit weights
        (``reduce_range``) there. ARM without dotprod widens products to 16 bits and accumulates in
        32, which cannot saturate.
        """
        if self.is_x86:
            return any(self.has(f) for f in ("avx512_vnni", "avx_vnni", "amx_int8"))
        return True

    @property
    def bf16(self) -> bool:
        """Whether the CPU computes in bf16 (OpenVINO's default float precision is bf16 only there)."""
        if self.is_x86:
            return self.has("avx512_bf16") or self.has("amx_bf16")
        return self.has("bf16")

    @property
    def float16(self) -> bool:
        """Whether OpenVINO's default float precision here is f16: ARM CPUs with half-precision vector
        arithmetic (``asimdhp``, ARMv8.2+). Measured: OpenVINO 2026.4's aarch64 plugin on an emulated
        Cortex-A55 reports ``INFERENCE_PRECISION_HINT`` float16 (docs/tune.md, "ARM hosts")."""
        return self.is_arm and self.has("asimdhp")

    @property
    def isa_class(self) -> str:
        return isa_class(self.arch, self.flags)

    @property
    def label(self) -> str:
        """The CPU and its ISA class, as messages name a host: "Cortex-A55, arm-neon-dotprod"."""
        return f"{self.model}, {self.isa_class}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flags": list(self.flags), "isa": self.isa_class}


def isa_class(arch: str, flags: tuple[str, ...] | list[str]) -> str:
    """The class of hosts that run the same int8/bf16 kernels (one of :data:`ISA_CLASSES`)."""
    have = set(flags)
    if arch in ("x86_64", "amd64", "i686", "i386", "x86"):
        if "amx_tile" in have and "amx_int8" in have:
            return "amx"
        if "avx512f" in have and "avx512_vnni" in have:
            return "avx512-vnni-bf16" if "avx512_bf16" in have else "avx512-vnni"
        if "avx512f" in have:
            return "avx512"
        if "avx2" in have:
            return "avx2-vnni" if "avx_vnni" in have else "avx2"
        return "x86"
    if arch.startswith(("aarch64", "arm")):
        if "asimd" not in have:
            return "arm"
        if "i8mm" in have:
            return "arm-neon-i8mm"
        return "arm-neon-dotprod" if "asimddp" in have else "arm-neon"
    return "unknown"


def _field(text: str, names: tuple[str, ...]) -> str | None:
    """The first processor's value of the first of ``names`` present in cpuinfo text."""
    for name in names:
        match = re.search(rf"^{re.escape(name)}\s*:\s*(.*)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return None


_ARM_PARTS = {  # CPU part (MIDR) -> core name, for boards whose cpuinfo has no "model name"
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd08": "Cortex-A72",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd40": "Neoverse-V1",
    "0xd41": "Cortex-A78",
    "0xd4f": "Neoverse-V2",
    "0xd49": "Neoverse-N2",
}


def parse_cpuinfo(text: str, arch: str) -> Host:
    """A :class:`Host` from ``/proc/cpuinfo`` text (x86 ``flags``, ARM ``Features``)."""
    raw = (_field(text, ("flags", "Features")) or "").split()
    present = {_ALIASES.get(f, f) for f in raw}
    flags = tuple(f for f in FLAGS_OF_INTEREST if f in present)
    model = _field(text, ("model name", "cpu model"))
    part = _ARM_PARTS.get((_field(text, ("CPU part",)) or "").lower())
    if part:  # ARM: the core from its part number, and the board where the kernel names it
        board = _field(text, ("Model", "Hardware"))
        model = f"{part} ({board})" if board else part
    model = model or "unknown"
    return Host(model=model, arch=arch, flags=flags)


def _normal_arch(machine: str) -> str:
    machine = machine.lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _recorded_host(path: Path) -> Host:
    """The host a recorded cpuinfo file describes; its architecture from its own fields."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise EdgezooError(f"{path}: cannot read it as {CPUINFO_ENV} ({exc.strerror or exc})") from None
    arch = "x86_64" if _field(text, ("flags",)) else "aarch64" if _field(text, ("Features",)) else ""
    if not arch:
        raise EdgezooError(f"{path}: not a cpuinfo file ({CPUINFO_ENV}): it has no 'flags' or 'Features' line")
    return parse_cpuinfo(text, arch)


@cache
def current_host() -> Host:
    """This process's CPU (computed once), or the recorded one ``EDGEZOO_CPUINFO`` names."""
    recorded = os.environ.get(CPUINFO_ENV)
    if recorded:
        return _recorded_host(Path(recorded))
    arch = _normal_arch(platform.machine())
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    if text.strip():
        host = parse_cpuinfo(text, arch)
        if host.flags or host.model != "unknown":
            return host
    try:  # no /proc: ask py-cpuinfo (CPUID on x86, sysctl on macOS)
        import cpuinfo

        info = cpuinfo.get_cpu_info()
        present = {_ALIASES.get(f, f) for f in info.get("flags", [])}
        flags = tuple(f for f in FLAGS_OF_INTEREST if f in present)
        return Host(info.get("brand_raw") or platform.processor() or "unknown", arch, flags)
    except Exception:  # py-cpuinfo missing or failing: the architecture alone
        return Host(platform.processor() or "unknown", arch, ())


def host_record() -> dict[str, Any]:
    """What an artifact card or a result records about the host: CPU model, arch, flags, ISA class."""
    return current_host().to_dict()


def isa_mismatch(recorded: dict[str, Any] | None, host: Host | None = None) -> str | None:
    """One line saying the recorded host's ISA class differs from this one, or None when it matches
    (or nothing was recorded)."""
    if not isinstance(recorded, dict) or not recorded.get("isa"):
        return None
    host = host or current_host()
    if recorded["isa"] == host.isa_class:
        return None
    cpu = f" ({recorded['cpu']})" if recorded.get("cpu") else ""
    return f"measured on {recorded['isa']}{cpu}, this host is {host.isa_class} ({host.model})"


def card_notice(card: dict[str, Any], host: Host | None = None) -> str | None:
    """One line for an artifact card made on another class of host (its speed claim may not hold
    here, and 8-bit weights can saturate on x86 without VNNI), or None when nothing differs.

    The card's ``host`` (where it was quantized or tuned, and its fidelity measured) wins over its
    config's ``measured_on`` (where the recipe was timed); float exports record neither.
    """
    host = host or current_host()
    quantization = card.get("quantization") or {}
    recorded = card.get("host") or quantization.get("measured_on")
    parts = []
    differs = isa_mismatch(recorded, host)
    if differs:
        parts.append(f"{differs}: its speed figures may not hold here (edgezoo tune picks a recipe for this host)")
    seven_bit = (quantization.get("reduce_range") or {}).get("weights_7_bit")
    weights = ((quantization.get("config") or {}).get("engine") or {}).get("weights", "int8")
    if seven_bit is False and weights == "int8" and not host.int8_dot_product:  # uint8 weights cannot saturate
        parts.append("its 8-bit weights can saturate in this CPU's int8 arithmetic (no VNNI): re-quantize here")
    if not parts:
        return None
    return f"{card.get('file') or card.get('model', 'artifact')}: " + "; ".join(parts)
