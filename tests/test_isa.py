"""Every ISA level of the compiled core gives the same bits (docs/build.md).

For each level this machine can run, the oracle-checked core of the suite runs in a
subprocess with ``MINIFLOAT_ISA=<level>`` (so each level is checked against the exact oracle
and ml_dtypes, not only against another level), and tests/isa_digest.py's digests of every
path (encode / decode / arith / matmul / fixed / LNS / block, all presets and modes) must be
equal between levels. Bad ``MINIFLOAT_ISA`` values are a clear ImportError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minifloat import _core

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LEVELS = [lv for lv in _core.compiled_levels() if lv in _core.supported_levels()]

# Oracle-checked files run at every level by default (about 40 s per level on 2 cores) ...
CORE_FILES = ["tests/test_encode_f32_fast.py", "tests/test_decode.py",
              "tests/test_fixed_codec.py", "tests/test_lns_fast.py"]
# ... and the longer ones under -m slow.
SLOW_FILES = ["tests/test_encode_probes.py", "tests/test_arith.py", "tests/test_blocks.py",
              "tests/test_stochastic.py", "tests/test_linalg.py",
              "tests/test_matmul_acc16_fast.py", "tests/test_fixed_arith.py", "tests/test_lns.py"]


def _env(level: str) -> dict[str, str]:
    return dict(os.environ, MINIFLOAT_ISA=level, MPLBACKEND="Agg")


def _run(level: str, args: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=_env(level), cwd=cwd, timeout=timeout)


@pytest.mark.parametrize("level", LEVELS)
def test_forced_level_is_the_one_loaded(level, tmp_path):
    r = _run(level, ["-c", "from minifloat import _core; "
                           "print(_core.ISA, _core.ISA_LEVEL, _core.ISA_TARGET)"], tmp_path, 120)
    assert r.returncode == 0, r.stderr[-2000:]
    words = r.stdout.split()
    assert words[:2] == [level, level]
    expected = {"avx2": {"avx2", "fma"}, "avx512": {"avx512f", "avx512bw", "avx2"}}
    assert expected.get(level, set()) <= set(words[2:])
    if level == "baseline":
        assert "avx2" not in words[2:] and "avx512f" not in words[2:]


def test_default_is_the_best_supported_level(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MINIFLOAT_ISA"}
    r = subprocess.run([sys.executable, "-c", "from minifloat import _core; print(_core.ISA)"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == LEVELS[-1]


@pytest.mark.parametrize("value", ["bogus", "AVX2", "avx1024"])
def test_unknown_isa_value_is_a_clear_error(value, tmp_path):
    r = _run(value, ["-c", "import minifloat"], tmp_path, 120)
    assert r.returncode != 0
    assert "MINIFLOAT_ISA" in r.stderr and repr(value) in r.stderr
    assert "baseline, avx2, avx512" in r.stderr


def test_level_not_available_is_a_clear_error(tmp_path):
    missing = [lv for lv in _core.LEVELS if lv not in LEVELS]
    assert missing, "every level is compiled and runnable: native is never both"
    for lv in missing:
        r = _run(lv, ["-c", "import minifloat"], tmp_path, 120)
        assert r.returncode != 0
        assert "MINIFLOAT_ISA" in r.stderr and "allowed values here: " in r.stderr
        assert ", ".join(LEVELS) in r.stderr


def _suite(level: str, files: list[str], cwd: Path) -> None:
    # Run from outside the source tree: ``python -m pytest`` puts the working directory on
    # sys.path, and the checkout's minifloat/ (no compiled modules) would shadow the install.
    paths = [str(ROOT / f) for f in files]
    r = _run(level, ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                     "-c", str(ROOT / "pyproject.toml"), *paths], cwd, 1800)
    assert r.returncode == 0, f"MINIFLOAT_ISA={level}:\n{r.stdout[-4000:]}\n{r.stderr[-2000:]}"


@pytest.mark.parametrize("level", LEVELS)
def test_oracle_core_suite_at_level(level, tmp_path):
    _suite(level, CORE_FILES, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
def test_oracle_long_suite_at_level(level, tmp_path):
    _suite(level, SLOW_FILES, tmp_path)


def _digests(level: str, tmp_path: Path) -> dict[str, str]:
    r = _run(level, [str(HERE / "isa_digest.py"), "--full"], tmp_path, 600)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)
    assert got["level"] == level
    return got["digests"]


def test_digests_equal_at_every_level(tmp_path):
    if len(LEVELS) < 2:
        pytest.skip(f"only one level runs here ({LEVELS}): nothing to compare")
    ref = _digests(LEVELS[0], tmp_path)
    assert len(ref) > 800
    for lv in LEVELS[1:]:
        got = _digests(lv, tmp_path)
        assert got.keys() == ref.keys()
        diff = sorted(k for k in ref if ref[k] != got[k])
        assert not diff, f"{LEVELS[0]} and {lv} differ in {len(diff)} paths: {diff[:20]}"


def test_build_info_and_show_config():
    import io

    import minifloat as mf

    info = mf.build_info()
    for key in ("compiler", "common_flags", "levels_compiled", "levels_supported", "level",
                "level_flags", "chosen_by", "module", "version"):
        assert key in info, key
    assert "-ffp-contract=off" in info["common_flags"]
    assert info["level"] in info["levels_supported"]
    assert set(info["levels_supported"]) <= set(info["levels_compiled"])
    assert info["module"] == f"minifloat._core_{info['level']}"
    assert "-march=native" not in info["level_flags"] or info["level"] == "native"
    buf = io.StringIO()
    mf.show_config(buf)
    text = buf.getvalue()
    assert "level in use:" in text and info["level"] in text and info["compiler"] in text
    assert "build_info" in mf.__all__ and "show_config" in mf.__all__


def test_cli_info_build(capsys):
    from minifloat.cli import main

    assert main(["info", "--build"]) == 0
    out = capsys.readouterr().out
    assert "levels compiled in:" in out and "level in use:" in out
    assert main(["info", "e4m3", "--build"]) == 2
    assert main(["info"]) == 2
    assert main(["info", "e4m3"]) == 0
