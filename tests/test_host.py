"""Host ISA detection on recorded /proc/cpuinfo text of hosts the project cannot reach, and the ISA
notice that predict/bench/eval print when an artifact was made on another class of host."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgezoo.host import ISA_CLASSES, Host, current_host, isa_class, isa_mismatch, parse_cpuinfo

DATA = Path(__file__).parent / "data" / "cpuinfo"

# file, arch -> (model, ISA class, int8 dot product, bf16, flags that must be present, flags absent)
CASES = {
    "zen3.txt": ("x86_64", "AMD EPYC 7B13", "avx2", False, False, {"avx2", "fma"}, {"avx512f", "avx_vnni"}),
    "zen4.txt": (
        "x86_64", "AMD EPYC", "avx512-vnni-bf16", True, True,
        {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni"}, {"amx_tile"},
    ),
    "sapphire_rapids.txt": (
        "x86_64", "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", "amx", True, True,
        {"amx_tile", "amx_int8", "amx_bf16", "avx512_vnni"}, set(),
    ),
    "cortex_a55_rdk_x5.txt": (
        "aarch64", "Cortex-A55", "arm-neon-dotprod", True, False, {"asimd", "asimdhp", "asimddp"}, {"i8mm"},
    ),
    "cortex_a76_pi5.txt": (
        "aarch64", "Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)", "arm-neon-dotprod", True, False,
        {"asimd", "asimdhp", "asimddp"}, {"avx2"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_recorded_cpuinfo_is_classified(name):
    arch, model, isa, dot, bf16, present, absent = CASES[name]
    host = parse_cpuinfo((DATA / name).read_text(encoding="utf-8"), arch)
    assert host.model == model
    assert host.isa_class == isa and isa in ISA_CLASSES
    assert host.int8_dot_product is dot and host.bf16 is bf16
    assert host.float16 is (arch == "aarch64")  # OpenVINO's f16 default: every recorded ARM core has asimdhp
    assert present <= set(host.flags) and not absent & set(host.flags)
    record = host.to_dict()
    assert record["isa"] == isa and record["flags"] == list(host.flags) and record["arch"] == arch


@pytest.mark.parametrize(
    ("arch", "flags", "isa"),
    [
        ("x86_64", ("avx2", "avx_vnni"), "avx2-vnni"),
        ("x86_64", ("avx2", "avx512f"), "avx512"),
        ("x86_64", ("avx2", "avx512f", "avx512_vnni"), "avx512-vnni"),
        ("x86_64", (), "x86"),
        ("aarch64", ("asimd",), "arm-neon"),
        ("aarch64", ("asimd", "asimddp", "i8mm"), "arm-neon-i8mm"),
        ("riscv64", (), "unknown"),
    ],
)
def test_isa_classes(arch, flags, isa):
    assert isa_class(arch, flags) == isa


def test_py_cpuinfo_spellings_are_accepted():
    host = parse_cpuinfo("model name : X\nflags : avx2 avx512f avx512vnni avx512bf16\n", "x86_64")
    assert host.flags == ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") and host.isa_class == "avx512-vnni-bf16"


def test_this_host_is_detected():
    host = current_host()
    assert host.isa_class in ISA_CLASSES and host.model
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    if "avx2" in text.split():
        assert host.has("avx2")


def test_isa_mismatch_names_both_hosts():
    zen3 = Host("AMD EPYC 7B13", "x86_64", ("avx2", "fma"))
    recorded = {"isa": "avx512-vnni-bf16", "cpu": "AMD EPYC (Zen 4)"}
    line = isa_mismatch(recorded, zen3)
    assert line is not None and "avx512-vnni-bf16" in line and "avx2" in line and "AMD EPYC 7B13" in line
    assert isa_mismatch({"isa": "avx2"}, zen3) is None
    assert isa_mismatch(None, zen3) is None and isa_mismatch({}, zen3) is None


def test_a_recorded_cpuinfo_can_stand_for_this_host(monkeypatch, tmp_path):
    """EDGEZOO_CPUINFO: quantize for the host an artifact will run on; bad files are one-line errors."""
    from edgezoo.errors import EdgezooError
    from edgezoo.host import CPUINFO_ENV

    def host_from(path: Path) -> Host:
        monkeypatch.setenv(CPUINFO_ENV, str(path))
        current_host.cache_clear()
        try:
            return current_host()
        finally:
            current_host.cache_clear()

    zen3 = host_from(DATA / "zen3.txt")
    assert (zen3.model, zen3.arch, zen3.isa_class, zen3.int8_dot_product) == ("AMD EPYC 7B13", "x86_64", "avx2", False)
    a55 = host_from(DATA / "cortex_a55_rdk_x5.txt")  # ARM text read on any machine: arch from its fields
    assert (a55.arch, a55.isa_class) == ("aarch64", "arm-neon-dotprod")
    with pytest.raises(EdgezooError, match=r"missing\.txt: cannot read it as EDGEZOO_CPUINFO"):
        host_from(tmp_path / "missing.txt")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(EdgezooError, match=r"notes\.txt: not a cpuinfo file"):
        host_from(tmp_path / "notes.txt")
