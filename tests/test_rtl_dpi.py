"""SystemVerilog + DPI-C: the example RTL checked in Verilator against the C ABI
(hw/dpi/tb_mf_dpi.sv imports csrc/capi/minifloat_c.h through hw/dpi/minifloat_pkg.sv), every
operand pair of E4M3 (bias 7, IEEE-style).  Skipped when Verilator (>= 5, for --binary
--timing) is missing.  About 5-10 s per build on 2 cores; the simulation itself is
milliseconds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from minifloat import capi

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "hw" / "rtl"
DPI = ROOT / "hw" / "dpi"


def _verilator_major() -> int:
    if shutil.which("verilator") is None:
        return 0
    out = subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Verilator (\d+)", out)
    return int(m.group(1)) if m else 0


if _verilator_major() < 5:
    pytest.skip("Verilator >= 5 is not installed (apt-get install verilator)",
                allow_module_level=True)
if not (DPI / "tb_mf_dpi.sv").is_file():
    pytest.skip("hw/dpi is not in this checkout", allow_module_level=True)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> str:
    try:
        return capi.get_library()
    except FileNotFoundError:
        return capi.compile_library(tmp_path_factory.mktemp("capi"))


def _simulate(tmp_path: Path, library: str, rtl: Path, params: dict[str, int]) -> str:
    obj = tmp_path / "obj"
    obj.mkdir()
    lib = Path(library).resolve()
    cmd = ["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--top-module", "tb_mf_dpi", "-Mdir", str(obj), "-j", "2",
           *(f"-G{k}={v}" for k, v in params.items()),
           str(DPI / "minifloat_pkg.sv"), str(DPI / "tb_mf_dpi.sv"),
           *(str(rtl / f) for f in ("mf_round.v", "mf_unpack.v", "mf_mul.v", "mf_add.v")),
           "-LDFLAGS", f"{lib} -Wl,-rpath,{lib.parent}"]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    run = subprocess.run([str(obj / "Vtb_mf_dpi")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.parametrize(("op", "mode", "sat"), [(0, 0, 0), (1, 0, 0), (0, 1, 1)],
                         ids=["mul-nearest_even", "add-nearest_even", "mul-toward_zero-finite"])
def test_e4m3_all_pairs_match_c_abi(tmp_path: Path, library: str, op: int, mode: int,
                                    sat: int) -> None:
    out = _simulate(tmp_path, library, RTL, {"OP": op, "MODE": mode, "SAT": sat})
    assert "DPI-C: 0 mismatches in 65536 pairs" in out, out


def test_broken_rtl_is_caught(tmp_path: Path, library: str) -> None:
    rtl = tmp_path / "rtl"
    shutil.copytree(RTL, rtl)
    rnd = rtl / "mf_round.v"
    good = "2'd0: up = above | (tie & odd);"
    assert rnd.read_text().count(good) == 1
    rnd.write_text(rnd.read_text().replace(good, "2'd0: up = above | tie;"))
    out = _simulate(tmp_path, library, rtl, {"OP": 0})
    m = re.search(r"DPI-C: (\d+) mismatches in 65536 pairs", out)
    assert m and int(m.group(1)) > 0, out
    first = next(ln for ln in out.splitlines() if ln.startswith("mismatch:"))
    assert re.fullmatch(r"mismatch: a=[0-9a-f]{2} b=[0-9a-f]{2} DUT [0-9a-f]{2} C ABI "
                        r"[0-9a-f]{2} \(flags [01]{5}\)", first), first
