"""Dataset layouts: detection, ground-truth parsing, the ILSVRC2012 id table, subsets, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from edgezoo.errors import EdgezooError
from edgezoo.evaluate.datasets import (
    Sample,
    balanced_subset,
    detect,
    ilsvrc2012_wnids,
    imagenet_synsets,
    load_dataset,
    sniff_label_file,
)

SYN = imagenet_synsets()


def _image(path: Path, shade: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade, 0, 0)).save(path)
    return path


def _labels(ds) -> dict[str, int]:
    return {s.path.name: s.label for s in ds.samples}


def test_ilsvrc2012_table_is_a_permutation_of_timm_classes():
    wnids = ilsvrc2012_wnids()
    assert len(wnids) == 1000 and set(wnids) == set(SYN)
    # Facts from the devkit: id 1 is kit fox, val image 1 (id 490) is a sea snake, tench is id 449.
    assert wnids[0] == "n02119789" and wnids[489] == "n01751748" and wnids[448] == "n01440764"
    assert SYN.index("n01751748") == 65 and SYN.index("n01440764") == 0
    assert wnids != SYN  # the two orders differ: mapping is needed


def test_imagefolder(tmp_path):
    _image(tmp_path / SYN[3] / "b.png")
    _image(tmp_path / SYN[3] / "sub" / "a.jpg")
    _image(tmp_path / SYN[999] / "c.bmp")
    _image(tmp_path / "loose.png")
    ds = load_dataset(tmp_path, synsets=SYN)
    assert ds.format == "imagefolder" and ds.label_file is None
    assert _labels(ds) == {"b.png": 3, "a.jpg": 3, "c.bmp": 999}
    assert ds.issues == {"unlabelled_images": 1} and ds.images_found == 4
    assert [s.path.relative_to(tmp_path).as_posix() for s in ds.samples] == sorted(
        s.path.relative_to(tmp_path).as_posix() for s in ds.samples
    )


def test_imagefolder_unknown_class_folder_is_an_error_unless_skipped(tmp_path):
    _image(tmp_path / SYN[1] / "a.png")
    _image(tmp_path / "n99999999" / "b.png")
    with pytest.raises(EdgezooError, match=r"1 with a label that is not one of the model's classes.*n99999999"):
        load_dataset(tmp_path, synsets=SYN)
    ds = load_dataset(tmp_path, synsets=SYN, skip_invalid=True)
    assert _labels(ds) == {"a.png": 1} and ds.issues["unknown_labels"] == 1


def test_ilsvrc2012_line_k_is_image_k(tmp_path):
    wnids = ilsvrc2012_wnids()
    for k in (1, 2, 3):
        _image(tmp_path / f"ILSVRC2012_val_{k:08d}.JPEG", k)
    (tmp_path / "ILSVRC2012_validation_ground_truth.txt").write_text("490\n449\n1\n")
    ds = load_dataset(tmp_path, synsets=SYN)
    assert ds.format == "ilsvrc2012"
    assert _labels(ds) == {
        "ILSVRC2012_val_00000001.JPEG": 65,
        "ILSVRC2012_val_00000002.JPEG": 0,
        "ILSVRC2012_val_00000003.JPEG": SYN.index(wnids[0]),
    }


def test_ilsvrc2012_extract_numbered_otherwise_goes_by_sorted_order(tmp_path):
    for k in (7, 12):
        _image(tmp_path / f"ILSVRC2012_val_{k:08d}.JPEG")
    (tmp_path / "gt.txt").write_text("490\n449\n")
    ds = load_dataset(tmp_path, synsets=SYN, labels=tmp_path / "gt.txt")
    assert _labels(ds) == {"ILSVRC2012_val_00000007.JPEG": 65, "ILSVRC2012_val_00000012.JPEG": 0}
    assert any("sorted order" in n for n in ds.notes)


def test_ilsvrc2012_missing_files_and_range(tmp_path):
    _image(tmp_path / "ILSVRC2012_val_00000001.JPEG")
    gt = tmp_path / "ILSVRC2012_validation_ground_truth.txt"
    gt.write_text("490\n449\n")
    with pytest.raises(
        EdgezooError, match=r"1 named in the ground truth but not found \(first: line 2: ILSVRC2012_val"
    ):
        load_dataset(tmp_path, synsets=SYN)
    gt.write_text("1001\n")
    with pytest.raises(EdgezooError, match=r"class index out of range.*1001"):
        load_dataset(tmp_path, synsets=SYN)
    gt.write_text("490\nfoo\n")
    with pytest.raises(EdgezooError, match=r"ground_truth.txt:2: expected one ILSVRC2012_ID"):
        load_dataset(tmp_path, synsets=SYN)


def test_kaggle_csv_with_images_in_subfolders(tmp_path):
    val = tmp_path / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    _image(val / "ILSVRC2012_val_00000001.JPEG")
    _image(val / "ILSVRC2012_val_00000002.JPEG")
    (tmp_path / "LOC_synset_mapping.txt").write_text(f"{SYN[0]} tench, Tinca tinca\n")  # not a ground truth
    (tmp_path / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        f"ILSVRC2012_val_00000002,{SYN[10]} 1 2 3 4 {SYN[10]} 5 6 7 8\n"
        f"ILSVRC2012_val_00000001,{SYN[20]} 1 2 3 4\n"
    )
    ds = load_dataset(tmp_path, synsets=SYN)
    assert ds.format == "kaggle"
    assert _labels(ds) == {"ILSVRC2012_val_00000001.JPEG": 20, "ILSVRC2012_val_00000002.JPEG": 10}


def test_kaggle_bad_header(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "sol.csv").write_text("id,label\na,n01440764\n")
    with pytest.raises(EdgezooError, match="ImageId,PredictionString"):
        load_dataset(tmp_path, synsets=SYN, fmt="kaggle", labels=tmp_path / "sol.csv")


def test_list_file(tmp_path):
    _image(tmp_path / "x" / "a.png")
    _image(tmp_path / "b.jpg")
    (tmp_path / "val.txt").write_text(f"# seeds\nx/a.png 5\nb.jpg {SYN[7]}\n")
    ds = load_dataset(tmp_path, synsets=SYN)
    assert ds.format == "list" and _labels(ds) == {"a.png": 5, "b.jpg": 7}


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("a.png 1\nnope.png 2\ngone.png 3\n", r"2 named in the ground truth but not found \(first: line 2: nope.png\)"),
        ("a.png 1000\n", r"1 with a class index out of range \(first: line 1: 1000 \(0..999\)\)"),
        ("a.png -1\n", r"out of range"),
        ("a.png cat\n", r"val.txt:1: label 'cat' is neither"),
    ],
)
def test_list_file_errors(tmp_path, content, error):
    _image(tmp_path / "a.png")
    (tmp_path / "val.txt").write_text(content)
    with pytest.raises(EdgezooError, match=error):
        load_dataset(tmp_path, synsets=SYN, fmt="list")


def test_list_file_skip_invalid_reports_counts(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "extra.png")
    (tmp_path / "val.txt").write_text("a.png 1\nnope.png 2\na.png 1\n")
    ds = load_dataset(tmp_path, synsets=SYN, skip_invalid=True)
    assert _labels(ds) == {"a.png": 1}
    assert ds.issues == {"missing_files": 1, "duplicate_entries": 1, "unlabelled_images": 1}


def test_detection_errors(tmp_path):
    with pytest.raises(EdgezooError, match="no such folder"):
        load_dataset(tmp_path / "nope", synsets=SYN)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgezooError, match="empty: no images found"):
        load_dataset(tmp_path / "empty", synsets=SYN)
    _image(tmp_path / "flat" / "a.png")
    with pytest.raises(EdgezooError, match="cannot tell the dataset format"):
        load_dataset(tmp_path / "flat", synsets=SYN)
    with pytest.raises(EdgezooError, match="unknown dataset format 'coco'"):
        load_dataset(tmp_path / "flat", synsets=SYN, fmt="coco")
    (tmp_path / "flat" / "val.txt").write_text("a.png 1\n")
    (tmp_path / "flat" / "ILSVRC2012_validation_ground_truth.txt").write_text("1\n")
    with pytest.raises(EdgezooError, match=r"more than one dataset format found \(ilsvrc2012, list\)"):
        load_dataset(tmp_path / "flat", synsets=SYN)
    assert detect(tmp_path / "flat", "list")[0] == "list"


def test_sniffing(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("12\n7\n")
    assert sniff_label_file(f) == "ilsvrc2012"
    f.write_text("img 1.jpg 12\n")
    assert sniff_label_file(f) == "list"
    f.write_text("n01440764 tench, Tinca tinca\n")
    assert sniff_label_file(f) is None


def test_wnid_formats_need_imagenet_classes(tmp_path):
    _image(tmp_path / SYN[0] / "a.png")
    with pytest.raises(EdgezooError, match="not ImageNet-1k"):
        load_dataset(tmp_path, synsets=None, num_classes=10)


def test_balanced_subset_is_round_robin_and_fixed():
    samples = [Sample(Path(f"{c}_{i}"), c) for c, n in ((2, 5), (0, 2), (1, 1)) for i in range(n)]
    picked = balanced_subset(samples, 5)
    # Round 1: first file of classes 0, 1, 2; round 2: second file of classes 0 and 2.
    assert {s.path.name for s in picked} == {"0_0", "1_0", "2_0", "0_1", "2_1"}
    assert [s.path.name for s in picked] == [s.path.name for s in samples if s in picked]  # dataset order kept
    assert balanced_subset(samples, 5) == picked
    assert balanced_subset(samples, 100) == samples
    with pytest.raises(EdgezooError, match="--limit must be at least 1"):
        balanced_subset(samples, 0)
