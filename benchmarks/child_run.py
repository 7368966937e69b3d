"""What the benchmark scripts that measure in a child process share: running ``SCRIPT --child SPEC``
under a chosen interpreter and environment (an ISA limit, QEMU), and publishing the result.

A child gets its own process because what it measures is fixed when the libraries load (oneDNN's ISA
limit, the CPU QEMU presents); it prints its result as JSON on its last line of output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgezoo.fsutil import atomic_path, write_json

ROOT = Path(__file__).resolve().parents[1]


def serve_child(measure: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
    """In a process started as ``SCRIPT --child SPEC``: print ``measure(spec)`` as JSON and return
    True (the script then stops); elsewhere return False."""
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))))
        return True
    return False


def add_output_options(ap: argparse.ArgumentParser, name: str) -> None:
    """``--json`` (benchmarks/results/NAME.json), ``--md`` (docs/NAME.md) and ``--from-json``."""
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / f"{name}.json")
    ap.add_argument("--md", type=Path, default=ROOT / "docs" / f"{name}.md")
    ap.add_argument("--from-json", action="store_true", help="only rewrite --md from --json (no measurement)")


def run_child(
    script: str, spec: dict[str, Any], env: dict[str, str], what: str, python: str | Path = sys.executable
) -> dict[str, Any]:
    """Run ``python script --child SPEC`` and return the JSON it printed last; a failure ends the
    script with its child's last line of error output, naming ``what`` was being run."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        out = subprocess.run(
            [str(python), script, "--child", f.name], env=env, capture_output=True, text=True, check=False
        )
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"{Path(script).stem}: {what} failed: {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def publish(doc: dict[str, Any], json_path: Path, md_path: Path, markdown: Callable[[dict[str, Any]], str]) -> None:
    """Write the result document and its markdown table (each whole or not at all), and print the table."""
    write_json(json_path, doc)
    rewrite_markdown(json_path, md_path, markdown)
    print(markdown(doc))


def rewrite_markdown(json_path: Path, md_path: Path, markdown: Callable[[dict[str, Any]], str]) -> None:
    """Regenerate the markdown from the stored JSON (``--from-json``: no new measurement)."""
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown(doc), encoding="utf-8")
