"""Stochastic rounding: exact up-counts over all R, seeded streams (Philox4x32-10), statistics.

Expected codes come from tests/oracle.py (project with an explicit R, random_stream, philox).
"""

import math
from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")

FORMATS = {
    "float8_e4m3fn": (lambda: mf.format("float8_e4m3fn"), O.preset("float8_e4m3fn")),
    "float8_e5m2": (lambda: mf.format("float8_e5m2"), O.preset("float8_e5m2")),
    "binary8p1ue": (lambda: mf.p3109(8, 1, signed=False), O.p3109(8, 1, False)),
    "bfloat16": (lambda: mf.format("bfloat16"), O.preset("bfloat16")),
    "float4_e2m1fn": (lambda: mf.format("float4_e2m1fn"), O.preset("float4_e2m1fn")),
    "float8_e8m0fnu": (lambda: mf.format("float8_e8m0fnu"), O.preset("float8_e8m0fnu")),
}

MODES = ("stochastic_a", "stochastic_b", "stochastic_c", "stochastic_equal")


def _nus(N):
    """ν values: exact multiples of 2^-N, ones with extra low bits, and extremes."""
    out = set()
    for j in range(0, 1 << N):
        out.add(Fraction(j, 1 << N))
        out.add(Fraction(j, 1 << N) + Fraction(1, 1 << (N + 7)))
        if j:
            out.add(Fraction(j, 1 << N) - Fraction(1, 1 << (N + 9)))
    out |= {
        Fraction(1, 2),
        Fraction(1, 3 << 20) * 3,
        Fraction(1, 1 << 30),
        1 - Fraction(1, 1 << 30),
    }
    return sorted(v for v in out if 0 <= v < 1)


def _xs_at(ref, nus, intervals):
    """x = t + ν (u - t) for a few ladder intervals; only exactly-float64 ones are kept."""
    lad = ref.ladder + [ref.max_next]
    xs = []
    for i in intervals:
        t, u = lad[i], lad[i + 1]
        for nu in nus:
            x = t + nu * (u - t)
            fx = float(x)
            if Fraction(fx) == x:
                xs.append(fx)
                xs.append(-fx)  # unsigned formats: the negative-input rule
    return np.array(xs)


def _intervals(ref):
    n = len(ref.ladder)  # the last interval is [max, max_next): overflow region
    return sorted({0, 1, n // 3, n // 2, n - 2, n - 1})


@pytest.mark.parametrize("N", [1, 3, 8])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_all_R_values(fid, mode, N):
    make, ref = FORMATS[fid]
    fmt = make()
    nus = (
        _nus(N)
        if N <= 3
        else [Fraction(j, 256) for j in (0, 1, 37, 128, 200, 255)]
        + [
            Fraction(77, 256) + Fraction(1, 1 << 20),
            Fraction(1, 1 << 30),
        ]
    )
    base = _xs_at(ref, nus, _intervals(ref))
    R = np.arange(1 << N)
    xs = np.repeat(base, 1 << N)
    rs = np.tile(R, base.size)
    for sat in [s for s in O.SATURATIONS if s != "nan" or ref.has_nan]:
        got = mf.encode(xs, fmt, rounding=mode, saturation=sat, random_bits=N, random=rs)
        assert got.shape == xs.shape
        exp = [O.project(ref, float(x), mode, sat, random_bits=N, R=int(r)) for x, r in zip(xs, rs)]
        O.assert_codes_equal(got, exp, xs, ref, f"{mode} N={N} sat={sat}")


@pytest.mark.parametrize("N", [1, 3, 5])
def test_stochastic_a_exact_up_count(N):
    """ν = j/2^N exactly: exactly j of the 2^N values of R round away (semantics.md §2)."""
    t, u = Fraction(9, 32), Fraction(5, 16)
    for j in range(1 << N):
        x = float(t + (u - t) * Fraction(j, 1 << N))
        got = mf.encode(
            np.full(1 << N, x),
            "float8_e4m3fn",
            rounding="stochastic_a",
            random_bits=N,
            random=np.arange(1 << N),
        )
        assert int((got == 0x2A).sum()) == j
        assert set(got.tolist()) <= {0x29, 0x2A}


def test_stochastic_equal_default_bits():
    ref = O.preset("float8_e4m3fn")
    xs = np.array([0.3, 0.3, -0.3, -0.3, 0.28125, 0.28125])
    rs = np.array([0, 1, 0, 1, 0, 1])
    got = mf.encode(xs, "float8_e4m3fn", rounding="stochastic_equal", random=rs)
    exp = [O.project(ref, x, "stochastic_equal", R=int(r)) for x, r in zip(xs, rs)]
    assert got.tolist() == exp == [0x29, 0x2A, 0xA9, 0xAA, 0x29, 0x29]


@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_stochastic_32_bits_explicit(fid, rng):
    make, ref = FORMATS[fid]
    base = _xs_at(
        ref,
        [
            Fraction(1, 3 << 20) * 3,
            Fraction(5, 7) * 0 + Fraction(0x9ABCDEF1, 1 << 32),
            Fraction(1, 2),
            Fraction(3, 1 << 31),
        ],
        _intervals(ref),
    )
    rs = np.concatenate(
        [
            rng.integers(0, 1 << 32, size=base.size, dtype=np.uint64),
            np.full(base.size, (1 << 32) - 1, dtype=np.uint64),
            np.zeros(base.size, dtype=np.uint64),
            np.full(base.size, (1 << 32) - 0x9ABCDEF1, dtype=np.uint64),
            np.full(base.size, (1 << 32) - 0x9ABCDEF1 - 1, dtype=np.uint64),
        ]
    ).astype(np.uint32)
    xs = np.tile(base, 5)
    got = mf.encode(xs, make(), rounding="stochastic", random=rs)
    exp = [O.project(ref, float(x), "stochastic", R=int(r)) for x, r in zip(xs, rs)]
    O.assert_codes_equal(got, exp, xs, ref, "stochastic N=32")
    # the same as stochastic_a with random_bits=32
    got_a = mf.encode(xs, make(), rounding="stochastic_a", random_bits=32, random=rs)
    assert np.array_equal(got, got_a)


# ---------------------------------------------------------------------------- seeded


def _probe_xs(ref, n, rng):
    """n random values spread over the format's range (both signs), plus exact ν points."""
    lad = ref.ladder
    i = rng.integers(0, len(lad) - 1, size=n)
    frac = rng.random(n)
    lo = np.array([float(lad[k]) for k in i])
    hi = np.array([float(lad[k + 1]) for k in i])
    xs = lo + frac * (hi - lo)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return xs * sign


@pytest.mark.parametrize(
    "mode,N",
    [
        ("stochastic_a", 8),
        ("stochastic_b", 3),
        ("stochastic_c", 5),
        ("stochastic_equal", 1),
        ("stochastic_equal", 4),
        ("stochastic", 32),
        ("stochastic_a", 32),
        ("stochastic_a", 1),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 12345, (1 << 32) + 5, (1 << 64) - 1])
def test_seeded_matches_oracle_stream(mode, N, seed, rng):
    ref = O.preset("float8_e4m3fn")
    fmt = mf.format("float8_e4m3fn")
    xs = _probe_xs(ref, 203, rng)  # not a multiple of 4
    kw = {} if mode == "stochastic" else {"random_bits": N}
    for offset in (0, 3, 1001, (1 << 33) + 2):
        if offset:
            got = mf.encode(xs, fmt, rounding=mode, seed=seed, offset=offset, **kw)
        else:
            got = mf.encode(xs, fmt, rounding=mode, seed=seed, **kw)
        R = O.random_stream(seed, offset, xs.size, N)
        exp = [O.project(ref, float(x), mode, random_bits=N, R=int(r)) for x, r in zip(xs, R)]
        O.assert_codes_equal(got, exp, xs, ref, f"{mode} N={N} seed={seed} offset={offset}")
        # same call, same result
        again = mf.encode(xs, fmt, rounding=mode, seed=seed, offset=offset, **kw)
        assert np.array_equal(got, again)


@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_seeded_float32_and_flush(fid, rng):
    make, ref = FORMATS[fid]
    fmt = make()
    xs = _probe_xs(ref, 300, rng)
    xs = np.concatenate([xs, xs / 16.0, xs * 3.0]).astype(np.float32)
    with np.errstate(over="ignore"):
        xs = xs[np.isfinite(xs)]
    R = O.random_stream(77, 0, xs.size, 6)
    for flush in (False, True):
        for sat in ("none", "propagate"):
            got = mf.encode(
                xs,
                fmt,
                rounding="stochastic_b",
                random_bits=6,
                seed=77,
                saturation=sat,
                flush_subnormals=flush,
            )
            exp = [
                O.project(
                    ref,
                    float(x),
                    "stochastic_b",
                    sat,
                    random_bits=6,
                    R=int(r),
                    flush_subnormals=flush,
                )
                for x, r in zip(xs, R)
            ]
            O.assert_codes_equal(got, exp, xs, ref, f"float32 stochastic_b flush={flush} {sat}")


@pytest.mark.parametrize("mode", ["stochastic_a", "stochastic_b", "stochastic_c"])
def test_integer_input_stochastic_exact(mode):
    """ν of a large integer is computed from its exact value, not from float64(x)."""
    ref = O.preset("bfloat16")
    base = 1 << 60  # bfloat16 spacing here is 2^53
    ints = [
        base + 1,
        base + (1 << 50) + 1,
        base + (1 << 52) + 1,
        base + (1 << 53) - 1,
        -(base + (1 << 51) + 3),
        (1 << 62) + (1 << 54) + 1,
    ]
    N = 3
    xs = np.repeat(np.array(ints, dtype=np.int64), 1 << N)
    rs = np.tile(np.arange(1 << N), len(ints))
    got = mf.encode(xs, "bfloat16", rounding=mode, random_bits=N, random=rs)
    exp = [O.project(ref, int(x), mode, random_bits=N, R=int(r)) for x, r in zip(xs, rs)]
    O.assert_codes_equal(got, exp, xs.astype(np.float64), ref, f"int64 {mode}")


def test_seeded_uses_c_order_flat_index(rng):
    ref = O.preset("float8_e5m2")
    xs = _probe_xs(ref, 6 * 7, rng).reshape(6, 7)
    got = mf.encode(xs, "float8_e5m2", rounding="stochastic_a", random_bits=8, seed=99)
    R = O.random_stream(99, 0, xs.size, 8)
    exp = np.array(
        [
            O.project(ref, float(x), "stochastic_a", random_bits=8, R=int(r))
            for x, r in zip(xs.reshape(-1), R)
        ]
    ).reshape(6, 7)
    assert got.shape == (6, 7)
    assert np.array_equal(got, exp)
    # a Fortran-ordered or transposed view: i is the C-order index of the *logical* array
    xt = xs.T
    got_t = mf.encode(xt, "float8_e5m2", rounding="stochastic_a", random_bits=8, seed=99)
    exp_t = np.array(
        [
            O.project(ref, float(x), "stochastic_a", random_bits=8, R=int(r))
            for x, r in zip(xt.reshape(-1), R)
        ]
    ).reshape(xt.shape)
    assert np.array_equal(got_t, exp_t)
    assert np.array_equal(
        mf.encode(
            np.asfortranarray(xs), "float8_e5m2", rounding="stochastic_a", random_bits=8, seed=99
        ),
        exp,
    )


def test_quantize_seeded_matches_encode(rng):
    ref = O.preset("bfloat16")
    xs = _probe_xs(ref, 500, rng)
    codes = mf.encode(xs, "bfloat16", rounding="stochastic_c", random_bits=6, seed=7, offset=11)
    vals = mf.quantize(xs, "bfloat16", rounding="stochastic_c", random_bits=6, seed=7, offset=11)
    assert np.array_equal(vals, np.array([O.decode_float(ref, c) for c in codes]))
    R = O.random_stream(7, 11, xs.size, 6)
    exp = [O.project(ref, float(x), "stochastic_c", random_bits=6, R=int(r)) for x, r in zip(xs, R)]
    O.assert_codes_equal(codes, exp, xs, ref, "bfloat16 stochastic_c")


@pytest.mark.parametrize("mode", MODES + ("stochastic",))
def test_result_is_a_neighbour(mode, rng):
    for fid, (make, ref) in sorted(FORMATS.items()):
        xs = _probe_xs(ref, 400, rng)
        if not ref.signed:
            xs = np.abs(xs)
        kw = {} if mode == "stochastic" else {"random_bits": 7}
        got = mf.encode(xs, make(), rounding=mode, seed=int(rng.integers(1 << 40)), **kw)
        for x, c in zip(xs.tolist(), got.tolist()):
            assert c in O.neighbours(ref, x), (fid, mode, x, c)


# ---------------------------------------------------------------------------- threads


@pytest.mark.parametrize("mode,N", [("stochastic_a", 8), ("stochastic", 32), ("stochastic_c", 3)])
def test_thread_count_independent(mode, N):
    ref = O.preset("float8_e4m3fn")
    rng = np.random.default_rng(5)
    xs = rng.standard_normal(1_000_003) * 10.0
    kw = {} if mode == "stochastic" else {"random_bits": N}
    old = mf.get_num_threads()
    try:
        mf.set_num_threads(1)
        assert mf.get_num_threads() == 1
        a = mf.encode(xs, "float8_e4m3fn", rounding=mode, seed=2024, offset=5, **kw)
        mf.set_num_threads(2)
        assert mf.get_num_threads() == 2
        b = mf.encode(xs, "float8_e4m3fn", rounding=mode, seed=2024, offset=5, **kw)
        mf.set_num_threads(7)
        c = mf.encode(xs, "float8_e4m3fn", rounding=mode, seed=2024, offset=5, **kw)
    finally:
        mf.set_num_threads(old)
    assert np.array_equal(a, b)
    assert np.array_equal(a, c)
    # spot-check against the oracle stream along the whole array
    idx = np.r_[np.arange(0, xs.size, 4099), xs.size - 3, xs.size - 2, xs.size - 1]
    for i in idx:
        r = int(O.philox_word(2024, 5 + int(i)) >> (32 - N))
        assert a[i] == O.project(ref, float(xs[i]), mode, random_bits=N, R=r), i


def test_deterministic_thread_count_independent():
    rng = np.random.default_rng(6)
    xs = rng.standard_normal(1_000_000) * 100.0
    old = mf.get_num_threads()
    try:
        mf.set_num_threads(1)
        a = mf.encode(xs, "float8_e5m2")
        mf.set_num_threads(2)
        b = mf.encode(xs, "float8_e5m2")
    finally:
        mf.set_num_threads(old)
    assert np.array_equal(a, b)


# ---------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    "mode,N",
    [
        ("stochastic", 32),
        ("stochastic_a", 16),
        ("stochastic_b", 16),
        ("stochastic_c", 16),
        ("stochastic_c", 4),
    ],
)
@pytest.mark.parametrize("x", [0.3, -0.3, 0.30000001, 1.0 / 3.0, 17.3])
def test_mean_is_unbiased(mode, N, x):
    ref = O.preset("float8_e4m3fn")
    n = 200_000
    kw = {} if mode == "stochastic" else {"random_bits": N}
    q = mf.quantize(np.full(n, x), "float8_e4m3fn", rounding=mode, seed=31337, **kw)
    t = O.decode_float(ref, O.project(ref, x, "toward_zero"))
    u = O.decode_float(ref, O.project(ref, x, "toward_negative" if x < 0 else "toward_positive"))
    assert set(np.unique(q).tolist()) <= {t, u}
    nu = (abs(x) - abs(t)) / (abs(u) - abs(t))
    # expected probability of rounding away, exactly as defined for this N
    exact_nu = (abs(Fraction(x)) - abs(Fraction(t))) / (abs(Fraction(u)) - abs(Fraction(t)))
    if mode in ("stochastic", "stochastic_a"):
        nn = 32 if mode == "stochastic" else N
        p = math.floor(exact_nu * 2**nn) / 2**nn
    elif mode == "stochastic_b":
        p = (math.floor(exact_nu * 2 ** (N + 1)) + 1) // 2 / 2**N
    else:
        p = O._rte_int(exact_nu * 2**N) / 2**N
    mean_expected = t + p * (u - t)
    se = math.sqrt(max(p * (1 - p), 1e-12)) * abs(u - t) / math.sqrt(n)
    assert abs(q.mean() - mean_expected) < 5 * se + 1e-12
    # and the defined probability is within 2^-N of ν
    assert abs(p - nu) <= 2.0**-N + 1e-12


# ---------------------------------------------------------------------------- philox


@pytest.mark.parametrize("seed", [0, 1, 0xDEADBEEF, (1 << 32) + 7, (1 << 64) - 1])
@pytest.mark.parametrize(
    "offset,n", [(0, 1), (0, 17), (3, 10), (1 << 33, 9), ((1 << 34) + 1, 6), (12345, 0)]
)
def test_philox_words(seed, offset, n):
    got = mf.philox_words(seed, offset, n)
    assert got.dtype == np.uint32
    assert got.shape == (n,)
    assert got.astype(np.uint64).tolist() == O.philox_words(seed, offset, n).tolist()


def test_philox_words_known_answer():
    # seed 0, counter 0: the Random123 known-answer vector ctr=0, key=0
    assert mf.philox_words(0, 0, 4).tolist() == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "bfloat16", "fixed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seeded_stream_every_batch_phase(fmt, dtype, rng):
    """The C++ loops draw Philox words with philox_fill (a partial first and last block of 4
    positions around whole ones) in blocks of 256/1024 elements: every start phase and length
    around those edges must give the oracle's stream (compared through the explicit random=
    path, itself checked elsewhere)."""
    f = mf.FixedFormat(3, 4) if fmt == "fixed" else mf.format(fmt)
    xs = (rng.standard_normal(2100) * 3).astype(dtype)
    for offset in (0, 1, 2, 3, 29, 31, 32, 33, 1023, 1025, (1 << 32) - 5):
        for n in (1, 5, 31, 32, 33, 63, 257, 1024, 1025, 2100):
            x = xs[:n]
            R = O.random_stream(9, offset, n, 16).astype(np.uint32)
            exp = mf.encode(x, f, rounding="stochastic_a", random_bits=16, random=R)
            got = mf.encode(x, f, rounding="stochastic_a", random_bits=16, seed=9, offset=offset)
            assert np.array_equal(got, exp), (fmt, offset, n)


@pytest.mark.parametrize("shape", [(3, 5, 4), (1, 40, 7)])
@pytest.mark.parametrize("accumulator", ["float32", "exact"])
def test_contraction_output_bits_follow_the_accumulation_steps(shape, accumulator):
    """The final rounding of output o of an (M,K)@(K,N) product reads Philox position
    offset + M*N*K + o (contract.h), whichever kernel forms the sums: the register-blocked
    float32 path (sequential) and the generic one (pairwise) alike.  Expected values: float32
    sums by NumPy's IEEE arithmetic (every E4M3 product is float32-exact) or exact Fractions,
    rounded by the oracle with the oracle's Philox bits."""
    M, K, N = shape
    rng = np.random.default_rng(M * K)
    f = mf.format("e4m3")
    a = mf.asarray(rng.standard_normal((M, K)) * 2, f)
    b = mf.asarray(rng.standard_normal((K, N)) * 2, f)
    va, vb = mf.decode(a.codes, f), mf.decode(b.codes, f)
    seed, offset, nbits = 7, 11, 8
    R = O.random_stream(seed, offset + M * N * K, M * N, nbits)
    want = np.empty((M, N), dtype=np.int64)
    for i in range(M):
        for j in range(N):
            if accumulator == "float32":
                s = np.float32(0)
                for k in range(K):
                    s = np.float32(s + np.float32(va[i, k] * vb[k, j]))
                x = Fraction(float(s))
            else:
                x = sum((Fraction(float(va[i, k])) * Fraction(float(vb[k, j]))
                         for k in range(K)), Fraction(0))
            want[i, j] = O.project(O.preset("float8_e4m3fn"), x, rounding="stochastic_a",
                                   random_bits=nbits, R=int(R[i * N + j]))
    for order in ("sequential", "pairwise"):
        got = mf.matmul(a, b, accumulator=accumulator, order=order, block=10**6,
                        rounding="stochastic_a", random_bits=nbits, seed=seed, offset=offset)
        np.testing.assert_array_equal(got.codes, want, err_msg=order)
