"""The packaged chip table (src/suanli/catalog/data/chips.csv), its loader and its derivation."""

from __future__ import annotations

import csv
import dataclasses
import io
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from suanli.core.chips import (
    CHIP_COLUMNS,
    ECOSYSTEMS,
    ChipSpec,
    Ecosystem,
    get_chip,
    load_chip_table,
    parse_chip_table,
    resolve_chip,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DERIVE_SCRIPT = REPO_ROOT / "scripts" / "derive_chips.py"
EPOCH_CSV = REPO_ROOT / ".." / "shared" / "data" / "chips" / "ml_hardware.csv"
PACKAGED_CSV = REPO_ROOT / "src" / "suanli" / "catalog" / "data" / "chips.csv"

REQUIRED_KEYS = (
    "a100", "a800", "h100", "h800", "h20", "l20", "l40", "rtx4090", "ascend-910b", "hygon-dcu-z100",
    "mlu370-x8", "kunlunxin-r200", "v100", "t4", "p100", "rtx3090", "rtx2080ti",
)
CORE_FIELDS = ("fp16_tflops", "fp32_tflops", "memory_gib", "memory_bandwidth_gbs", "tdp_w")
DOMESTIC_VENDORS = {"Huawei": "cann", "Hygon": "dtk", "Cambricon": "neuware", "Kunlunxin": "xpu"}
VENDOR_ZH = {"NVIDIA": "英伟达", "Huawei": "华为昇腾", "Hygon": "海光", "Cambricon": "寒武纪", "Kunlunxin": "昆仑芯"}

needs_epoch = pytest.mark.skipif(
    not EPOCH_CSV.is_file(),
    reason=f"Epoch source CSV not available at {EPOCH_CSV} (CI keeps ../shared beside the clone)",
)


# --- the packaged file ---------------------------------------------------------------------------


def test_packaged_csv_is_plain_utf8_csv_with_expected_header() -> None:
    raw = (resources.files("suanli.catalog") / "data" / "chips.csv").read_bytes()
    text = raw.decode("utf-8")  # must be UTF-8
    assert not text.startswith("\ufeff"), "no BOM"
    assert "\r" not in text
    first_line = text.split("\n", 1)[0]
    assert not first_line.startswith("#")
    assert tuple(first_line.split(",")) == CHIP_COLUMNS
    rows = list(csv.reader(io.StringIO(text)))
    assert all(len(r) == len(CHIP_COLUMNS) for r in rows)


def test_chipspec_fields_match_csv_columns() -> None:
    assert tuple(f.name for f in dataclasses.fields(ChipSpec)) == CHIP_COLUMNS


def test_attribution_file_credits_epoch() -> None:
    md = (PACKAGED_CSV.parent / "CHIPS_SOURCE.md").read_text(encoding="utf-8")
    assert "Epoch AI" in md
    assert "CC-BY 4.0" in md or "CC BY 4.0" in md
    assert "scripts/derive_chips.py" in md


# --- table contents -------------------------------------------------------------------------------


def test_required_keys_present_with_positive_core_fields() -> None:
    table = load_chip_table()
    for key in REQUIRED_KEYS:
        assert key in table, key
        chip = table[key]
        assert chip.key == key
        for field in CORE_FIELDS:
            value = getattr(chip, field)
            assert value is not None and value > 0, (key, field, value)
        assert chip.name and chip.source_name


def test_every_row_has_core_fields_and_sane_types() -> None:
    for chip in load_chip_table().values():
        assert isinstance(chip.fp16_tflops, float) and chip.fp16_tflops > 0
        assert isinstance(chip.fp32_tflops, float) and chip.fp32_tflops > 0
        assert isinstance(chip.memory_gib, int) and chip.memory_gib > 0
        assert isinstance(chip.memory_bandwidth_gbs, float) and chip.memory_bandwidth_gbs > 0
        assert isinstance(chip.tdp_w, int) and 30 <= chip.tdp_w <= 1500
        assert isinstance(chip.domestic, bool)
        assert chip.release_year is None or 2010 <= chip.release_year <= 2030
        for opt in (chip.tf32_tflops, chip.int8_tops, chip.interconnect_gbs):
            assert opt is None or (isinstance(opt, float) and opt > 0)
        assert chip.form_factor in {"sxm", "pcie", "module"}
        # Matrix FP16 is never below FP32 vector on any chip in the table.
        assert chip.fp16_tflops >= chip.fp32_tflops, chip.key


def test_keys_are_lowercase_slugs_and_names_unique() -> None:
    table = load_chip_table()
    for key in table:
        assert key == key.lower() and " " not in key and len(key) <= 40
    names = [c.name for c in table.values()]
    assert len(set(names)) == len(names)
    sources = [c.source_name for c in table.values()]
    shared = {s for s in sources if sources.count(s) > 1}
    # one Epoch row stands for two memory variants (A100 PCIe 40/80 GB); the 80 GB row says so in its notes
    assert shared == {"NVIDIA A100 PCIe"}
    assert "80 GB" in table["a100-pcie"].notes


def test_ecosystems_and_vendors_consistent() -> None:
    for chip in load_chip_table().values():
        assert chip.ecosystem in ECOSYSTEMS
        assert chip.ecosystem_info.vendor == chip.vendor
        assert VENDOR_ZH[chip.vendor] == chip.vendor_zh
        if chip.vendor == "NVIDIA":
            assert chip.ecosystem == "cuda"
        else:
            assert chip.ecosystem == DOMESTIC_VENDORS[chip.vendor]


def test_ecosystem_registry() -> None:
    assert set(ECOSYSTEMS) == {"cuda", "cann", "dtk", "neuware", "xpu"}
    for key, eco in ECOSYSTEMS.items():
        assert isinstance(eco, Ecosystem)
        assert eco.key == key and eco.name and eco.name_zh and eco.notes
        assert isinstance(eco.frameworks, tuple) and eco.frameworks
    assert "torch_npu" in ECOSYSTEMS["cann"].frameworks
    assert "MindSpore" in ECOSYSTEMS["cann"].frameworks
    assert "torch_mlu" in ECOSYSTEMS["neuware"].frameworks
    assert "PaddlePaddle" in ECOSYSTEMS["xpu"].frameworks
    assert "PyTorch" in ECOSYSTEMS["cuda"].frameworks
    with pytest.raises(dataclasses.FrozenInstanceError):
        ECOSYSTEMS["cuda"].name = "x"  # type: ignore[misc]


def test_domestic_flags() -> None:
    for chip in load_chip_table().values():
        assert chip.domestic == (chip.vendor in DOMESTIC_VENDORS), chip.key
    for key in ("ascend-910b", "hygon-dcu-z100", "mlu370-x8", "kunlunxin-r200"):
        assert get_chip(key).domestic
    for key in ("a100", "a800", "h800", "h20", "rtx4090"):
        assert not get_chip(key).domestic


def test_sanity_relations() -> None:
    a100, a800, h100, h800, h20 = (get_chip(k) for k in ("a100", "a800", "h100", "h800", "h20"))
    assert h100.fp16_tflops > a100.fp16_tflops
    assert a800.fp16_tflops == a100.fp16_tflops
    assert a800.memory_gib == a100.memory_gib == 80
    assert a800.interconnect_gbs is not None and a100.interconnect_gbs is not None
    assert a800.interconnect_gbs < a100.interconnect_gbs  # the A800's only cut: NVLink
    assert h800.fp16_tflops == pytest.approx(h100.fp16_tflops, rel=0.01)
    assert h20.fp16_tflops < h100.fp16_tflops
    assert h20.memory_gib > h100.memory_gib
    assert 250 <= get_chip("ascend-910b").fp16_tflops <= 450
    assert get_chip("ascend-910b").memory_gib == 64
    assert get_chip("v100").memory_gib == 32
    # GeForce figures use FP32 accumulate, so a 4090 sits well below an A100, above an L20.
    assert get_chip("l20").fp16_tflops < get_chip("rtx4090").fp16_tflops < a100.fp16_tflops
    assert get_chip("rtx3090").fp16_tflops < get_chip("rtx4090").fp16_tflops
    assert get_chip("rtx2080ti").fp16_tflops < get_chip("rtx3090").fp16_tflops


def test_overrides_are_documented_in_notes() -> None:
    assert "A800 datasheet" in get_chip("a800").notes
    assert "FP32 accumulate" in get_chip("rtx4090").notes
    assert "910B2" in get_chip("ascend-910b").notes
    assert get_chip("a100").notes == ""  # taken verbatim from its source row


def test_table_is_cached_and_ordered() -> None:
    t1, t2 = load_chip_table(), load_chip_table()
    assert t1 is t2
    with PACKAGED_CSV.open(encoding="utf-8", newline="") as f:
        file_keys = [row["key"] for row in csv.DictReader(f)]
    assert list(t1) == file_keys


def test_get_chip_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(KeyError) as exc:
        get_chip("a9000")
    message = str(exc.value)
    assert "a9000" in message and "a800" in message and "ascend-910b" in message


def test_parse_rejects_bad_tables() -> None:
    header = ",".join(CHIP_COLUMNS)
    good = PACKAGED_CSV.read_text(encoding="utf-8").split("\n")[1]
    with pytest.raises(ValueError, match="header"):
        parse_chip_table("key,name\nx,y\n")
    with pytest.raises(ValueError, match="duplicate"):
        parse_chip_table(f"{header}\n{good}\n{good}\n")
    cells = next(csv.reader([good]))
    cells[CHIP_COLUMNS.index("fp16_tflops")] = ""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    with pytest.raises(ValueError, match="fp16_tflops"):
        parse_chip_table(f"{header}\n{buf.getvalue()}")


# --- resolve_chip ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("A800", "a800"),
        ("a800", "a800"),
        ("NVIDIA A800", "a800"),
        ("A100", "a100"),
        ("a100 80gb", "a100"),
        ("H100", "h100"),
        ("H800", "h800"),
        ("H20", "h20"),
        ("L20", "l20"),
        ("L40", "l40"),
        ("4090", "rtx4090"),
        ("RTX 4090", "rtx4090"),
        ("rtx4090", "rtx4090"),
        ("3090", "rtx3090"),
        ("2080 Ti", "rtx2080ti"),
        ("V100", "v100"),
        ("Tesla T4", "t4"),
        ("P100", "p100"),
        ("910B", "ascend-910b"),
        ("910b", "ascend-910b"),
        ("Ascend 910B", "ascend-910b"),
        ("ascend-910b", "ascend-910b"),
        ("华为昇腾910B", "ascend-910b"),
        ("MLU370", "mlu370-x8"),
        ("mlu370-x8", "mlu370-x8"),
        ("DCU", "hygon-dcu-z100"),
        ("深算一号", "hygon-dcu-z100"),
        ("Shensuan-1", "hygon-dcu-z100"),
        ("R200", "kunlunxin-r200"),
        ("  Kunlunxin R200 ", "kunlunxin-r200"),
        ("NVIDIA GeForce RTX 4090 24GB", "rtx4090"),  # display name
        ("NVIDIA L20 PCle", "l20"),  # Epoch source name
    ],
)
def test_resolve_chip(text: str, key: str) -> None:
    chip = resolve_chip(text)
    assert chip is not None, text
    assert chip.key == key


@pytest.mark.parametrize("text", ["", "   ", "A9000", "NVIDIA", "910", "H", "B200", "MI300X"])
def test_resolve_chip_unknown(text: str) -> None:
    assert resolve_chip(text) is None


def test_resolve_chip_distinguishes_similar_names() -> None:
    assert resolve_chip("H20").key == "h20"  # type: ignore[union-attr]
    assert resolve_chip("H200").key == "h200"  # type: ignore[union-attr]
    assert resolve_chip("A100").key != resolve_chip("A800").key  # type: ignore[union-attr]


# --- derivation -----------------------------------------------------------------------------------


def _derive(source: Path, output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DERIVE_SCRIPT), str(source), "--output", str(output), *extra],
        capture_output=True, text=True, check=False,
    )


@needs_epoch
def test_derive_is_deterministic_and_reproduces_packaged_csv(tmp_path: Path) -> None:
    out1, out2 = tmp_path / "a.csv", tmp_path / "b.csv"
    r1 = _derive(EPOCH_CSV, out1)
    assert r1.returncode == 0, r1.stderr
    r2 = _derive(EPOCH_CSV, out2)
    assert r2.returncode == 0, r2.stderr
    assert out1.read_bytes() == out2.read_bytes()
    assert out1.read_bytes() == PACKAGED_CSV.read_bytes(), (
        "chips.csv is out of date: run `python scripts/derive_chips.py` from the repository root"
    )
    check = _derive(EPOCH_CSV, PACKAGED_CSV, "--check")
    assert check.returncode == 0, check.stderr


def _declared_overrides() -> set[tuple[str, str]]:
    """(chip key, field) pairs the derive script replaces on purpose, each with a datasheet note."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("derive_chips", DERIVE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["derive_chips"] = module
    spec.loader.exec_module(module)
    return {(chip.key, fix.field) for chip in module.CHIPS for fix in chip.fixes if fix.kind != "fill"}


@needs_epoch
def test_derive_rows_come_from_named_source_rows() -> None:
    with EPOCH_CSV.open(encoding="utf-8", newline="") as f:
        source = {row["Hardware name"]: row for row in csv.DictReader(f)}
    overridden = _declared_overrides()
    assert overridden, "the script declares its datasheet overrides"
    for chip in load_chip_table().values():
        row = source[chip.source_name]
        # Memory, bandwidth and power are taken verbatim whenever the source has them, unless the
        # script declares an override (and writes why into the notes column).
        checks = (("memory_gib", "Memory (bytes)", lambda v: round(v / 1e9)),
                  ("memory_bandwidth_gbs", "Memory bandwidth (byte/s)", lambda v: pytest.approx(v / 1e9)),
                  ("tdp_w", "TDP (W)", round))
        for field, column, expected in checks:
            if not row[column].strip():
                continue
            if (chip.key, field) in overridden:
                assert "datasheet" in chip.notes, (chip.key, field)
                continue
            assert getattr(chip, field) == expected(float(row[column])), (chip.key, field)


@needs_epoch
def test_derive_refuses_stale_fill(tmp_path: Path) -> None:
    # If the source gains a value where the script fills a gap, the script must stop for review.
    with EPOCH_CSV.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fieldnames = list(reader.fieldnames or [])
        rows = list(reader)
    for row in rows:
        if row["Hardware name"] == "NVIDIA A800 SXM":
            row["Memory (bytes)"] = "80000000000.0"
    patched = tmp_path / "patched.csv"
    with patched.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    result = _derive(patched, tmp_path / "out.csv")
    assert result.returncode != 0
    assert "stale fill" in result.stderr and "a800" in result.stderr
    assert not (tmp_path / "out.csv").exists()
