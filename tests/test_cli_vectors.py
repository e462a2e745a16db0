"""`minifloat vectors` through a subprocess: exit codes, messages, atomic output."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import oracle as O
import pytest

pytest.importorskip("minifloat")


# Subprocesses run outside the checkout: with the repository root as the working directory,
# `python -m minifloat` would import the source tree (which has no compiled _core) instead of
# the installed package.
NEUTRAL_CWD = tempfile.mkdtemp(prefix="minifloat-cli-")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "minifloat", *args], capture_output=True,
                          text=True, cwd=cwd or NEUTRAL_CWD, timeout=300)


def data_lines(path, comment="#"):
    return [ln for ln in path.read_text().splitlines() if not ln.startswith(comment)]


def test_exhaustive_vectors_file(tmp_path):
    out = tmp_path / "add.txt"
    p = run("vectors", "--format", "e2m1", "--op", "add", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "wrote 256 exhaustive add vectors" in p.stderr
    lines = data_lines(out)
    assert len(lines) == 256
    # spot-check against the oracle: 1.5 + 3 = 4.5 -> tie between 4 and 6 -> 4 (even), inexact
    f = O.preset("float4_e2m1fn")
    a, b = 0x3, 0x5  # 1.5, 3.0
    assert O.decode(f, a) == 1.5 and O.decode(f, b) == 3
    want = O.arith_code("add", f, [O.decode(f, a), O.decode(f, b)])
    assert O.decode(f, want) == 4
    assert f"3 5 {want:X} 10" in lines  # NX = bit 4
    header = [ln for ln in out.read_text().splitlines() if ln.startswith("#")]
    assert any("op=add count=256 exhaustive" in h for h in header)


def test_hex_and_options(tmp_path):
    out = tmp_path / "v.hex"
    p = run("vectors", "--format", "e4m3", "--op", "fma", "--count", "100", "--seed", "5",
            "--rounding", "stochastic_c", "--random-bits", "3", "--saturation", "finite",
            "--out-format", "e5m2", "--out", str(out), "--hex")
    assert p.returncode == 0, p.stderr
    words = data_lines(out, "//")
    assert len(words) == 100
    # a, b, c (2 digits), R (1), result (2), flags (2)
    assert all(len(w) == 11 and int(w, 16) >= 0 for w in words)


def test_encode_and_decode(tmp_path):
    out = tmp_path / "enc.txt"
    p = run("vectors", "--format", "e5m2", "--op", "encode", "--input", "float64",
            "--count", "50", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert all(len(ln.split()[0]) == 16 for ln in data_lines(out))
    out2 = tmp_path / "dec.txt"
    p = run("vectors", "--format", "e5m2", "--op", "decode", "--out-format", "float32",
            "--out", str(out2))
    assert p.returncode == 0, p.stderr
    assert len(data_lines(out2)) == 256


@pytest.mark.parametrize("args,message", [
    (["--format", "e9m9"], "unknown format name 'e9m9'"),
    (["--format", "e4m3", "--op", "pow"], "op='pow' is not a vector operation"),
    (["--format", "e2m1", "--saturation", "nan"], "saturation='nan' needs a format with a NaN"),
    (["--format", "e4m3", "--rounding", "stochastic_a"], "needs random_bits"),
    (["--format", "e4m3", "--rounding", "sideways"], "rounding='sideways'"),
    (["--format", "e4m3", "--count", "0"], "count=0"),
    (["--format", "e4m3", "--bias", "5000"], "bias"),
    (["--format", "e4m3", "--op", "decode", "--out-format", "e5m2"], "float64"),
])
def test_bad_arguments_exit_2_and_leave_file_alone(tmp_path, args, message):
    out = tmp_path / "v.txt"
    out.write_text("previous content\n")
    p = run("vectors", *args, "--out", str(out))
    assert p.returncode == 2
    assert message in p.stderr, p.stderr
    assert out.read_text() == "previous content\n"
    assert sorted(os.listdir(tmp_path)) == ["v.txt"]


def test_missing_required_argument_exits_2(tmp_path):
    p = run("vectors", "--format", "e4m3")
    assert p.returncode == 2 and "--out" in p.stderr


def test_unwritable_output_exits_1_nothing_written(tmp_path):
    p = run("vectors", "--format", "e2m1", "--out", str(tmp_path / "missing" / "v.txt"))
    assert p.returncode == 1 and "cannot write" in p.stderr
    assert list(tmp_path.iterdir()) == []
    target = tmp_path / "adir"  # the target is a directory: the final rename fails
    target.mkdir()
    p = run("vectors", "--format", "e2m1", "--out", str(target))
    assert p.returncode == 1 and "cannot write" in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["adir"]  # no temporary file left behind
    assert list(target.iterdir()) == []


def test_info_and_table_unchanged(tmp_path):
    p = run("table", "e2m1")
    assert p.returncode == 0 and p.stdout.splitlines()[:3] == [
        "codepoint,value,subnormal", "0x0,0x0p+0,0", "0x1,0x1p-1,1"]
    p = run("info", "e4m3", "--bias", "11")
    assert p.returncode == 0 and "bias" in p.stdout and "11" in p.stdout
    p = run("table", "nope")
    assert p.returncode == 2 and "unknown format" in p.stderr


def test_lns_add_algorithm_option(tmp_path):
    """--lns-add selects the LNS addition algorithm (recorded in the header); the vectors are
    those of mf.add under that algorithm (its accuracy is tested against the oracle in
    test_lns.py). The approximate 'mitchell' differs from 'exact' on some pairs."""
    import numpy as np

    import minifloat as mf

    results = {}
    for algo in ("exact", "mitchell"):
        out = tmp_path / f"{algo}.txt"
        p = run("vectors", "--format", "lns8", "--op", "add", "--lns-add", algo,
                "--out", str(out))
        assert p.returncode == 0, p.stderr
        assert f"lns_add={algo}" in out.read_text().splitlines()[3]
        rows = [ln.split() for ln in data_lines(out)]
        a = np.array([int(r[0], 16) for r in rows], dtype=np.uint8)
        b = np.array([int(r[1], 16) for r in rows], dtype=np.uint8)
        got = np.array([int(r[2], 16) for r in rows])
        fmt = mf.format("lns8")
        with mf.config(lns_add=algo):
            exp = mf.add(mf.from_codes(a, fmt), mf.from_codes(b, fmt)).codes
        assert (got == exp).all(), algo
        results[algo] = got
    assert (results["exact"] != results["mitchell"]).any()
    p = run("vectors", "--format", "lns8", "--op", "add", "--lns-add", "bogus",
            "--out", str(tmp_path / "x.txt"))
    assert p.returncode == 2 and not (tmp_path / "x.txt").exists()
