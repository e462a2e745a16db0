"""Block dot products (semantics.md §8.7): mf.block_matmul / mf.matmul of BlockCodes against
the rational oracle (tests/oracle.py block_dot), every preset x accumulator, both the
binary64 fast path and the exact generic path, emulated accumulators (sequential, pairwise,
stochastic), 2-D blocks, partial blocks, NaN/Inf/NaN scales, tensor scales, bad input."""

from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")
from minifloat.formats import BLOCK_PRESETS, BlockFormat, FixedFormat  # noqa: E402


def _elem_value(bf, code):
    e = bf.element
    if isinstance(e, FixedFormat):
        v = O.fixed_decode(e, int(code))
        return ("zero", 0) if v == 0 else v
    return O.decode(O.OFormat.of(e), int(code))


def oracle_matmul(A, B, accumulator="float32", order="sequential", block=32,
                  rounding="nearest_even", saturation="none", out=None, random_bits=None,
                  seed=None, offset=0):
    """Expected float32 values (out None) or out-format codes of A @ B, from the codes."""
    fa, fb = A.format, B.format
    M, K = A.codes.shape
    N = B.codes.shape[1]
    ka = fa.block_size[[a % 2 for a in fa.axis].index(1)]
    sfa, sfb = O.OFormat.of(fa.scale), O.OFormat.of(fb.scale)

    def scale_a(i, b):
        ax = [a % 2 for a in fa.axis]
        r = i // fa.block_size[ax.index(0)] if 0 in ax else i
        return O.decode(sfa, int(A.scales[r, b]))

    def scale_b(b, j):
        ax = [a % 2 for a in fb.axis]
        c = j // fb.block_size[ax.index(1)] if 1 in ax else j
        return O.decode(sfb, int(B.scales[b, c]))

    T = Fraction(A.tensor_scale) * Fraction(B.tensor_scale)
    NB = -(-K // ka)
    res = np.zeros((M, N), dtype=np.float32 if out is None else np.int64)
    for i in range(M):
        ae = [_elem_value(fa, c) for c in A.codes[i]]
        for j in range(N):
            be = [_elem_value(fb, c) for c in B.codes[:, j]]
            o = i * N + j
            Rs = None
            if random_bits:
                Rs = O.random_stream(seed, offset + o * NB, NB, random_bits)
            v = O.block_dot(ae, [scale_a(i, b) for b in range(NB)], be,
                            [scale_b(b, j) for b in range(NB)], ka, T, accumulator, order,
                            block, rounding, saturation, Rs, random_bits)
            if out is None:
                res[i, j] = O.to_float(O.round_binary32(v))
            else:
                R = None
                if random_bits:
                    R = int(O.random_stream(seed, offset + M * N * NB + o, 1, random_bits)[0])
                res[i, j] = O.project_value(O.OFormat.of(mf.format(out)), v, rounding, saturation,
                                            random_bits, R)
    return res


def _bits_equal(got, exp):
    g, e = np.asarray(got, np.float32), np.asarray(exp, np.float32)
    same = (g.view(np.uint32) == e.view(np.uint32)) | (np.isnan(g) & np.isnan(e))
    assert same.all(), f"{int((~same).sum())} differ: got {g[~same][:5]}, expected {e[~same][:5]}"


def operands(name, M=3, N=4, nblocks=2, rng=None, scale=1.0, partial=0):
    rng = rng or np.random.default_rng(0)
    fa = mf.format(name) if isinstance(name, str) else name
    k = fa.block_size[0]
    if partial:
        fa = fa.replace(padding="zeros")
    fb = fa.replace(axis=(0,))
    K = nblocks * k + partial
    x = rng.standard_normal((M, K)) * scale
    w = rng.standard_normal((K, N)) * scale
    return mf.encode(x, fa), mf.encode(w, fb)


@pytest.mark.parametrize("name", list(BLOCK_PRESETS))
@pytest.mark.parametrize("acc", ["float32", "float64", "exact"])
def test_presets_against_oracle(name, acc):
    A, B = operands(name, rng=np.random.default_rng(len(name)))
    _bits_equal(mf.block_matmul(A, B, accumulator=acc), oracle_matmul(A, B, acc))


def test_matmul_dispatches_block_codes():
    A, B = operands("mxfp8_e4m3")
    _bits_equal(mf.matmul(A, B), oracle_matmul(A, B))


def test_e5m2_wide_blocks_take_the_exact_path():
    """E5M2 products span 2^-32 .. 2^31.6: a block's partial dot needs up to 69 bits, more
    than binary64 holds, so the generic (Kulisch) path runs; mixing the largest and the
    smallest magnitudes in one block checks it."""
    bf = mf.format("mxfp8_e5m2")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 64))
    x[:, ::7] *= 2.0 ** 30
    x[:, 3::5] *= 2.0 ** -14
    w = rng.standard_normal((64, 3))
    w[::3] *= 2.0 ** 28
    w[1::4] *= 2.0 ** -15
    A, B = mf.encode(x, bf), mf.encode(w, bf.replace(axis=(0,)))
    for acc in ("float32", "exact", "float64"):
        _bits_equal(mf.block_matmul(A, B, accumulator=acc), oracle_matmul(A, B, acc))


def _e5m2_edge_operands():
    """E5M2 blocks for the split path (block partial dots wider than binary64): the largest
    products (57344^2), subnormal products (2^-16 * 2^-16) next to them in one block (t_b
    over 53 bits), exact cancellation to zero, zero products of both signs, Inf and NaN
    elements, a NaN scale, a partial last block."""
    bf = mf.format("mxfp8_e5m2").replace(saturation="none", padding="zeros")
    M, K, N = 8, 70, 5
    rng = np.random.default_rng(19)
    x = rng.standard_normal((M, K)) * np.exp2(rng.integers(-20, 16, (M, K)).astype(float))
    w = rng.standard_normal((K, N)) * np.exp2(rng.integers(-20, 16, (K, N)).astype(float))
    x[0, :] = 57344.0                       # max x max in every block
    w[:, 0] = 57344.0
    w[:32, 1] = -57344.0
    x[1, :] = 2.0 ** -16                    # subnormal elements under a large amax: wide t_b
    x[1, ::9] = 57344.0
    w[::2, 2] = 2.0 ** -16
    w[::11, 2] = -49152.0
    x[2, 0:32:2], x[2, 1:32:2] = 3.0 * 2 ** 10, -3.0 * 2 ** 10   # cancels to 0 against w = 1
    x[2, 32:] = -0.0
    w[:, 3] = 1.0
    x[3, :] = -0.0                          # zero products only: the sign of an exact zero
    x[4, 5] = np.inf                        # Inf in the first block
    x[5, 40] = np.nan                       # NaN in the second block
    x[6, 3], x[6, 4] = np.inf, -np.inf      # Inf - Inf
    w[33, 4] = -np.inf
    A, B = mf.encode(x, bf), mf.encode(w, bf.replace(axis=(0,)))
    scales = A.scales.copy()
    scales[7, 1] = 0xFF                     # an E8M0 NaN scale
    return A._replace(scales=scales), B


@pytest.mark.parametrize("acc", ["float32", "float64"])
def test_e5m2_split_path_edge_cases_against_oracle(acc, monkeypatch):
    from minifloat.backends import cpu
    A, B = _e5m2_edge_operands()
    seen = []
    real = cpu.block_matmul

    def spy(*args, **kw):
        seen.append(args[-1] if len(args) > 17 else kw.get("pieces"))
        return real(*args, **kw)

    monkeypatch.setattr(cpu, "block_matmul", spy)
    _bits_equal(mf.block_matmul(A, B, accumulator=acc), oracle_matmul(A, B, acc))
    got = mf.block_matmul(A, B, accumulator=acc, out_format="e5m2")
    np.testing.assert_array_equal(got.codes, oracle_matmul(A, B, acc, out="e5m2"))
    assert all(p is not None and p.shape[0] == 3 for p in seen)  # the split path ran


@pytest.mark.parametrize("order", ["sequential", "pairwise"])
@pytest.mark.parametrize("acc", ["bf16", "e5m2", "float16"])
def test_emulated_accumulators(acc, order):
    A, B = operands("mxfp4_e2m1", M=2, N=3, nblocks=5, rng=np.random.default_rng(1))
    got = mf.block_matmul(A, B, accumulator=acc, order=order, block=2, out_format="bf16")
    exp = oracle_matmul(A, B, mf.format(acc), order, 2, out="bf16")
    np.testing.assert_array_equal(got.codes, exp)


@pytest.mark.parametrize("rounding", ["toward_negative", "toward_zero", "odd"])
def test_directed_modes_in_format_accumulator_and_output(rounding):
    A, B = operands("mxfp6_e3m2", M=2, N=3, nblocks=3, rng=np.random.default_rng(2))
    got = mf.block_matmul(A, B, accumulator="e4m3", out_format="e4m3", rounding=rounding,
                          saturation="finite")
    exp = oracle_matmul(A, B, mf.format("e4m3"), rounding=rounding, saturation="finite",
                        out="e4m3")
    np.testing.assert_array_equal(got.codes, exp)


def test_stochastic_accumulator_reproducible_and_oracle():
    A, B = operands("mxfp8_e4m3", M=2, N=2, nblocks=4, rng=np.random.default_rng(5))
    kw = dict(accumulator="e5m2", out_format="e5m2", rounding="stochastic_c", random_bits=6,
              seed=11, offset=3)
    got = mf.block_matmul(A, B, **kw)
    exp = oracle_matmul(A, B, mf.format("e5m2"), rounding="stochastic_c", out="e5m2",
                        random_bits=6, seed=11, offset=3)
    np.testing.assert_array_equal(got.codes, exp)
    mf.set_num_threads(1)
    try:
        np.testing.assert_array_equal(mf.block_matmul(A, B, **kw).codes, got.codes)
    finally:
        mf.set_num_threads(0)


def test_partial_last_block():
    A, B = operands("mxfp8_e4m3", partial=5)
    _bits_equal(mf.block_matmul(A, B), oracle_matmul(A, B))


def test_two_dimensional_weight_blocks():
    fa = BlockFormat("e4m3", "e8m0", 16, axis=(-1,))
    fb = BlockFormat("e4m3", "e8m0", (16, 4), axis=(0, 1))
    rng = np.random.default_rng(4)
    A = mf.encode(rng.standard_normal((5, 32)), fa)
    B = mf.encode(rng.standard_normal((32, 8)) * np.arange(1, 9), fb)
    _bits_equal(mf.block_matmul(A, B), oracle_matmul(A, B))


def test_nan_inf_and_nan_scale():
    A, B = operands("mxfp8_e4m3", M=4, N=3)
    codes, scales = A.codes.copy(), A.scales.copy()
    codes[0, 3] = 0x7F      # E4M3 NaN element: its output row is NaN
    scales[1, 1] = 0xFF     # E8M0 NaN scale: the whole block NaN
    codes[2, :] = 0         # an all-zero row: +0
    A2 = A._replace(codes=codes, scales=scales)
    got = mf.block_matmul(A2, B)
    _bits_equal(got, oracle_matmul(A2, B))
    assert np.isnan(got[0]).all() and np.isnan(got[1]).all()
    assert (got[2].view(np.uint32) == 0).all()
    bf = mf.format("mxfp8_e5m2")   # E5M2 has Inf: +Inf * +x and +Inf - Inf
    x = np.ones((2, 32))
    x[0, 0] = np.inf
    x[1, 0], x[1, 1] = np.inf, -np.inf
    A3 = mf.encode(x, bf.replace(saturation="none"))
    B3 = mf.encode(np.ones((32, 2)), bf.replace(axis=(0,)))
    got = mf.block_matmul(A3, B3)
    _bits_equal(got, oracle_matmul(A3, B3))


def test_nvfp4_tensor_scales():
    A, B = operands("nvfp4", M=3, N=3, nblocks=3, scale=1000.0)
    assert A.tensor_scale != 1.0
    _bits_equal(mf.block_matmul(A, B), oracle_matmul(A, B))
    _bits_equal(mf.block_matmul(A, B, accumulator="exact"), oracle_matmul(A, B, "exact"))


def test_close_to_float64_matmul_of_decoded_values():
    """A plausibility check beside the oracle: the exact accumulator equals the float64
    matmul of the decoded operands up to float32 output rounding."""
    A, B = operands("mxfp8_e4m3", M=16, N=16, nblocks=4)
    ref = mf.decode(A, A.format) @ mf.decode(B, B.format)
    np.testing.assert_allclose(mf.block_matmul(A, B, accumulator="exact"), ref, rtol=2**-23)


def test_bad_input():
    A, B = operands("mxfp8_e4m3")
    with pytest.raises(ValueError, match="reduction axis"):
        mf.block_matmul(A, A)
    with pytest.raises(ValueError, match="not aligned"):
        mf.block_matmul(A, mf.encode(np.ones((32, 2)), B.format))
    C = mf.encode(np.ones((64, 2)), BlockFormat("e4m3", "e8m0", 16, axis=(0,)))
    with pytest.raises(ValueError, match="block size"):
        mf.block_matmul(A, C)
    with pytest.raises(TypeError, match="BlockCodes"):
        mf.block_matmul(np.ones((3, 64)), B)
    with pytest.raises(ValueError, match="out_format"):
        mf.block_matmul(A, B, rounding="toward_zero")
    with pytest.raises(ValueError, match="accumulator"):
        mf.block_matmul(A, B, accumulator="float32_blas")
    with pytest.raises(ValueError, match="order"):
        mf.block_matmul(A, B, order="tree")
