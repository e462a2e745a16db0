"""mf.hw: value tables and golden test vectors, checked against the independent oracle.

Every vector's result code and flags are recomputed from tests/oracle.py (exact rationals):
the result code by ``oracle.arith_code`` / ``oracle.project``, the flags from the exact
result and the oracle's own rounding (``_round_mag``: the magnitude rounded with an unbounded
exponent range, None on overflow).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")
hw = pytest.importorskip("minifloat.hw")

ORACLE_OP = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "fma": "fma",
             "sqrt": "sqrt"}
NV, DZ, OF, UF, NX = (hw.FLAG_BITS[n] for n in ("NV", "DZ", "OF", "UF", "NX"))
SAMPLE = 300


def _is_finite(v):
    return isinstance(v, (Fraction, tuple))


def _same_value(r, x):
    """Decoded result r equals the exact value x (+0 == -0, NaN == NaN)."""
    if isinstance(x, tuple):
        return isinstance(r, tuple)
    if isinstance(x, Fraction):
        return isinstance(r, Fraction) and r == x
    return r == x  # 'nan', '+inf', '-inf'


def expected_flags(op, fout, vals, code, rounding, N=None, R=None):
    """Flags of one vector from the oracle alone (definitions: minifloat.hw docstring)."""
    f = O.OFormat.of(fout)
    irrational = False
    if op == "sqrt":
        q = vals[0]
        if isinstance(q, Fraction) and q > 0 and O._sqrt_exact(q) is None:
            irrational = True
        x = O.sqrt_value(fout, q)  # rounds exactly like sqrt(q), never a tie
    elif op == "encode":
        x = vals[0]
    else:
        x = O.exact_op(ORACLE_OP[op], *vals, rounding=rounding)
    flags = 0
    any_nan = any(v == O.NAN for v in vals)
    if x == O.NAN and not any_nan:
        flags |= NV
    if op == "div" and isinstance(vals[0], Fraction) and isinstance(vals[1], tuple) \
            and vals[1] != O.UZERO:  # an unsigned zero divisor: x / 0 is NaN (NV above)
        flags |= DZ
    r = O.decode(fout, code)
    if _is_finite(x):
        if isinstance(x, Fraction):
            neg = x < 0
            k = O._round_mag(f, abs(x), neg, rounding, N, R, False)
            # unsigned: a negative x that does not round to zero; without zero, any negative x
            if k is None or (not f.signed and neg and (k != 0 or not f.subnormals)):
                flags |= OF
        nx = irrational or not _same_value(r, x)
        if nx:
            flags |= NX
            if isinstance(x, Fraction) and abs(x) < f.smallest_normal:
                flags |= UF
    elif not _same_value(r, x):
        flags |= NX
    return flags


def check_sample(vec, op, fin, fout, rounding, saturation, rng, N=None):
    n = len(vec)
    idx = rng.choice(n, size=min(SAMPLE, n), replace=False)
    names = [f.name for f in vec.fields]
    operands = [vec.column(c) for c in names if c in "abc"]
    res = vec.column("result")
    flags = vec.column("flags")
    Rs = vec.column("R") if N else None
    for i in idx.tolist():
        vals = [O.decode(fin, int(c[i])) for c in operands]
        R = int(Rs[i]) if N else None
        want = O.arith_code(ORACLE_OP[op], fout, vals, rounding, saturation, random_bits=N, R=R)
        assert want != O.NAN_NO_CODE, "vectors with no result code must be omitted"
        got = int(res[i])
        assert got == want, (op, [int(c[i]) for c in operands], got, want)
        fl = expected_flags(op, fout, vals, got, rounding, N, R)
        assert int(flags[i]) == fl, (op, [hex(int(c[i])) for c in operands], hex(got),
                                     int(flags[i]), fl)


CASES = [
    # (format, out_format, rounding, saturation)
    ("e4m3", None, "nearest_even", "none"),
    ("e5m2", None, "toward_zero", "none"),
    ("e5m2", None, "toward_positive", "finite"),
    ("binary8p3", None, "nearest_away", "propagate"),
    ("binary8p4uf", None, "toward_negative", "none"),
    ("e2m1", None, "odd", "none"),
    ("e3m2", None, "nearest_even", "finite"),
    ("e8m0", None, "nearest_even", "none"),
    ("e4m3fnuz", None, "toward_positive", "none"),
    ("e4m3", None, "nearest_even", "nan"),
    ("e5m2", "e2m1", "nearest_even", "none"),  # mixed formats
    ("e4m3", "float16", "toward_zero", "none"),  # 16-bit result (scaled flag path)
    ("float16", "e4m3", "nearest_even", "none"),  # sampled operands
    ("bfloat16", None, "odd", "none"),
]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "sqrt", "fma"])
@pytest.mark.parametrize("fmt,out,rounding,sat", CASES)
def test_vectors_match_oracle(op, fmt, out, rounding, sat, rng):
    count = 3000 if op == "fma" else None
    vec = hw.vectors(op, fmt, out_format=out, rounding=rounding, saturation=sat, count=count,
                     seed=11)
    fin = mf.format(fmt)
    fout = mf.format(out) if out else fin
    assert vec.flags_computed == hw.FLAG_NAMES
    check_sample(vec, op, fin, fout, rounding, sat, rng)


def test_custom_bias_format(rng):
    f = mf.FloatFormat(3, 4, bias=6)
    for op in ("add", "mul", "div"):
        vec = hw.vectors(op, f, rounding="nearest_even")
        assert vec.exhaustive and len(vec) == 256 * 256
        check_sample(vec, op, f, f, "nearest_even", "none", rng)


@pytest.mark.parametrize("rounding,N", [("stochastic_a", 3), ("stochastic_c", 5),
                                        ("stochastic_b", 2)])
def test_stochastic_vectors_carry_philox_bits(rounding, N, rng):
    vec = hw.vectors("mul", "e4m3", rounding=rounding, random_bits=N, seed=77, count=2000)
    R = vec.column("R")
    assert np.array_equal(R, O.random_stream(77, 0, len(vec), N).astype(np.uint64))
    check_sample(vec, "mul", mf.format("e4m3"), mf.format("e4m3"), rounding, "none", rng, N=N)


def test_exhaustive_order_and_count():
    vec = hw.vectors("add", "e4m3")
    assert vec.exhaustive and vec.omitted == 0 and len(vec) == 65536
    k = np.arange(65536, dtype=np.uint64)
    assert np.array_equal(vec.column("a"), k // 256)
    assert np.array_equal(vec.column("b"), k % 256)
    sq = hw.vectors("sqrt", "e5m2")
    assert sq.exhaustive and np.array_equal(sq.column("a"), np.arange(256, dtype=np.uint64))


def test_nan_results_without_nan_code_are_omitted():
    f = mf.format("e2m1")  # no NaN, no Inf: 0/0 has no code
    vec = hw.vectors("div", f)
    nan_pairs = [(a, b) for a in range(16) for b in range(16)
                 if O.exact_div(O.decode(f, a), O.decode(f, b)) == O.NAN]
    assert vec.omitted == len(nan_pairs) == 4
    assert len(vec) == 256 - len(nan_pairs)
    kept = set(zip(vec.column("a").tolist(), vec.column("b").tolist()))
    assert not kept & set(nan_pairs)
    assert any("omitted: 4" in line for line in vec.header())


@pytest.mark.parametrize("fmt,dtype,rounding,sat", [
    ("e4m3", "float32", "nearest_even", "none"),
    ("e5m2", "float64", "toward_zero", "finite"),
    ("binary8p3", "float32", "odd", "none"),
    ("e2m1", "float64", "nearest_away", "none"),
    ("float16", "float32", "nearest_even", "none"),
    ("bfloat16", "float64", "toward_positive", "propagate"),
])
def test_encode_vectors(fmt, dtype, rounding, sat, rng):
    vec = hw.vectors("encode", fmt, rounding=rounding, saturation=sat, input_dtype=dtype)
    f = mf.format(fmt)
    bits = vec.column("x")
    xs = bits.astype(np.uint32).view(np.float32) if dtype == "float32" else bits.view(np.float64)
    res = vec.column("result")
    flags = vec.column("flags")
    assert vec.fields[0].width == (32 if dtype == "float32" else 64)
    # the probes include every value, every midpoint and +-0, +-inf (NaN if the format has one)
    assert np.isinf(xs).any() and (xs == 0).any()
    assert np.isnan(xs).any() == f.has_nan
    for i in rng.choice(len(vec), size=SAMPLE, replace=False).tolist():
        x = xs[i]
        want = O.project(f, x, rounding, sat)
        assert int(res[i]) == want, (x, int(res[i]), want)
        kind, neg, a = O._as_exact(x)
        v = O.NAN if kind == "nan" else (O.NINF if neg else O.PINF) if kind == "inf" else (
            ("zero", int(neg)) if a == 0 else (-a if neg else a))
        assert int(flags[i]) == expected_flags("encode", f, [v], want, rounding), x


def test_decode_vectors_are_exact_bit_patterns():
    for fmt in ("e4m3", "e8m0", "binary8p5uf"):
        f = mf.format(fmt)
        vec = hw.vectors("decode", f)
        assert vec.exhaustive and len(vec) == f.num_codes
        got = vec.column("result").view(np.float64)
        want = O.decode_table(f)
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        assert same.all() and np.array_equal(np.signbit(got), np.signbit(want) & ~np.isnan(want)
                                             | np.signbit(got) & np.isnan(want))
        assert not vec.column("flags").any()
    # float32 output: values beyond float32 overflow (OF|NX), tiny ones underflow
    f = mf.FloatFormat(5, 10, bias=140)  # smallest values far below float32's
    vec = hw.vectors("decode", f, out_format="float32")
    got = vec.column("result").astype(np.uint32).view(np.float32)
    exact = O.decode_table(f)
    fl = vec.column("flags")
    for c in range(0, f.num_codes, 97):
        e = exact[c]
        assert got[c] == np.float32(e) or (np.isnan(got[c]) and np.isnan(e))
        nx = bool(np.isfinite(e) and float(np.float32(e)) != e)
        assert bool(fl[c] & NX) == nx
        assert bool(fl[c] & UF) == (nx and 0 < abs(e) < np.finfo(np.float32).tiny)


def test_flags_reported_when_not_computable():
    f = mf.p3109(16, 15)  # one exponent bit, 16 bits: no witness, max/2 below the normal range
    vec = hw.vectors("mul", f, count=500)
    assert vec.flags_computed == ("NV", "DZ")
    assert not (vec.column("flags") & np.uint64(OF | UF | NX)).any()
    assert any("computed: NV DZ" in line for line in vec.header())


def _parse_word(word, fields):
    vals, v = [], int(word, 16)
    for f in reversed(fields):
        vals.append(v & ((1 << (4 * f.digits)) - 1))
        v >>= 4 * f.digits
    return vals[::-1]


def test_file_layouts_round_trip(tmp_path):
    vec = hw.vectors("fma", "e4m3", rounding="stochastic_a", random_bits=6, count=1000)
    text, hexf = tmp_path / "v.txt", tmp_path / "v.hex"
    hw.write_vectors(vec, text)
    hw.write_vectors(vec, hexf, hex_word=True)
    cols = np.stack(vec.columns, axis=1).tolist()
    lines = [ln for ln in text.read_text().splitlines() if not ln.startswith("#")]
    assert [[int(t, 16) for t in ln.split()] for ln in lines] == cols
    words = [ln for ln in hexf.read_text().splitlines() if not ln.startswith("//")]
    digits = sum(f.digits for f in vec.fields)
    assert all(len(w) == digits for w in words)
    assert [_parse_word(w, vec.fields) for w in words] == cols
    assert [f.name for f in vec.fields] == ["a", "b", "c", "R", "result", "flags"]


def test_value_table_generic_and_cli_compatible():
    from minifloat import cli

    f = mf.format("e2m1")
    assert cli.table_csv is hw.table_csv and cli.value_rows is hw.value_rows
    rows = hw.value_rows(f)
    assert [r[1] for r in rows] == O.decode_table(f).tolist()
    assert [r[2] for r in rows] == [(c & 7) == 1 for c in range(16)]  # 0.5 is the subnormal
    csv = hw.table_csv(f).splitlines()
    assert csv[0] == "codepoint,value,subnormal" and csv[2] == "0x1,0x1p-1,1"
    assert hw.hex_value(math.inf) == "inf" and hw.hex_value(448.0) == "0x1.cp+8"


@pytest.mark.parametrize("kw,match", [
    ({"op": "pow"}, "op='pow'"),
    ({"rounding": "up"}, "rounding"),
    ({"saturation": "clip"}, "saturation"),
    ({"rounding": "stochastic_a"}, "random_bits"),
    ({"count": 0}, "count"),
    ({"seed": -1}, "seed"),
    ({"op": "encode", "input_dtype": "float16"}, "input_dtype"),
    ({"op": "decode", "out_format": "e5m2"}, "float64"),
])
def test_bad_arguments(kw, match):
    args = {"op": "add", **kw}
    op = args.pop("op")
    with pytest.raises(ValueError, match=match):
        hw.vectors(op, "e4m3", **args)
    with pytest.raises(ValueError, match="saturation='nan'"):
        hw.vectors("add", "e2m1", saturation="nan")
    with pytest.raises((ValueError, TypeError)):
        hw.vectors("add", "e9m9")


def test_write_is_atomic(tmp_path):
    vec = hw.vectors("add", "e2m1")
    target = tmp_path / "sub" / "v.txt"  # folder does not exist
    with pytest.raises(OSError):
        hw.write_vectors(vec, target)
    assert not (tmp_path / "sub").exists()
    assert list(tmp_path.iterdir()) == []


def test_value_table_of_fixed_point_format():
    fixed = pytest.importorskip("minifloat.fixed")
    f = fixed.FixedFormat(4, 3)  # signed two's complement, 3 fraction bits
    rows = hw.value_rows(f)
    want = [(c - 256 if c >= 128 else c) / 8 for c in range(256)]
    assert [r[1] for r in rows] == want and not any(r[2] for r in rows)
    vec = hw.vectors("add", f, count=50)
    assert vec.flags_computed == ("NV", "DZ") and len(vec) == 50


DETERMINISTIC = ["nearest_even", "nearest_away", "nearest_zero", "toward_zero",
                 "toward_positive", "toward_negative", "odd"]


def _check_all(vec, op, fin, fout, rounding, saturation):
    names = [f.name for f in vec.fields]
    operands = [vec.column(c).tolist() for c in names if c in "abc"]
    res, flags = vec.column("result").tolist(), vec.column("flags").tolist()
    for i in range(len(vec)):
        vals = [O.decode(fin, c[i]) for c in operands]
        want = O.arith_code(ORACLE_OP[op], fout, vals, rounding, saturation)
        assert res[i] == want, (op, [c[i] for c in operands], res[i], want)
        assert flags[i] == expected_flags(op, fout, vals, want, rounding), (
            op, [c[i] for c in operands], flags[i])


SMALL = [(mf.format("e2m1"), ("none", "finite"), True),  # no Inf, no NaN
         (mf.FloatFormat(2, 2), ("none",), False),  # IEEE layout, 5 bits
         (mf.p3109(5, 2, signed=False), ("finite",), False)]  # unsigned P3109


@pytest.mark.parametrize("fmt,sats,with_fma", SMALL, ids=[str(f[0]) for f in SMALL])
@pytest.mark.parametrize("rounding", DETERMINISTIC)
def test_every_vector_of_small_formats(fmt, sats, with_fma, rounding):
    """Exhaustive: every operand pair (and every FMA triple of the 4-bit format)."""
    ops = ("add", "sub", "mul", "div", "sqrt") + (("fma",) if with_fma else ())
    for sat in sats:
        for op in ops:
            vec = hw.vectors(op, fmt, rounding=rounding, saturation=sat)
            assert vec.exhaustive
            assert len(vec) + vec.omitted == fmt.num_codes ** hw.ARITH_OPS[op][0]
            _check_all(vec, op, fmt, fmt, rounding, sat)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [mf.FloatFormat(2, 2), mf.p3109(5, 2, signed=False)], ids=str)
@pytest.mark.parametrize("rounding", DETERMINISTIC)
@pytest.mark.parametrize("sat", ["none", "finite", "propagate"])
def test_every_fma_vector_of_5bit_formats(fmt, rounding, sat):
    vec = hw.vectors("fma", fmt, rounding=rounding, saturation=sat)
    assert vec.exhaustive and len(vec) + vec.omitted == 32 ** 3
    _check_all(vec, "fma", fmt, fmt, rounding, sat)


@pytest.mark.slow
@pytest.mark.parametrize("fmt,out", [("e4m3", None), ("binary8p3", None), ("e5m2", "e4m3"),
                                     ("e4m3", "float16")])
@pytest.mark.parametrize("op", ["add", "mul", "div"])
def test_every_vector_of_8bit_formats(fmt, out, op):
    """Exhaustive over all 65,536 operand pairs (slow: about 10 s per case)."""
    fin = mf.format(fmt)
    fout = mf.format(out) if out else fin
    vec = hw.vectors(op, fin, out_format=fout)
    assert vec.exhaustive and len(vec) + vec.omitted == 65536
    _check_all(vec, op, fin, fout, "nearest_even", "none")
