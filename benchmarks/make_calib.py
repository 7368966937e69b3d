"""Write a calibration folder of views of the real photos that ship inside installed packages.

    python benchmarks/make_calib.py calib [--photos chelsea,astronaut,rocket,hubble_deep_field] [--per-photo 50]

The documented benchmark runs calibrate on this folder (200 views of four photos by default, the
split-A calibration set of benchmarks/quantize_targets.py), so a reader can rebuild what they used
offline. Every bundled photo is listed with ``--photos all``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgezoo.inputs.samples import more_photos, sample_photos, write_photo_variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--photos", default="chelsea,astronaut,rocket,hubble_deep_field", help="photo stems, or all")
    ap.add_argument("--per-photo", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    found = {p.stem: p for p in sample_photos() + more_photos()}
    names = list(found) if args.photos == "all" else [n for n in args.photos.split(",") if n]
    missing = [n for n in names if n not in found]
    if missing:
        sys.exit(f"make_calib: error: photos not installed: {', '.join(missing)} (have: {', '.join(found)})")
    written = write_photo_variants([found[n] for n in names], args.out_dir, args.per_photo, seed=args.seed)
    print(f"wrote {len(written)} views of {len(names)} photos to {args.out_dir}")


if __name__ == "__main__":
    main()
