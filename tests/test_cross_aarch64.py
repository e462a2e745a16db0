"""The header core on aarch64 gives the bits of the x86-64 build (docs/build.md, "aarch64").

tests/cross/make_golden.py writes golden vectors with this (x86-64) build: every encode probe
of the <= 8-bit presets in every rounding mode and saturation (float64 and float32 input,
flush, seeded and explicit stochastic bits) and every operand pair of float8_e4m3fn add and
multiply (about 5.4 M codes). tests/cross/golden_driver.cpp, which includes the headers
directly, is cross-compiled with Debian's aarch64-linux-gnu-g++ (static) and run under
qemu-aarch64; it must reproduce every code. The whole set takes a few seconds, so it is the
default run; -m slow adds an SVE build (-march=armv8.2-a+sve, qemu -cpu max). The same driver
also runs natively, so a mismatch on ARM is told apart from a driver bug. Skips, saying why,
where the cross compiler or qemu-user is missing (.ci/run installs both with apt-get).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("minifloat")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DRIVER = HERE / "cross" / "golden_driver.cpp"
FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
         "-ffp-contract=off", f"-I{ROOT / 'csrc' / 'include'}"]
CROSS = shutil.which("aarch64-linux-gnu-g++")
QEMU = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "golden.bin"
    r = subprocess.run([sys.executable, str(HERE / "cross" / "make_golden.py"), str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _compile(cxx: str, extra: list[str], exe: Path) -> None:
    r = subprocess.run([cxx, *FLAGS, *extra, str(DRIVER), "-o", str(exe)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not r.stderr.strip(), f"compiler warnings:\n{r.stderr[-3000:]}"


def _check(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout[-3000:] + r.stderr[-2000:])
    assert "mismatches 0" in r.stdout
    return r.stdout


def _need_cross() -> None:
    if CROSS is None:
        pytest.skip("aarch64-linux-gnu-g++ not found (Debian: apt-get install "
                    "g++-aarch64-linux-gnu)")
    if QEMU is None:
        pytest.skip("qemu-aarch64 not found (Debian: apt-get install qemu-user)")


def test_driver_native(golden, tmp_path):
    """The driver on this machine's own compiler: the golden file and driver agree here."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no native C++ compiler")
    exe = tmp_path / "golden_native"
    _compile(cxx, [], exe)
    out = _check([str(exe), str(golden)])
    assert "checked 5" in out  # about 5.4 M codes


def test_aarch64_under_qemu(golden, tmp_path):
    _need_cross()
    if platform.machine() == "aarch64":
        pytest.skip("this machine is aarch64: test_driver_native covers it")
    exe = tmp_path / "golden_aarch64"
    _compile(CROSS, ["-static"], exe)
    _check([QEMU, str(exe), str(golden)])


@pytest.mark.slow
def test_aarch64_sve_under_qemu(golden, tmp_path):
    """An SVE build (the compiler may auto-vectorise with SVE) on qemu's 'max' CPU."""
    _need_cross()
    exe = tmp_path / "golden_aarch64_sve"
    _compile(CROSS, ["-static", "-O3", "-march=armv8.2-a+sve"], exe)
    _check([QEMU, "-cpu", "max", str(exe), str(golden)])
