"""Evaluation data: find the images of an ImageNet-style dataset and the class each one belongs to.

People keep the ImageNet validation set in several layouts; all of them end up here as one sorted
list of (image, timm class index) pairs:

- ``imagefolder``: one folder per class named by its WordNet id (``n01440764/*.JPEG``), as
  torchvision's ImageFolder and timm's training scripts expect.
- ``ilsvrc2012``: the flat ``ILSVRC2012_val_XXXXXXXX.JPEG`` files with the devkit's
  ``ILSVRC2012_validation_ground_truth.txt``: line k holds the ILSVRC2012_ID (1..1000) of image k.
  ILSVRC2012_IDs are *not* timm's class order; the devkit's id -> WordNet id table is shipped in
  ``data/ilsvrc2012_wnids.txt``.
- ``kaggle``: the Kaggle ImageNet challenge's ``LOC_val_solution.csv`` (``ImageId,PredictionString``,
  the first WordNet id of the prediction string is the class).
- ``list``: ``filename label`` lines with 0-based timm class indices (the seeds' ``val.txt``); a WordNet
  id is accepted in place of the index.

Problems in the ground truth (files it names that are not there, labels that are not classes of the
model, entries given twice) fail the run with their counts unless the caller asks to skip them: an
accuracy computed on silently dropped images is not the accuracy the user thinks it is.
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from edgezoo.errors import EdgezooError
from edgezoo.inputs.preprocess import IMAGE_SUFFIXES, find_images
from edgezoo.zoo.labels import data_lines, imagenet_labels

FORMATS = ("imagefolder", "ilsvrc2012", "kaggle", "list")
# The name each ground-truth format usually has; other .txt/.csv files are recognised by content.
LABEL_FILE_NAMES = {
    "ilsvrc2012": "ILSVRC2012_validation_ground_truth.txt",
    "kaggle": "LOC_val_solution.csv",
    "list": "val.txt",
}
_WNID = re.compile(r"n\d{8}")
_ILSVRC_STEM = re.compile(r"ILSVRC2012_val_(\d{8})")
# What can be wrong with a ground truth; all of them are fatal unless skip_invalid is set.
INVALID = ("missing_files", "unknown_labels", "labels_out_of_range", "duplicate_entries")


@dataclass(frozen=True)
class Sample:
    """One image and its ground truth as a 0-based index into the model's classes."""

    path: Path
    label: int


@dataclass
class Dataset:
    """The labelled images found, in sorted order, and what was wrong with the rest."""

    root: Path
    format: str
    label_file: Path | None
    samples: list[Sample]
    images_found: int
    issues: dict[str, int] = field(default_factory=dict)  # INVALID kinds + "unlabelled_images"
    examples: dict[str, str] = field(default_factory=dict)  # first occurrence of each issue
    notes: list[str] = field(default_factory=list)

    @property
    def classes(self) -> int:
        return len({s.label for s in self.samples})

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "format": self.format,
            "label_file": str(self.label_file) if self.label_file else None,
            "images_found": self.images_found,
            "labelled": len(self.samples),
            "classes": self.classes,
            "issues": dict(self.issues),
            "issue_examples": dict(self.examples),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------
# Class spaces
# --------------------------------------------------------------------------------------------


@cache
def imagenet_synsets() -> tuple[str, ...]:
    """ImageNet-1k WordNet ids in timm's class-index order (sorted), from edgezoo's copy of timm's table
    (no timm import: it needs PyTorch, which a device running artifacts may lack)."""
    return tuple(label.synset or "" for label in imagenet_labels())


@cache
def ilsvrc2012_wnids() -> tuple[str, ...]:
    """WordNet id of each ILSVRC2012_ID (index 0 is id 1), the devkit's meta.mat order."""
    return tuple(data_lines("ilsvrc2012_wnids.txt"))


def class_index(wnid: str, synsets: tuple[str, ...] | None) -> int | None:
    """timm class index of a WordNet id, None when the model has no such class."""
    if synsets is None:
        return None
    index = _synset_index(synsets)
    return index.get(wnid)


@cache
def _synset_index(synsets: tuple[str, ...]) -> dict[str, int]:
    return {s: i for i, s in enumerate(synsets)}


# --------------------------------------------------------------------------------------------
# Collecting issues
# --------------------------------------------------------------------------------------------


class _Collector:
    """Samples plus counted problems, each problem remembered once with where it was seen."""

    def __init__(self) -> None:
        self.samples: dict[Path, Sample] = {}
        self.issues: dict[str, int] = defaultdict(int)
        self.examples: dict[str, str] = {}

    def problem(self, kind: str, where: str, count: int = 1) -> None:
        self.issues[kind] += count
        self.examples.setdefault(kind, where)

    def add(self, path: Path, label: int, where: str) -> None:
        if path in self.samples:
            self.problem("duplicate_entries", where)
            return
        self.samples[path] = Sample(path, label)


_DESCRIBE = {
    "missing_files": "named in the ground truth but not found",
    "unknown_labels": "with a label that is not one of the model's classes",
    "labels_out_of_range": "with a class index out of range",
    "duplicate_entries": "listed more than once",
}


def _finish(
    collector: _Collector,
    root: Path,
    fmt: str,
    label_file: Path | None,
    images: list[Path],
    skip_invalid: bool,
    notes: list[str],
) -> Dataset:
    invalid = {k: collector.issues[k] for k in INVALID if collector.issues.get(k)}
    source = label_file or root
    if invalid and not skip_invalid:
        parts = [f"{n} {_DESCRIBE[k]} (first: {collector.examples[k]})" for k, n in invalid.items()]
        raise EdgezooError(f"{source}: {'; '.join(parts)}; pass --skip-invalid to evaluate the other images")
    labelled = set(collector.samples)
    unlabelled = [p for p in images if p not in labelled]
    if unlabelled:
        collector.problem("unlabelled_images", str(unlabelled[0].relative_to(root)), len(unlabelled))
    samples = sorted(collector.samples.values(), key=lambda s: s.path.relative_to(root).parts)
    if not samples:
        raise EdgezooError(f"{source}: no labelled images to evaluate ({fmt} format)")
    issues = {k: v for k, v in collector.issues.items() if v}
    return Dataset(root, fmt, label_file, samples, len(images), issues, dict(collector.examples), notes)


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-empty, non-comment lines of a text file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgezooError(f"{path}: cannot read the label file ({exc})") from exc
    return [(i, s) for i, line in enumerate(text.splitlines(), 1) if (s := line.strip()) and not s.startswith("#")]


def _by_stem(images: list[Path]) -> dict[str, Path]:
    """Images by file name without suffix (the first in sorted order wins when names repeat)."""
    index: dict[str, Path] = {}
    for p in images:
        index.setdefault(p.stem, p)
    return index


def _imagefolder(root: Path, images: list[Path], synsets: tuple[str, ...] | None, c: _Collector) -> list[str]:
    """Class = the first folder under the root; loose files at the top count as unlabelled."""
    for p in images:
        rel = p.relative_to(root)
        if len(rel.parts) < 2:
            continue  # a loose file at the top: counted as unlabelled
        label = class_index(rel.parts[0], synsets)
        if label is None:
            c.problem("unknown_labels", f"folder {rel.parts[0]}/")
        else:
            c.add(p, label, str(rel))
    return ["labels: class folder's WordNet id -> timm's class index"]


def _ilsvrc2012(
    root: Path, images: list[Path], label_file: Path, synsets: tuple[str, ...] | None, c: _Collector
) -> list[str]:
    ids: list[tuple[int, int]] = []
    for lineno, text in _read_lines(label_file):
        if not text.isdigit():
            raise EdgezooError(f"{label_file}:{lineno}: expected one ILSVRC2012_ID (1..1000) per line, got {text!r}")
        ids.append((lineno, int(text)))
    if not ids:
        raise EdgezooError(f"{label_file}: no labels in the file")
    by_number = {int(m.group(1)): p for p in images if (m := _ILSVRC_STEM.fullmatch(p.stem))}
    notes = ["labels: ILSVRC2012_ID -> WordNet id by the devkit's meta.mat table, then timm's class index"]
    numbers = [k for k, _ in enumerate(ids, 1)]
    if any(k not in by_number for k in numbers) and len(by_number) == len(ids):
        # The ground truth of an extract: as many lines as images, numbered otherwise. Line k then
        # belongs to the k-th image in sorted file name order, which is how the full file is ordered.
        ordered = [by_number[n] for n in sorted(by_number)]
        targets = dict(zip(numbers, ordered, strict=True))
        notes.append("image numbers do not run 1..N: line k was given to the k-th ILSVRC2012_val file in sorted order")
    else:
        targets = {k: by_number[k] for k in numbers if k in by_number}
    wnids = ilsvrc2012_wnids()
    for k, (lineno, ilsvrc_id) in enumerate(ids, 1):
        where = f"line {lineno}"
        if not 1 <= ilsvrc_id <= len(wnids):
            c.problem("labels_out_of_range", f"{where}: {ilsvrc_id} (ILSVRC2012_IDs run 1..{len(wnids)})")
            continue
        path = targets.get(k)
        if path is None:
            c.problem("missing_files", f"{where}: ILSVRC2012_val_{k:08d}.JPEG")
            continue
        label = class_index(wnids[ilsvrc_id - 1], synsets)
        if label is None:
            c.problem("unknown_labels", f"{where}: {wnids[ilsvrc_id - 1]}")
            continue
        c.add(path, label, where)
    return notes


def _kaggle(
    root: Path, images: list[Path], label_file: Path, synsets: tuple[str, ...] | None, c: _Collector
) -> list[str]:
    try:
        with label_file.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EdgezooError(f"{label_file}: cannot read the CSV file ({exc})") from exc
    if not rows or [h.strip() for h in rows[0][:2]] != ["ImageId", "PredictionString"]:
        raise EdgezooError(f"{label_file}: expected a header 'ImageId,PredictionString' (Kaggle LOC_val_solution.csv)")
    stems = _by_stem(images)
    for lineno, row in enumerate(rows[1:], 2):
        if not row or not any(cell.strip() for cell in row):
            continue
        where = f"line {lineno}"
        tokens = row[1].split() if len(row) > 1 else []
        if not tokens:
            raise EdgezooError(f"{label_file}:{lineno}: no WordNet id in PredictionString")
        image_id = row[0].strip()
        path = stems.get(Path(image_id).stem if Path(image_id).suffix.lower() in IMAGE_SUFFIXES else image_id)
        label = class_index(tokens[0], synsets)
        if path is None:
            c.problem("missing_files", f"{where}: {image_id}")
        elif label is None:
            c.problem("unknown_labels", f"{where}: {tokens[0]}")
        else:
            c.add(path, label, where)
    return ["labels: first WordNet id of PredictionString -> timm's class index"]


def _list(
    root: Path,
    images: list[Path],
    label_file: Path,
    synsets: tuple[str, ...] | None,
    num_classes: int,
    c: _Collector,
) -> list[str]:
    stems = _by_stem(images)
    by_rel = {p.relative_to(root).as_posix(): p for p in images}
    lines = _read_lines(label_file)
    if not lines:
        raise EdgezooError(f"{label_file}: no labels in the file")
    for lineno, text in lines:
        parts = text.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise EdgezooError(f"{label_file}:{lineno}: expected 'filename label', got {text!r}")
        name, raw = parts
        where = f"line {lineno}: {name}"
        if raw.lstrip("-").isdigit():  # negative numbers are reported as out of range
            label: int | None = int(raw)
            if not 0 <= label < num_classes:
                c.problem("labels_out_of_range", f"line {lineno}: {raw} (0..{num_classes - 1})")
                continue
        elif _WNID.fullmatch(raw):
            label = class_index(raw, synsets)
            if label is None:
                c.problem("unknown_labels", f"line {lineno}: {raw}")
                continue
        else:
            raise EdgezooError(f"{label_file}:{lineno}: label {raw!r} is neither a class index nor a WordNet id")
        path = by_rel.get(posixpath.normpath(name.replace("\\", "/")))
        if path is None and not Path(name).suffix:
            path = stems.get(name)  # written without its suffix
        if path is None:
            c.problem("missing_files", where)
            continue
        c.add(path, label, where)
    return ["labels: 0-based class indices as written"]


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def sniff_label_file(path: Path) -> str | None:
    """The format of a ground-truth file by its name, else by its first lines; None if unknown."""
    for fmt, name in LABEL_FILE_NAMES.items():
        if path.name == name and fmt != "list":
            return fmt
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            head = [s for line in [f.readline() for _ in range(5)] if (s := line.strip()) and not s.startswith("#")]
    except OSError:
        return None
    if not head:
        return None
    if head[0].replace(" ", "").startswith("ImageId,PredictionString"):
        return "kaggle"
    if all(s.isdigit() for s in head):
        return "ilsvrc2012"
    if all(len(parts := s.rsplit(maxsplit=1)) == 2 and _is_label(parts[1]) for s in head):
        return "list"
    return None


def _is_label(token: str) -> bool:
    return token.lstrip("-").isdigit() or _WNID.fullmatch(token) is not None


def _has_wnid_folders(root: Path) -> bool:
    return any(d.is_dir() and _WNID.fullmatch(d.name) for d in root.iterdir())


def detect(root: Path, fmt: str = "auto", labels: Path | None = None) -> tuple[str, Path | None]:
    """The dataset format and its ground-truth file (None for imagefolder)."""
    if fmt != "auto" and fmt not in FORMATS:
        raise EdgezooError(f"unknown dataset format '{fmt}': choose from auto, {', '.join(FORMATS)}")
    if labels is not None:
        if not labels.is_file():
            raise EdgezooError(f"{labels}: label file not found")
        found = sniff_label_file(labels)
        if fmt == "auto":
            if found is None:
                raise EdgezooError(f"{labels}: unknown label file format; name it with --format")
            return found, labels
        if fmt == "imagefolder":
            raise EdgezooError("--labels does not go with --format imagefolder (the folders are the labels)")
        return fmt, labels
    candidates = {}
    for f in sorted(root.iterdir()):
        if f.is_file() and f.suffix.lower() in {".txt", ".csv"} and not f.name.startswith("."):
            kind = sniff_label_file(f)
            if kind is not None:
                candidates.setdefault(kind, []).append(f)
    if fmt == "imagefolder" or (fmt == "auto" and not candidates and _has_wnid_folders(root)):
        return "imagefolder", None
    if fmt != "auto":
        standard = root / LABEL_FILE_NAMES[fmt]
        files = candidates.get(fmt) or ([standard] if standard.is_file() else [])  # named: parse, then complain
        if not files:
            raise EdgezooError(f"{root}: no {fmt} label file found (expected {LABEL_FILE_NAMES[fmt]}); pass --labels")
    else:
        if not candidates:
            raise EdgezooError(
                f"{root}: cannot tell the dataset format: no WordNet-id class folders (n01440764/...) and no"
                f" label file ({', '.join(LABEL_FILE_NAMES.values())}); pass --format and/or --labels"
            )
        if len(candidates) > 1 or _has_wnid_folders(root):
            kinds = sorted(candidates) + (["imagefolder"] if _has_wnid_folders(root) else [])
            raise EdgezooError(
                f"{root}: more than one dataset format found ({', '.join(kinds)}); pick one with --format"
            )
        fmt, files = next(iter(candidates.items()))
    preferred = [f for f in files if f.name == LABEL_FILE_NAMES[fmt]]
    if len(files) > 1 and not preferred:
        names = ", ".join(f.name for f in files)
        raise EdgezooError(f"{root}: several {fmt} label files ({names}); pass one with --labels")
    return fmt, (preferred or files)[0]


def load_dataset(
    root: str | Path,
    *,
    fmt: str = "auto",
    labels: str | Path | None = None,
    num_classes: int = 1000,
    synsets: tuple[str, ...] | None = None,
    skip_invalid: bool = False,
) -> Dataset:
    """Find the images under ``root`` and their classes; raise EdgezooError on anything doubtful.

    ``synsets`` are the model's classes as WordNet ids in index order (ImageNet-1k for the zoo); only
    the ``list`` format works without them.
    """
    root = Path(root)
    if not root.exists():
        raise EdgezooError(f"{root}: no such folder")
    if not root.is_dir():
        raise EdgezooError(f"{root}: not a folder")
    images = find_images(root)
    if not images:
        raise EdgezooError(f"{root}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    fmt, label_file = detect(root, fmt, Path(labels) if labels is not None else None)
    if fmt != "list" and synsets is None:
        raise EdgezooError(f"{root}: the {fmt} format names WordNet ids, but the model's classes are not ImageNet-1k")
    c = _Collector()
    if fmt == "imagefolder":
        notes = _imagefolder(root, images, synsets, c)
    elif fmt == "ilsvrc2012":
        notes = _ilsvrc2012(root, images, label_file, synsets, c)  # type: ignore[arg-type]
    elif fmt == "kaggle":
        notes = _kaggle(root, images, label_file, synsets, c)  # type: ignore[arg-type]
    else:
        notes = _list(root, images, label_file, synsets, num_classes, c)  # type: ignore[arg-type]
    return _finish(c, root, fmt, label_file, images, skip_invalid, notes)


# --------------------------------------------------------------------------------------------
# Subsets
# --------------------------------------------------------------------------------------------


def balanced_subset(samples: list[Sample], limit: int) -> list[Sample]:
    """A fixed, class-balanced subset: round-robin over the classes in index order, files in sorted order.

    The first image of every class, then the second of every class, and so on until ``limit``: the
    same data always gives the same subset, whatever model is evaluated on it.
    """
    if limit < 1:
        raise EdgezooError(f"--limit must be at least 1, got {limit}")
    if limit >= len(samples):
        return list(samples)
    by_class: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        by_class[s.label].append(s)
    queues = [by_class[k] for k in sorted(by_class)]
    chosen: list[Sample] = []
    depth = 0
    while len(chosen) < limit:
        for q in queues:
            if depth < len(q):
                chosen.append(q[depth])
                if len(chosen) == limit:
                    break
        depth += 1
    order = {s.path: i for i, s in enumerate(samples)}
    return sorted(chosen, key=lambda s: order[s.path])
