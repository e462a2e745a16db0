"""float32 -> minifloat encode: the uint32 path of project_f32.h is bit-identical to the
definition.

float32 arrays take that path whenever the format's lowest normal binade lies within float32's
normal range (emin >= -126); the other formats here (emin < -126) take the generic path and
are checked the same way.  Expected codes come from tests/oracle.py (exact rationals, written
from the definitions), from ml_dtypes casts, from NumPy's float16 cast, or (slow sweep) from a
reference assembled here from ml_dtypes' round-to-nearest-even codes and exact float64
comparisons -- never from minifloat.

Inputs are the float32 values where the path's arithmetic changes: every binade near the
format's subnormal/normal edge and its top, float32 subnormals and values far below the
format (shifts of 32 bits or more), each with mantissas at and around every rounding boundary
(the rounding probes of design §5), plus the oracle's probe values and the special values.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Any

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")

DETERMINISTIC = O.DETERMINISTIC
SATURATIONS = O.SATURATIONS

# ---------------------------------------------------------------------------- formats

FORMATS: dict[str, Any] = {}
for _name in O.PRESET_NAMES:
    FORMATS[_name] = (lambda n=_name: mf.format(n))
for _name, _kw in O.UNUSUAL.items():
    FORMATS[_name] = (lambda kw=_kw: mf.FloatFormat(**kw))
for _k, _p, _s, _x in [
    (3, 1, True, True), (3, 2, True, False), (3, 1, False, True), (3, 3, False, False),
    (4, 2, True, True), (4, 1, False, False), (5, 3, True, True), (5, 4, False, True),
    (6, 1, True, False), (6, 3, False, True), (7, 2, True, True), (7, 6, True, False),
    (8, 1, True, True), (8, 3, True, True), (8, 4, True, False), (8, 1, False, True),
    (8, 5, False, False), (8, 7, True, True), (10, 4, True, True), (12, 6, False, True),
    (16, 11, True, True),
]:
    FORMATS[f"p3109_{_k}p{_p}{'s' if _s else 'u'}{'e' if _x else 'f'}"] = (
        lambda a=(_k, _p, _s, _x): mf.p3109(a[0], a[1], signed=a[2], extended=a[3]))
# Odd biases, including both sides of the emin = -126 boundary of the uint32 path.
for _id, _kw in {
    "e4m3_bneg20": dict(exp_bits=4, man_bits=3, bias=-20),
    "e2m1_bneg60": dict(exp_bits=2, man_bits=1, bias=-60, nan="none", infinities=False),
    "e4m3_b13_fn": dict(exp_bits=4, man_bits=3, bias=13, nan="max", infinities=False),
    "e5m2_b127": dict(exp_bits=5, man_bits=2, bias=127),  # emin = -126: uint32 path
    "e5m2_b128": dict(exp_bits=5, man_bits=2, bias=128),  # emin = -127: generic path
    "e8m7_nosub_b126": dict(exp_bits=8, man_bits=7, bias=126, subnormals=False),  # emin -126
    "e6m1_u_b40": dict(exp_bits=6, man_bits=1, bias=40, signed=False, nan="max"),
    "e3m4_nosub_negzero": dict(exp_bits=3, man_bits=4, subnormals=False, nan="negzero",
                               negative_zero=False),
    "e5m10_b20": dict(exp_bits=5, man_bits=10, bias=20),
    "e0m5_b3": dict(exp_bits=0, man_bits=5, bias=3, nan="none", infinities=False),
}.items():
    FORMATS[_id] = (lambda kw=_kw: mf.FloatFormat(**kw))

IDS = sorted(FORMATS)


def _fmt(fid: str) -> Any:
    return FORMATS[fid]()


# ---------------------------------------------------------------------------- inputs


def _mantissas(width: int, shifts: set[int], rng: np.random.Generator) -> set[int]:
    """Mantissas (width bits) with the bits below each shift in `shifts` at and around the
    rounding boundaries: 0, 1, half-1, half, half+1, all ones; above them 0, 1, 2, random."""
    out = {0, (1 << width) - 1}
    for s in shifts:
        if not 1 <= s <= width:
            continue
        half = 1 << (s - 1)
        lows = {0, 1, half - 1, half, half + 1, (1 << s) - 1}
        his = {0, 1, 2, int(rng.integers(0, 1 << max(width - s, 1)))}
        for hi in his:
            for lo in lows:
                out.add(((hi << s) | lo) & ((1 << width) - 1))
    out.update(int(v) for v in rng.integers(0, 1 << width, 6))
    return out


def edge_inputs(f: Any, seed: int = 0) -> np.ndarray:
    """float32 probes of format f (both signs, specials included; NaN only if f has one)."""
    rng = np.random.default_rng(seed)
    m, emin = f.man_bits, f.minexp
    emax = math.frexp(f.max)[1] - 1  # binade of the largest finite value
    binades = set(range(emin - m - 3, emin + 3)) | set(range(emax - 2, emax + 3))
    binades |= {emin - m - 12, emin - m - 30, -125, -126, -127, -130, -149, 0}
    words: set[int] = set()
    for b in sorted(binades):
        if b > 127 or b < -149:
            continue
        # Bits of the float32 significand below the format's quantum in binade b.
        quantum_shift = 23 - m + max(emin - b, 0)
        if b >= -126:
            width, head = 23, (b + 127) << 23
            shifts = {quantum_shift - 1, quantum_shift, quantum_shift + 1, 1, 2, 23}
        else:  # float32 subnormal: leading bit at position b + 149
            width, head = b + 149, 1 << (b + 149)
            sub_shift = quantum_shift - (-126 - b)
            shifts = {sub_shift - 1, sub_shift, sub_shift + 1, 1, width}
        for mant in _mantissas(width, shifts, rng):
            words.add(head | mant)
    words |= {0, 1, 0x7F7FFFFF, 0x7F800000, 0x00800000, 0x007FFFFF}
    w = np.array(sorted(words), dtype=np.uint32)
    w = np.concatenate([w, w | np.uint32(0x80000000)])
    xs = w.view(np.float32)
    ref = O.OFormat.of(f)
    probes = O.probe_values(ref, np.float32, include_nan=False,
                            intervals=600 if f.bits > 8 else None)
    xs = np.concatenate([xs, probes.astype(np.float32)])
    if f.has_nan:
        nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFFFFFFF], np.uint32)
        xs = np.concatenate([xs, nans.view(np.float32)])
    return np.unique(xs.view(np.uint32)).view(np.float32)


def uses_uint32_path(f: Any) -> bool:
    """The dispatch rule of csrc/module.cpp (mf::f32_path_ok) for deterministic modes."""
    return f.minexp >= -126 and f.man_bits <= 22


def test_format_catalogue_covers_both_paths() -> None:
    fast = [fid for fid in IDS if uses_uint32_path(_fmt(fid))]
    assert len(fast) >= 50 and len(IDS) - len(fast) >= 2


# ---------------------------------------------------------------------------- deterministic


@pytest.mark.parametrize("fid", IDS)
def test_every_deterministic_mode_and_saturation_matches_oracle(fid: str) -> None:
    f = _fmt(fid)
    ref = O.OFormat.of(f)
    xs = edge_inputs(f)
    for sat in SATURATIONS:
        if sat == "nan" and not f.has_nan:
            continue
        for mode in DETERMINISTIC:
            got = mf.encode(xs, f, rounding=mode, saturation=sat)
            assert got.dtype == (np.uint8 if f.bits <= 8 else np.uint16)
            with np.errstate(invalid="ignore"):
                expected = O.project_f64(ref, xs.astype(np.float64), mode, sat)
            O.assert_codes_equal(got, expected, xs, ref, f"{fid} {mode} sat={sat}")


@pytest.mark.parametrize("fid", ["float8_e4m3fn", "float8_e5m2", "p3109_8p3se", "e5m2_nosub",
                                 "e1m6_u", "bfloat16"])
def test_flush_subnormals_matches_oracle(fid: str) -> None:
    f = _fmt(fid)
    ref = O.OFormat.of(f)
    xs = edge_inputs(f)
    xs = xs[np.isfinite(xs)]
    for mode in ("nearest_even", "toward_positive", "odd"):
        got = mf.encode(xs, f, rounding=mode, flush_subnormals=True)
        expected = np.array([O.project(ref, float(x), mode, "none", flush_subnormals=True)
                             for x in xs.tolist()], dtype=np.int64)
        O.assert_codes_equal(got, expected, xs, ref, f"{fid} {mode} flush")


ML_NAMES = [n for n in O.PRESET_NAMES if n not in ("float16", "float8_e8m0fnu")]


@pytest.mark.parametrize("name", ML_NAMES)
def test_nearest_even_matches_ml_dtypes(name: str) -> None:
    """ml_dtypes casts round to nearest even with saturation 'none' semantics (e8m0fnu is
    left out: its documented tie divergence, test_peers.py; float16 is NumPy's, below)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    f = mf.format(name)
    xs = edge_inputs(f)
    if not f.has_nan:  # NaN into a format without NaN raises (ml_dtypes returns a code)
        xs = xs[~np.isnan(xs)]
    with np.errstate(over="ignore", invalid="ignore"):
        expected = xs.astype(getattr(ml_dtypes, name)).view(f.dtype)
    got = mf.encode(xs, f)
    O.assert_codes_equal(got, expected, xs, O.OFormat.of(f), f"{name} vs ml_dtypes")


def test_float16_matches_numpy() -> None:
    f = mf.format("float16")
    xs = edge_inputs(f)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = xs.astype(np.float16).view(np.uint16)
    got = mf.encode(xs, f)
    # NumPy keeps NaN payloads; minifloat gives the canonical NaN.
    nan = np.isnan(xs)
    O.assert_codes_equal(got[~nan], expected[~nan], xs[~nan], O.OFormat.of(f), "float16")
    assert np.isnan(mf.decode(got[nan], f)).all()


def test_float32_strided_and_shaped_input() -> None:
    """The uint32 path reads any float32 layout: non-contiguous, reversed, 0-d, empty."""
    f = mf.format("float8_e4m3fn")
    ref = O.OFormat.of(f)
    xs = edge_inputs(f)
    xs = xs[~np.isnan(xs)]
    expected = O.project_f64(ref, xs.astype(np.float64), "nearest_even", "none")
    big = np.zeros((xs.size, 3), np.float32)
    big[:, 1] = xs
    O.assert_codes_equal(mf.encode(big[:, 1], f), expected, xs, ref, "strided")
    O.assert_codes_equal(mf.encode(xs[::-1], f), expected[::-1], xs[::-1], ref, "reversed")
    assert mf.encode(np.float32(0.3), f).shape == ()
    assert mf.encode(np.zeros((0, 4), np.float32), f).shape == (0, 4)


def test_nan_into_format_without_nan_raises() -> None:
    f = mf.format("float4_e2m1fn")
    xs = np.full(5000, 1.0, np.float32)
    xs[4321] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mf.encode(xs, f)


# ---------------------------------------------------------------------------- stochastic

STO_IDS = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float4_e2m1fn", "p3109_8p3se",
           "p3109_6p3ue", "bfloat16", "e4m3_b11", "e5m2_nosub", "e3m2_nonan_noinf", "e1m6_u",
           "e4m3_bneg20"]
STO_MODES = ("stochastic_a", "stochastic_b", "stochastic_c", "stochastic_equal")


def _sample(f: Any, rng: np.random.Generator) -> list[float]:
    """A structured sample of float32 inputs for stochastic modes: the lowest intervals,
    the subnormal/normal edge, the top, overflow, and values 2^10..2^40 below the smallest
    subnormal (where nu has more than 32 significant bits)."""
    ref = O.OFormat.of(f)
    lad = [float(v) for v in ref.ladder] + [float(ref.max_next)]
    n = len(lad)
    sn = min(range(n), key=lambda i: abs(lad[i] - f.smallest_normal))
    picks = {0, 1, max(sn - 1, 0), sn, n - 3, n - 2}
    xs: list[float] = []
    for i in sorted(p for p in picks if 0 <= p < n - 1):
        a, b = lad[i], lad[i + 1]
        for frac in (0.5, 0.25, 1 / 3, 0.9999, 1e-5, float(rng.random())):
            xs.append(float(np.float32(a + frac * (b - a))))
    tiny = float(ref.smallest_subnormal())
    for k in (10, 20, 30, 40):
        xs.append(float(np.float32(tiny * 2.0**-k * (1 + float(rng.random())))))
    if lad[-1] * 3.0 < float(np.finfo(np.float32).max):
        xs.append(float(np.float32(lad[-1] * 3.0)))
    xs = [x for x in xs if x != 0 and math.isfinite(x)]
    return sorted(set(xs)) + [-x for x in sorted(set(xs))[::3]]


def _r_values(x: float, ref: Any, N: int) -> list[int]:
    """R at the extremes, the middle and both sides of the stochastic_a threshold."""
    rs = {0, 1, (1 << (N - 1)) - 1, 1 << (N - 1), (1 << N) - 1}
    kind, _t, nu, _c = O._locate(ref, abs(Fraction(x)))
    if kind == "inexact" or (nu is not None and 0 < nu < 1):
        thr = (1 << N) - math.floor(nu * (1 << N))
        rs |= {thr - 1, thr, thr + 1}
    return sorted(r for r in rs if 0 <= r < 1 << N)


@pytest.mark.parametrize("fid", STO_IDS)
def test_stochastic_modes_match_oracle(fid: str) -> None:
    f = _fmt(fid)
    ref = O.OFormat.of(f)
    rng = np.random.default_rng(7)
    sample = _sample(f, rng)
    sat = "finite" if STO_IDS.index(fid) % 2 else "none"
    for mode in STO_MODES:
        # N = 31 is the widest stochastic_b/c call of the uint32 path; 32 goes the generic one.
        for N in (1, 3, 31, 32) if mode in ("stochastic_b", "stochastic_c") else (1, 3, 32):
            xs, rs = [], []
            for x in sample:
                for r in _r_values(x, ref, N):
                    xs.append(x)
                    rs.append(r)
            x32 = np.array(xs, np.float32)
            r_arr = np.array(rs, np.uint64)
            got = mf.encode(x32, f, rounding=mode, saturation=sat, random_bits=N, random=r_arr)
            expected = [O.project(ref, x, mode, sat, random_bits=N, R=r) for x, r in zip(xs, rs)]
            O.assert_codes_equal(got, expected, x32, ref, f"{fid} {mode} N={N} sat={sat}")


@pytest.mark.parametrize("fid,mode,N", [("float8_e4m3fn", "stochastic", 32),
                                        ("float8_e5m2", "stochastic_c", 5),
                                        ("bfloat16", "stochastic_b", 31),
                                        ("p3109_8p3se", "stochastic_a", 12)])
def test_seeded_stream_matches_oracle(fid: str, mode: str, N: int) -> None:
    """Philox words by stream position (offset not a multiple of 4, many 1024-element blocks),
    with 1 and 2 threads: 70,000 elements are split between the threads, and the oracle checks
    the first 1,500 and the last 1,000 (the second thread's block ends)."""
    f = _fmt(fid)
    ref = O.OFormat.of(f)
    rng = np.random.default_rng(11)
    xs = edge_inputs(f)
    xs = xs[np.isfinite(xs)]
    xs = rng.choice(xs, 70000).astype(np.float32)
    seed, offset = (1 << 40) + 12345, 7
    checked = np.r_[0:1500, xs.size - 1000:xs.size]
    rs = O.random_stream(seed, offset, xs.size, N)[checked]
    expected = [O.project(ref, float(x), mode, "none", random_bits=N, R=int(r))
                for x, r in zip(xs[checked].tolist(), rs)]
    threads = mf.get_num_threads()
    results = []
    try:
        for nt in (1, 2):
            mf.set_num_threads(nt)
            got = mf.encode(xs, f, rounding=mode, random_bits=N if mode != "stochastic" else None,
                            seed=seed, offset=offset)
            O.assert_codes_equal(got[checked], expected, xs[checked], ref,
                                 f"{fid} {mode} seeded threads={nt}")
            results.append(got)
    finally:
        mf.set_num_threads(threads)
    assert np.array_equal(results[0], results[1])


# ---------------------------------------------------------------------------- exhaustive


class _Neighbours:
    """t <= |x| < u for float32 x, assembled from ml_dtypes' round-to-nearest-even codes (t and
    u are that code and its neighbour on the other side of x) and exact float64 comparisons of
    |x| with t, u and their midpoint (float32 x, t, u: all exact in float64).  For finite x
    with |x| <= max only (no overflow decision involved)."""

    def __init__(self, name: str, x: np.ndarray) -> None:
        import ml_dtypes

        dt = np.float16 if name == "float16" else getattr(ml_dtypes, name)
        f = mf.format(name)
        with np.errstate(over="ignore", invalid="ignore"):
            r = x.astype(dt).view(f.dtype).astype(np.int32)
            table = np.arange(f.num_codes, dtype=f.dtype).view(dt).astype(np.float64)
        sign_bit = 1 << (f.bits - 1)
        mag = r & (sign_bit - 1)
        a = np.abs(x.astype(np.float64))
        t = np.where(np.abs(table[mag]) > a, mag - 1, mag)  # codes step by one in magnitude
        u = np.minimum(t + 1, int(f.code_of_max))
        vt, vu = table[t], table[u]
        self.t, self.u, self.sign = t, u, r & sign_bit
        self.exact = a == vt
        d2, w = 2 * (a - vt), vu - vt
        self.gt, self.eq = d2 > w, d2 == w
        self.neg = np.signbit(x)
        self.t_odd = (t & 1) == 1

    def codes(self, mode: str) -> np.ndarray:
        away = {
            "nearest_even": lambda: self.gt | (self.eq & self.t_odd),
            "nearest_away": lambda: self.gt | self.eq,
            "nearest_zero": lambda: self.gt,
            "toward_zero": lambda: np.zeros(self.t.shape, bool),
            "toward_positive": lambda: ~self.neg,
            "toward_negative": lambda: self.neg,
            "odd": lambda: ~self.t_odd,
        }[mode]() & ~self.exact
        return np.where(away, self.u, self.t) | self.sign  # these formats all have -0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "bfloat16", "float16"])
def test_all_float32_inputs(name: str) -> None:
    """Every one of the 2^32 float32 bit patterns (chunks of 2^24): nearest_even against
    ml_dtypes (NumPy for float16), and every other deterministic mode against the
    neighbour reference above wherever the result is finite and in range.
    MF_F32_CHUNKS=a:b restricts the chunks (0..256) for a partial run."""
    pytest.importorskip("ml_dtypes")
    import ml_dtypes

    f = mf.format(name)
    dt = np.float16 if name == "float16" else getattr(ml_dtypes, name)
    lo, hi = (int(v) for v in os.environ.get("MF_F32_CHUNKS", "0:256").split(":"))
    step = 1 << 24
    max_value = f.max
    for c in range(lo, hi):
        bits = np.arange(c * step, (c + 1) * step, dtype=np.uint64).astype(np.uint32)
        x = bits.view(np.float32)
        if not f.has_nan:
            x = x[~np.isnan(x)]
        with np.errstate(over="ignore", invalid="ignore"):
            expected = x.astype(dt).view(f.dtype)
        got = mf.encode(x, f)
        nan = np.isnan(x)
        ok = (got == expected) | (nan & np.isnan(mf.decode(got, f)))
        assert ok.all(), (name, "nearest_even", x[~ok][:8], got[~ok][:8], expected[~ok][:8])
        # Other modes where x is finite and |x| <= max (no overflow decision involved).
        with np.errstate(invalid="ignore"):
            inside = np.isfinite(x) & (np.abs(x.astype(np.float64)) <= max_value)
        xi = x[inside]
        ref = _Neighbours(name, xi)
        # The reference reproduces ml_dtypes where both are defined (a check of the reference).
        assert np.array_equal(ref.codes("nearest_even"), expected[inside])
        for mode in DETERMINISTIC[1:]:
            expected_mode = ref.codes(mode)
            got = mf.encode(xi, f, rounding=mode)
            bad = np.nonzero(got != expected_mode)[0]
            assert bad.size == 0, (name, mode, xi[bad[:8]], got[bad[:8]], expected_mode[bad[:8]])
