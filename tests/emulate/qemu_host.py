"""Emulation harness: a Python that runs this venv inside QEMU user mode as another x86 CPU model.

    python tests/emulate/qemu_host.py DIR [--cpu EPYC-Milan]
    EDGEZOO_CPUINFO=$PWD/tests/data/cpuinfo/zen3.txt DIR/bin/python -m pytest -n 2 tests/test_quantize.py

The default CPU model, ``EPYC-Milan``, is the Zen 3 of issue 15: AVX2 and FMA, no AVX-512, no VNNI,
no BF16. Unlike ``tests/emulate/avx2`` (oneDNN told to stop at AVX2, on this CPU's CPUID), every
library here reads one consistent CPUID: ONNX Runtime's MLAS picks its AVX2 int8 kernels (the u8 x s8
pairs summed in 16 bits, saturation included), OpenVINO sees no bf16 and runs f32 by default, and
OpenVINO's own JIT kernels agree with oneDNN's (under the oneDNN limit they did not, and
edgenext_xx_small crashed).

What it costs and what it does not show:
- QEMU translates every instruction (TCG): tests/test_export.py took 46 s natively and 1271 s under it
  on a Zen 4. Use it for correctness and fidelity, never for timing.
- CPU features that QEMU's translator does not implement (SHA, RDSEED, ...) are switched off in the
  model, so that QEMU prints no warning into the output that tests read.
- QEMU passes the host's ``/proc/cpuinfo`` through: give edgezoo the emulated host's with
  ``EDGEZOO_CPUINFO`` (recorded ones are in tests/data/cpuinfo).
- Processes started from ``sys.executable`` (pytest-xdist workers, ``python -m edgezoo.cli``) run
  emulated too: the wrapper is their ``sys.executable``. A binary started by path (Ray's raylet, a
  console script whose shebang names the real interpreter) runs natively.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_CPU = "EPYC-Milan"
QEMU = "qemu-x86_64"
# QEMU 7.2: "qemu-x86_64: warning: TCG doesn't support requested feature: CPUID.07H:EBX.rdseed [bit 18]"
_UNSUPPORTED = re.compile(r"TCG doesn't support requested feature: \S+?\.([A-Za-z0-9_-]+) \[bit \d+\]")


def unsupported_features(warnings: str) -> list[str]:
    """The CPU features QEMU said it cannot translate, from its start-up warnings, sorted, once each."""
    return sorted(set(_UNSUPPORTED.findall(warnings)))


def cpu_option(cpu: str, qemu: str = QEMU) -> str:
    """``-cpu`` value: the model with every feature QEMU cannot translate switched off."""
    probe = subprocess.run([qemu, "-cpu", cpu, "/bin/true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise SystemExit(f"{qemu} -cpu {cpu}: {(probe.stderr.strip().splitlines() or ['failed'])[-1]}")
    return ",".join([cpu] + [f"{f}=off" for f in unsupported_features(probe.stderr)])


def make_python(out: Path, cpu: str = DEFAULT_CPU, qemu: str = QEMU) -> Path:
    """Write ``out/bin/python``: this venv's interpreter under QEMU as ``cpu``. Returns its path.

    ``out`` is a venv of its own (pyvenv.cfg, ``lib`` linked to this venv's), so that the wrapper,
    being ``sys.executable``, finds the same packages and starts its children the same way."""
    if sys.prefix == sys.base_prefix:
        raise SystemExit("run this with a virtual environment's Python (the wrapper reuses its packages)")
    found = shutil.which(qemu)
    if found is None:
        raise SystemExit(f"{qemu} not found: install QEMU user mode (Debian: apt-get install qemu-user)")
    option = cpu_option(cpu, found)
    venv = Path(sys.prefix)
    (out / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(venv / "pyvenv.cfg", out / "pyvenv.cfg")
    _relink(out / "lib", venv / "lib")
    real = os.path.realpath(sys.executable)
    python = out / "bin" / "python"
    python.write_text(
        "#!/bin/sh\n"
        f"# {__doc__.splitlines()[0]}\n"
        f'exec {shlex.quote(found)} -cpu {shlex.quote(option)} -0 "$0" {shlex.quote(real)} "$@"\n',
        encoding="utf-8",
    )
    python.chmod(0o755)
    for alias in ("python3", f"python3.{sys.version_info.minor}"):
        _relink(out / "bin" / alias, Path("python"))
    return python


def _relink(link: Path, target: Path) -> None:
    """``link`` -> ``target``, replacing what a previous run left there."""
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder to write the wrapper venv to")
    ap.add_argument("--cpu", default=DEFAULT_CPU, help=f"QEMU CPU model (qemu-x86_64 -cpu help); default {DEFAULT_CPU}")
    args = ap.parse_args()
    print(make_python(args.out, args.cpu))


if __name__ == "__main__":
    main()
