"""The example RTL (hw/rtl) against the package, through the cocotb scoreboard
(minifloat.hw_cocotb) on Icarus Verilog: every one of the 65,536 operand pairs per case.

Skipped (with the reason) when Icarus Verilog, cocotb or the hw/ folder of a source checkout is
missing.  A default run takes about 2.5 s per case on one core (build + 65,536 pairs in 32
lanes); ``-m slow`` adds the full sweep of formats x roundings x saturations.  Two
deliberately broken DUTs (ties away from zero instead of to even; a wrong bias) must be caught
with a clear first-mismatch report.
"""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import minifloat as mf

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "hw" / "rtl"

if shutil.which("iverilog") is None or shutil.which("vvp") is None:
    pytest.skip("Icarus Verilog (iverilog, vvp) is not installed: apt-get install iverilog",
                allow_module_level=True)
if importlib.util.find_spec("cocotb") is None or \
        importlib.util.find_spec("cocotb_tools") is None:
    pytest.skip("cocotb is not installed: pip install 'minifloat[hw]' (cocotb>=2.0)",
                allow_module_level=True)
if not (RTL / "mf_round.v").is_file():
    pytest.skip("hw/rtl is not in this checkout", allow_module_level=True)

from minifloat import hw_cocotb  # noqa: E402

FORMATS = {
    "e4m3_bias7": mf.FloatFormat(4, 3, bias=7),     # IEEE-style: Inf and NaN at E = 1111
    "e4m3_bias11": mf.FloatFormat(4, 3, bias=11),
    "e5m2": mf.format("e5m2"),
    "binary8p3": mf.p3109(8, 3),                    # NaN 0x80, no -0, Inf 0x7F / 0xFF
    "ocp_e4m3": mf.format("e4m3"),                  # OCP: no Inf, NaN 0x7F / 0xFF
}
SLOW_FORMATS = {**FORMATS, "binary8p3f": mf.p3109(8, 3, extended=False),
                "e3m4": mf.format("e3m4"), "e4m3fnuz": mf.format("e4m3fnuz")}
LANES = 32


@pytest.fixture(autouse=True)
def _source_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """The RTL and the cocotb module come from this checkout, also when the package under test
    is an installed wheel (as in CI)."""
    monkeypatch.setenv("MINIFLOAT_SOURCE_DIR", str(ROOT))


def _run(tmp_path: Path, op: str, fmt: mf.FloatFormat, **kw: object) -> tuple[bool, str]:
    return hw_cocotb.run_rtl(op, fmt, build_dir=tmp_path / "sim", lanes=LANES, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", list(FORMATS), ids=list(FORMATS))
@pytest.mark.parametrize("op", ["mul", "add"])
def test_exhaustive_nearest_even(tmp_path: Path, op: str, fmt: str) -> None:
    ok, text = _run(tmp_path, op, FORMATS[fmt])
    assert ok, text
    assert text.startswith("PASS") and "65536 pairs" in text


@pytest.mark.parametrize(("op", "fmt", "rounding", "saturation", "nbits"), [
    ("mul", "e5m2", "toward_zero", "finite", None),
    ("add", "binary8p3", "toward_zero", "none", None),
    ("mul", "ocp_e4m3", "nearest_even", "nan", None),
    ("add", "e4m3_bias11", "nearest_even", "propagate", None),
    ("mul", "e4m3_bias7", "stochastic_a", "none", 3),
    ("add", "binary8p3", "stochastic_a", "finite", 2),
])
def test_exhaustive_other_settings(tmp_path: Path, op: str, fmt: str, rounding: str,
                                   saturation: str, nbits: int | None) -> None:
    ok, text = _run(tmp_path, op, FORMATS[fmt], rounding=rounding, saturation=saturation,
                    random_bits=nbits, seed=5)
    assert ok, text


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(SLOW_FORMATS), ids=list(SLOW_FORMATS))
@pytest.mark.parametrize("op", ["mul", "add"])
@pytest.mark.parametrize(("rounding", "saturation", "nbits"), [
    ("nearest_even", "none", None), ("toward_zero", "none", None),
    ("nearest_even", "finite", None), ("toward_zero", "propagate", None),
    ("nearest_even", "nan", None), ("stochastic_a", "none", 3), ("stochastic_a", "finite", 1)])
def test_exhaustive_sweep(tmp_path: Path, op: str, fmt: str, rounding: str, saturation: str,
                          nbits: int | None) -> None:
    ok, text = _run(tmp_path, op, SLOW_FORMATS[fmt], rounding=rounding, saturation=saturation,
                    random_bits=nbits, seed=1)
    assert ok, text


def _check_report(text: str, fmt: mf.FloatFormat, cwd: Path) -> None:
    """A failure report names the pair, both results decoded, and a working golden command."""
    lines = text.splitlines()
    assert lines[0].startswith("FAIL") and "pairs differ from minifloat" in lines[0], text
    assert lines[1].lstrip().startswith("pair ") and "a=0x" in lines[1] and "b=0x" in lines[1]
    assert "DUT  0x" in lines[2] and "want 0x" in lines[3]
    assert "s=" in lines[3] and "E=" in lines[3] and "M=" in lines[3]
    want = lines[3].split("want ")[1].split()[0]
    cmd = next(ln for ln in lines if "golden result of the first:" in ln).split(": ", 1)[1]
    # from a folder without a minifloat/ source tree, so the installed package answers
    out = subprocess.run(shlex.split(cmd), capture_output=True, text=True, check=True,
                         cwd=cwd).stdout.strip()
    assert int(out, 16) == int(want, 16), (cmd, out, want)


def test_broken_ties_away_is_caught(tmp_path: Path) -> None:
    """A mutant of mf_round.v that rounds ties away from zero under nearest_even."""
    src = tmp_path / "rtl"
    shutil.copytree(RTL, src)
    rnd = src / "mf_round.v"
    text = rnd.read_text()
    good = "2'd0: up = above | (tie & odd);"
    assert text.count(good) == 1
    rnd.write_text(text.replace(good, "2'd0: up = above | tie;"))
    fmt = FORMATS["e4m3_bias7"]
    ok, report = hw_cocotb.run_rtl("mul", fmt, build_dir=tmp_path / "sim", lanes=LANES,
                                   sources=sorted(src.glob("*.v")), expect_mismatch=True)
    assert ok, report  # the test passes because the scoreboard failed the DUT
    _check_report(report, fmt, tmp_path)
    first = report.splitlines()[1:4]
    # the first mismatch is a tie: the DUT's code is one above the expected one
    got = int(first[1].split("DUT  ")[1].split()[0], 16)
    want = int(first[2].split("want ")[1].split()[0], 16)
    assert got == want + 1, report


def test_broken_bias_is_caught(tmp_path: Path) -> None:
    """The multiplier built with BIAS = 8 checked as the bias-7 format.  (An adder with a
    wrong bias passes every pair: scaling all values by a power of two commutes with
    rounding, so the codes of a sum do not depend on the bias.)"""
    fmt = FORMATS["e4m3_bias7"]
    params = {**hw_cocotb.rtl_parameters(fmt), "BIAS": 8, "OP": 0, "LANES": LANES, "RBITS": 1}
    ok, report = hw_cocotb.run_rtl("mul", fmt, build_dir=tmp_path / "sim", lanes=LANES,
                                   parameters=params, expect_mismatch=True)
    assert ok, report
    _check_report(report, fmt, tmp_path)


def test_unsupported_formats_rejected() -> None:
    with pytest.raises(ValueError, match="example RTL implements"):
        hw_cocotb.rtl_parameters(mf.format("e8m0"))
    with pytest.raises(ValueError, match="example RTL implements"):
        hw_cocotb.rtl_parameters(mf.format("e2m1"))
    assert hw_cocotb.rtl_parameters(mf.p3109(8, 3)) == {
        "EXP": 5, "MAN": 2, "BIAS": 16, "NAN_LAYOUT": 2, "INF": 1}
