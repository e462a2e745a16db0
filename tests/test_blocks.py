"""Block-scaled formats (semantics.md §8) against the rational oracle (tests/oracle.py
block_scale / block_encode / block_value): probe blocks for every preset x every rounding
mode, NaN/Inf/zero/subnormal/partial blocks, 2-D tiles and other axes, exhaustive decode of
every element code x every scale code, thread independence, and bad input.  The peers
(gfloat, torchao) are in tests/test_blocks_peers.py."""

from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")
from minifloat.formats import BLOCK_PRESETS, BlockFormat, FixedFormat, FloatFormat  # noqa: E402

PRESETS = list(BLOCK_PRESETS)


def odesc(bf):
    """The oracle's description of a BlockFormat (plain parameters)."""
    e = bf.element
    elem = O.OFormat.of(e) if isinstance(e, FloatFormat) else e
    prec = e.man_bits if isinstance(e, FloatFormat) else bf.emax_elem + e.frac_bits
    return {"element": elem, "scale": O.OFormat.of(bf.scale), "rule": bf.scale_rule,
            "prec": prec}


def tensor_of(bf, x):
    if bf.tensor_scale is None:
        return Fraction(1)
    if isinstance(bf.tensor_scale, float):
        return Fraction(bf.tensor_scale)
    return O.tensor_scale_amax(odesc(bf), x.ravel().tolist())


def oracle_blocks(bf, x, rounding="nearest_even", saturation="finite", random_bits=None,
                  seed=None, offset=0):
    """Expected (codes, scales) of a 2-D x with blocks along the last axis."""
    d = odesc(bf)
    T = tensor_of(bf, x)
    k = bf.block_size[0]
    rows, n = x.shape
    nb = -(-n // k)
    codes = np.zeros(x.shape, dtype=np.int64)
    scales = np.zeros((rows, nb), dtype=np.int64)
    Rall = None
    if random_bits:
        Rall = O.random_stream(seed, offset, x.size, random_bits).reshape(x.shape)
    for r in range(rows):
        for b in range(nb):
            sl = slice(b * k, min(n, (b + 1) * k))
            vals = x[r, sl].tolist()
            Rs = None if Rall is None else Rall[r, sl]
            sc, cs = O.block_encode(d, vals, T, rounding, saturation, random_bits, Rs)
            scales[r, b] = sc
            codes[r, sl] = cs
    return codes, scales, T


def _element_probes(bf, dtype):
    """Element-grid probes (values, midpoints, +-1 ulp, zeros) of magnitude below
    2^(emax_e + 1), so that a block holding them and 2^emax_e keeps the scale 2^0 under the
    floor rule."""
    e = bf.element
    top = 2.0 ** (bf.emax_elem + 1)
    if isinstance(e, FloatFormat):
        p = O.probe_values(O.OFormat.of(e), dtype=dtype, include_nan=False)
    else:
        step = 2.0 ** -e.frac_bits
        ints = np.arange(e.min_int, e.max_int + 1, dtype=np.float64)
        base = np.concatenate([ints * step, (ints + 0.5) * step])
        p = np.concatenate([base, np.nextafter(base, np.inf), np.nextafter(base, -np.inf)])
        p = p.astype(dtype)
    p = p[np.isfinite(p) & (np.abs(p) < top)]
    return np.unique(p)


def probe_matrix(bf, dtype, rng, scales=(0, 5, -7, 40, -100, -120)):
    """Rows of blocks: element probes times 2^j (each block led by 2^emax_e * 2^j, then
    filled with probes), plus blocks whose largest magnitude sits at each scale-rule
    boundary."""
    k = bf.block_size[0]
    probes = _element_probes(bf, dtype)
    blocks = []
    lead = 2.0 ** bf.emax_elem
    for j in scales:
        for i0 in range(0, len(probes), k - 1):
            chunk = probes[i0:i0 + k - 1]
            blk = np.concatenate([[lead], chunk, np.zeros(k - 1 - len(chunk))])
            blocks.append(np.ldexp(blk, j))
    # amax at the boundaries of every rule: powers of two and their neighbours, the element
    # max and its neighbours, the EVEN threshold 2 - 2^-(m+1), tiny and huge magnitudes.
    m = odesc(bf)["prec"]
    emax = float(bf.element.max)
    specials = []
    for j in (-3, 0, 4, -60):
        for a in (1.0, 2.0 - 2.0 ** -(m + 1), emax, 1.5):
            v = np.ldexp(np.asarray(a, dtype=dtype), j + bf.emax_elem * 0)
            specials += [v, np.nextafter(v, dtype(np.inf)), np.nextafter(v, dtype(0))]
    info = np.finfo(dtype)
    specials += [dtype(info.tiny), dtype(info.smallest_subnormal), dtype(info.max),
                 dtype(info.tiny) * 3, dtype(2.0 ** -127)]
    for a in specials:
        rest = rng.uniform(-1, 1, k - 1) * float(a)
        blk = np.concatenate([[a], rest]).astype(dtype)
        rng.shuffle(blk)
        blocks.append(blk)
    blocks.append(np.zeros(k))
    blocks.append(-np.zeros(k))
    x = np.stack(blocks).astype(dtype)
    return x


def assert_blocks(bf, x, **kw):
    got = mf.encode(x, bf, **kw)
    rb = kw.get("random_bits")
    codes, scales, T = oracle_blocks(bf, x, kw.get("rounding", "nearest_even"),
                                     kw.get("saturation", bf.saturation), rb,
                                     kw.get("seed"), kw.get("offset", 0))
    assert got.tensor_scale == float(T)
    bad_s = np.nonzero(got.scales != scales)
    assert bad_s[0].size == 0, (f"{bf}: scale codes differ at {bad_s[0][:4]}, "
                                f"{bad_s[1][:4]}: got {got.scales[bad_s][:4]} "
                                f"expected {scales[bad_s][:4]}")
    bad = np.nonzero(got.codes != codes)
    if bad[0].size:
        i = (bad[0][0], bad[1][0])
        raise AssertionError(f"{bf} {kw}: {bad[0].size} element codes differ; first x={x[i]!r}"
                             f" got {got.codes[i]} expected {codes[i]} (scale code "
                             f"{got.scales[i[0], i[1] // bf.block_size[0]]})")
    return got


DETERMINISTIC = O.DETERMINISTIC


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("rounding", DETERMINISTIC)
def test_presets_probe_blocks_every_deterministic_mode(name, rounding):
    bf = mf.format(name)
    if bf.tensor_scale == "amax":  # the tensor scale is tested below; here T = 1
        bf = bf.replace(tensor_scale=None)
    rng = np.random.default_rng(7)
    for dtype, js in ((np.float32, (0, -7, -120)), (np.float64, (0, 40, -100))):
        assert_blocks(bf, probe_matrix(bf, dtype, rng, js), rounding=rounding)


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("saturation", ["none", "propagate"])
def test_presets_other_saturations(name, saturation):
    bf = mf.format(name).replace(tensor_scale=None)
    x = probe_matrix(bf, np.float64, np.random.default_rng(3), scales=(0, -9))
    for rounding in ("nearest_even", "toward_positive", "toward_zero"):
        assert_blocks(bf, x, rounding=rounding, saturation=saturation)


@pytest.mark.parametrize("rule", ["floor", "ceil", "even", "rceil", "amax"])
@pytest.mark.parametrize("elem", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn",
                                  "float6_e2m3fn", "fixed"])
def test_every_scale_rule_every_element(rule, elem):
    e = FixedFormat(1, 6) if elem == "fixed" else elem
    bf = BlockFormat(e, "e8m0", 8, scale_rule=rule)
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        x = probe_matrix(bf, dtype, rng, scales=(0, 3, -50))
        assert_blocks(bf, x, rounding="nearest_even")
        assert_blocks(bf, x, rounding="toward_negative")


def test_nvfp4_ties_at_non_power_of_two_scales():
    # Blocks whose amax is 6 * s * T for E4M3 scales s and a fixed tensor scale T, filled
    # with E2M1 probes times s * T (exact in float64): ties relative to the real scale.
    T = float(np.float32(0.0123))
    bf = mf.format("nvfp4").replace(tensor_scale=T)
    probes = _element_probes(bf, np.float64)
    e4m3 = mf.format("e4m3")
    svals = mf.decode(np.arange(1, 127), e4m3)[::5]
    blocks = []
    for s in svals:
        for i0 in range(0, len(probes), 15):
            chunk = probes[i0:i0 + 15]
            blk = np.concatenate([[6.0], chunk, np.zeros(15 - len(chunk))])
            blocks.append(blk * (s * T))
    x = np.stack(blocks)
    for rounding in DETERMINISTIC:
        assert_blocks(bf, x, rounding=rounding)
    # float32 input takes the quotient proxy path (block.h quotient_f32_bits): the rounded
    # products are next to ties and grid points
    x32 = x.astype(np.float32)
    for rounding in DETERMINISTIC:
        assert_blocks(bf, x32, rounding=rounding)
    for rounding in ("stochastic_a", "stochastic_b", "stochastic_c", "stochastic_equal"):
        for nbits in (1, 7, 19, 20, 25):
            assert_blocks(bf, x32[::7], rounding=rounding, random_bits=nbits, seed=4)


def test_nvfp4_two_level_tensor_scale():
    bf = mf.format("nvfp4")
    rng = np.random.default_rng(5)
    for scale in (1.0, 1e-3, 3e4):
        x = (rng.standard_normal((8, 64)) * scale).astype(np.float32)
        got = assert_blocks(bf, x)
        assert got.tensor_scale != 1.0


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4_e2m1", "mxint8", "nvfp4"])
@pytest.mark.parametrize("rounding", ["stochastic_a", "stochastic_b", "stochastic_c",
                                      "stochastic_equal"])
def test_seeded_stochastic_against_oracle_stream(name, rounding):
    bf = mf.format(name)
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((6, 64)) * 3).astype(np.float32)
    for nbits in (1, 5, 13):
        assert_blocks(bf, x, rounding=rounding, random_bits=nbits, seed=99, offset=17)


def test_nan_and_inf_blocks():
    bf = mf.format("mxfp8_e4m3")
    x = np.ones((4, 32), dtype=np.float32)
    x[0, 3] = np.nan
    x[1, 5] = np.inf
    x[2, 0] = -np.inf
    got = assert_blocks(bf, x)
    assert list(got.scales[:, 0]) == [255, 255, 255, got.scales[3, 0]]
    q = mf.decode(got, bf)
    assert np.isnan(q[:3]).all() and (q[3] == 1).all()
    # NVFP4: NaN gives a NaN scale, Inf saturates the scale and the element
    nv = mf.format("nvfp4").replace(tensor_scale=None)
    y = np.ones((3, 16))
    y[0, 1] = np.nan
    y[1, 2] = np.inf
    got = assert_blocks(nv, y)
    q = mf.decode(got, nv)
    assert np.isnan(q[0]).all() and q[1, 2] == 6 * 448 and np.isfinite(q[1:]).all()


def test_scale_without_nan_rejects_nan_blocks():
    bf = BlockFormat("e4m3", FloatFormat(5, 0, bias=15, nan="none", infinities=False,
                                         signed=False, subnormals=False), 4)
    with pytest.raises(ValueError, match="no NaN"):
        mf.encode(np.array([[1.0, np.nan, 0, 0]]), bf)


def test_partial_blocks_with_zero_padding():
    bf = BlockFormat("e2m1", "e8m0", 8, padding="zeros")
    x = np.random.default_rng(1).standard_normal((3, 21))
    got = assert_blocks(bf, x)
    assert got.scales.shape == (3, 3)
    with pytest.raises(ValueError, match="padding"):
        mf.encode(x, mf.format("mxfp4_e2m1"))


def test_blocks_along_other_axes_and_2d_tiles():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 32, 5)) * np.exp(rng.uniform(-8, 8, (6, 32, 5)))
    bf = BlockFormat("e4m3", "e8m0", 8, axis=1)
    got = mf.encode(x, bf, rounding="stochastic_a", random_bits=8, seed=3)
    # same as blocks along the last axis of the transposed array, with the stream positions
    # of the original layout given explicitly
    R = O.random_stream(3, 0, x.size, 8).reshape(x.shape)
    xt = np.moveaxis(x, 1, -1).reshape(-1, 32)
    Rt = np.moveaxis(R, 1, -1).reshape(-1, 32)
    d = odesc(bf)
    for r in range(xt.shape[0]):
        for b in range(4):
            sc, cs = O.block_encode(d, xt[r, b * 8:(b + 1) * 8].tolist(), Fraction(1),
                                    "stochastic_a", "finite", 8, Rt[r, b * 8:(b + 1) * 8])
            i, t = divmod(r, 5)
            assert got.scales[i, b, t] == sc
            assert list(got.codes[i, b * 8:(b + 1) * 8, t]) == cs
    # 2-D tiles 4x8 over axes (0, 2) of a 3-D array, with a partial tile
    bf2 = BlockFormat("e5m2", "e8m0", (4, 8), axis=(0, 2), padding="zeros")
    y = rng.standard_normal((10, 3, 16)) * np.exp(rng.uniform(-5, 5, (10, 3, 16)))
    got = mf.encode(y, bf2)
    assert got.scales.shape == (3, 3, 2)
    d2 = odesc(bf2)
    for B0 in range(3):
        for m in range(3):
            for B1 in range(2):
                tile = y[B0 * 4:(B0 + 1) * 4, m, B1 * 8:(B1 + 1) * 8]
                sc, cs = O.block_encode(d2, tile.ravel().tolist())
                assert got.scales[B0, m, B1] == sc
                assert got.codes[B0 * 4:(B0 + 1) * 4, m, B1 * 8:(B1 + 1) * 8].ravel().tolist() == cs
    np.testing.assert_array_equal(mf.decode(got, bf2).shape, y.shape)


@pytest.mark.parametrize("rounding", ["nearest_even", "stochastic_a"])
@pytest.mark.parametrize("name", PRESETS)
def test_float32_blocks_along_a_leading_axis_against_oracle(name, rounding):
    """float32 input with blocks along axis 0 (the layout of a weight gradient's operands):
    the C++ float32 path over spans of k * 37 elements (for k = 32 a 1024-lane chunk ends
    mid-row), blocks with Inf/NaN, subnormal and huge amax, zeros; expected from the oracle
    per column."""
    bf = mf.format(name).replace(axis=0)
    k = bf.block_size[0]
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((2 * k, 37)) * np.exp2(rng.integers(-20, 20, (2 * k, 37))))
    x = x.astype(np.float32)
    x[:, 3] = 0.0
    x[5, 4] = np.inf
    x[7, 6] = np.nan
    x[:, 8] *= np.float32(2.0 ** -120)  # float32-subnormal amax
    x[:, 9] *= np.float32(2.0 ** 100)
    kw: dict = {}
    if rounding != "nearest_even":
        kw = dict(rounding=rounding, random_bits=8, seed=5)
    got = mf.encode(x, bf, **kw)
    d = odesc(bf)
    T = tensor_of(bf, x.astype(np.float64))
    R = None if not kw else O.random_stream(5, 0, x.size, 8).reshape(x.shape)
    for B in range(2):
        for t in range(37):
            sl = slice(B * k, (B + 1) * k)
            Rs = None if R is None else R[sl, t]
            sc, cs = O.block_encode(d, x[sl, t].astype(np.float64).tolist(), T, rounding,
                                    "finite" if bf.saturation is None else bf.saturation,
                                    kw.get("random_bits"), Rs)
            assert got.scales[B, t] == sc, (B, t)
            assert got.codes[sl, t].tolist() == cs, (B, t)


@pytest.mark.parametrize("name", PRESETS)
def test_float32_rows_with_wide_blocks_against_oracle(name):
    """float32 rows blocked along the last axis, nearest-even (the C++ path that multiplies a
    block by 2^-E in float32): 1100 blocks (enough for the memoised floor-rule scales), among
    them blocks whose small elements lie below 2^-126 once divided by the scale (amax 2^100
    with elements down to 2^-60), blocks with amax near float32's max and with subnormal
    amax (scale factors up to 2^127), a ragged last block; expected from the oracle."""
    bf = mf.format(name).replace(padding="zeros")
    k = bf.block_size[0]
    rng = np.random.default_rng(21)
    nb = 1100
    ncol = nb * k // 10 + 3  # ten rows, the last block of each row partial
    x = rng.standard_normal((10, ncol)) * np.exp2(rng.integers(-30, 30, (10, ncol)))
    x[0, :k] = np.exp2(rng.uniform(-60, 100, k)) * rng.choice([-1, 1], k)
    x[0, 0] = 2.0 ** 100
    x[1, :k] = rng.uniform(-1, 1, k) * float(np.finfo(np.float32).max)
    x[2, :k] = rng.uniform(-1, 1, k) * 2.0 ** -140
    x[3, k:2 * k] = np.exp2(rng.uniform(-149, -100, k)) * rng.choice([-1, 1], k)
    x = x.astype(np.float32)
    got = mf.encode(x, bf)
    d = odesc(bf)
    T = tensor_of(bf, x.astype(np.float64))
    sat = "finite" if bf.saturation is None else bf.saturation
    for r in range(x.shape[0]):
        for B in range(got.scales.shape[1]):
            sl = slice(B * k, min(ncol, (B + 1) * k))
            if r > 3 and B % 7:  # every block of the special rows, a seventh of the rest
                continue
            sc, cs = O.block_encode(d, x[r, sl].astype(np.float64).tolist(), T,
                                    "nearest_even", sat, None, None)
            assert got.scales[r, B] == sc, (r, B)
            assert got.codes[r, sl].tolist() == cs[:sl.stop - sl.start], (r, B)


@pytest.mark.parametrize("tensor_scale", ["amax", 0.75])
def test_amax_rule_on_many_blocks_against_oracle(tensor_scale):
    """The amax rule (NVFP4: s = RN(amax / (6 T)) in E4M3) on 20,000 float32 blocks in one
    thread, enough for the C++ path that looks a block's scale up by its amax (built once per
    call from 16,384 blocks on) and rounds the E2M1 elements by comparisons with the block's
    boundaries: blocks whose amax lies on and next to every rounding boundary of the scale
    (midpoints of consecutive E4M3 values times 6 T: exact ties for T = 0.75), blocks whose
    elements lie on and next to every E2M1 boundary times the block's divisor (exact ties for
    T = 0.75), zero, subnormal, NaN and Inf blocks, a ragged last block per row; the checked
    blocks' expected codes from the oracle."""
    bf = mf.format("nvfp4").replace(padding="zeros", tensor_scale=tensor_scale)
    k, rows, nb = 16, 4, 5000
    ncol = nb * k - 11
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((rows, ncol)) * np.exp2(rng.integers(-24, 12, (rows, ncol))))
    x[0, 0] = 2.0 ** 14  # the tensor's amax: T = 2^14 / (6 * 448) for "amax"
    x = x.astype(np.float32)
    T = float(tensor_of(bf, x))
    e4 = np.sort(np.unique(np.abs(mf.decode(np.arange(127, dtype=np.uint8), "e4m3"))))
    mids = (e4[:-1] + e4[1:]) / 2 * 6 * T
    amaxes = np.concatenate([np.nextafter(np.float32(mids), np.float32(0)), np.float32(mids),
                             np.nextafter(np.float32(mids), np.float32(np.inf))])
    amaxes = amaxes[amaxes < 2.0 ** 14]
    special = {}  # (row, block) -> what it holds
    slots = rng.choice(rows * (nb - 1), len(amaxes) + 6, replace=False)
    for i, a in enumerate(amaxes):
        r, B = divmod(int(slots[i]), nb - 1)
        B += 1 if r == 0 else 0  # keep block (0, 0), which holds the tensor's amax
        blk = rng.uniform(-1, 1, k).astype(np.float32) * a
        blk[rng.integers(k)] = a * rng.choice([-1, 1])
        x[r, B * k:(B + 1) * k] = blk
        special[(r, B)] = "boundary"
    # element ties: a block with amax 6 s T has the scale s exactly; its elements on every
    # E2M1 rounding boundary b_j times s T (exact float32 for T = 0.75) and next to it
    b = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0])
    tie_slots = rng.choice(rows * (nb - 1), 40, replace=False)
    tie_slots = [t for t in tie_slots if int(t) not in set(int(v) for v in slots)][:30]
    for i, t in enumerate(tie_slots):
        sv = float(e4[(7 * i) % len(e4)] if i % 5 else e4[i % 8 + 1])  # normal and subnormal s
        dd = sv * T
        ties = np.float32(b * dd)
        near = np.nextafter(ties, np.float32(0) if i % 2 else np.float32(np.inf))
        vals = np.concatenate([[6 * dd], ties[:4] if i % 3 else near[:4], -ties[4:],
                               near[4:], -near[:4], [0.0]]).astype(np.float32)
        r, B = divmod(int(t), nb - 1)
        B += 1 if r == 0 else 0
        x[r, B * k:(B + 1) * k] = vals
        special[(r, B)] = f"ties s={sv}"
    tail = iter(slots[len(amaxes):])
    for what, vals in (("zero", np.zeros(k)), ("subnormal", np.exp2(rng.uniform(-149, -127, k))),
                       ("nan", np.where(np.arange(k) == 3, np.nan, 1.0)),
                       ("inf", np.where(np.arange(k) == 5, -np.inf, 2.0)),
                       ("tiny", np.exp2(rng.uniform(-40, -20, k))),
                       ("big", np.full(k, 2.0 ** 13.9))):
        r, B = divmod(int(next(tail)), nb - 1)
        B += 1 if r == 0 else 0
        x[r, B * k:(B + 1) * k] = vals
        special[(r, B)] = what
    if tensor_scale == "amax":
        assert float(tensor_of(bf, x)) == T  # the specials did not move the tensor's amax
    threads = mf.get_num_threads()
    mf.set_num_threads(1)
    try:
        got = mf.encode(x, bf)
    finally:
        mf.set_num_threads(threads)
    d = odesc(bf)
    Tq = tensor_of(bf, x)
    checked = sorted(special) + [(r, nb - 1) for r in range(rows)] + \
        [(int(r), int(B)) for r, B in zip(rng.integers(0, rows, 150), rng.integers(0, nb, 150))]
    for r, B in checked:
        sl = slice(B * k, min(ncol, (B + 1) * k))
        sc, cs = O.block_encode(d, x[r, sl].astype(np.float64).tolist(), Tq, "nearest_even",
                                "finite", None, None)
        assert got.scales[r, B] == sc, (r, B, special.get((r, B)))
        assert got.codes[r, sl].tolist() == cs[:sl.stop - sl.start], (r, B, special.get((r, B)))


@pytest.mark.parametrize("name", PRESETS)
def test_exhaustive_decode_every_element_code_by_every_scale_code(name):
    bf = mf.format(name)
    T = 0.75 if bf.tensor_scale is not None else 1.0
    k = bf.block_size[0]
    ne, ns = bf.num_codes, bf.scale.num_codes
    per = -(-ne // k) * k
    codes = np.resize(np.arange(ne), per)
    codes = np.tile(codes, (ns, 1)).astype(bf.dtype)
    scales = np.repeat(np.arange(ns)[:, None], per // k, axis=1).astype(bf.scale_dtype)
    got = mf.decode((codes, scales, T), bf)
    got32 = mf.decode((codes, scales, T), bf, dtype=np.float32)
    d = odesc(bf)
    for s in range(ns):
        for c in range(ne):
            v = O.block_value(d, c, s, Fraction(T))
            g = got[s, c]
            if v == O.NAN:
                assert np.isnan(g) and np.isnan(got32[s, c])
            else:
                assert g == O.to_float(v) and np.signbit(g) == O.value_negative(v), (s, c, g, v)
                with np.errstate(over="ignore"):
                    assert got32[s, c] == np.float32(O.to_float(v))


def test_threads_do_not_change_bits():
    bf = mf.format("mxfp6_e3m2")
    x = np.random.default_rng(0).standard_normal((512, 256)).astype(np.float32)
    old = mf.get_num_threads()
    try:
        mf.set_num_threads(1)
        a = mf.encode(x, bf, rounding="stochastic_a", random_bits=9, seed=5)
        mf.set_num_threads(2)
        b = mf.encode(x, bf, rounding="stochastic_a", random_bits=9, seed=5)
    finally:
        mf.set_num_threads(old)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(a.scales, b.scales)


def test_quantize_keeps_dtype_and_matches_decode_of_encode():
    x = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    q = mf.quantize(x, "mxfp8")
    assert q.dtype == np.float32
    np.testing.assert_array_equal(q, mf.decode(mf.encode(x, "mxfp8"), "mxfp8", np.float32))


def test_descriptor_and_presets():
    b = mf.format("mxfp4")
    assert b is BLOCK_PRESETS["mxfp4_e2m1"] and b.bits == 4 and b.block_elems == 32
    assert b.bits_per_element == 4.25 and b.emax_elem == 2
    assert mf.format("nvfp4").bits_per_element == 4.5
    assert mf.format("mxint8").element == FixedFormat(1, 6)
    assert BlockFormat("e4m3", "e8m0", 32) == mf.format("mxfp8_e4m3")
    assert "mxfp8_e4m3" in repr(mf.format("mxfp8_e4m3"))


@pytest.mark.parametrize("kw, match", [
    (dict(block_size=0), "block_size"),
    (dict(block_size=(2, 2, 2)), "block_size"),
    (dict(axis=(1, 1), block_size=(2, 2)), "axis"),
    (dict(axis=(0, 1)), "axis"),
    (dict(scale_rule="round"), "scale_rule"),
    (dict(padding="edge"), "padding"),
    (dict(tensor_scale=-1.0), "tensor_scale"),
    (dict(tensor_scale=0.1), "tensor_scale"),  # not a float32 value
    (dict(saturation="wrap"), "wrap"),
    (dict(scale="nope"), "scale format"),
])
def test_bad_descriptor_names_the_parameter(kw, match):
    args = dict(element="e4m3", scale="e8m0", block_size=32)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        BlockFormat(**args)


def test_bad_descriptor_types():
    with pytest.raises(TypeError, match="element"):
        BlockFormat(3.0, "e8m0", 32)
    with pytest.raises(TypeError, match="scale"):
        BlockFormat("e4m3", FixedFormat(1, 6), 32)
    with pytest.raises(ValueError, match="16 bits"):
        BlockFormat(FixedFormat(10, 10), "e8m0", 32)
    with pytest.raises(ValueError, match="unknown format"):
        mf.format("mxfp3")


def test_bad_input_names_the_parameter():
    bf = mf.format("mxfp8")
    with pytest.raises(ValueError, match="axis"):
        mf.encode(np.ones(32), BlockFormat("e4m3", "e8m0", 32, axis=1))
    with pytest.raises(ValueError, match="scalar"):
        mf.encode(np.float32(1), bf)
    with pytest.raises(ValueError, match="block_size"):
        mf.encode(np.ones((2, 30)), bf)
    with pytest.raises(TypeError, match="real"):
        mf.encode(np.ones(32, dtype=complex), bf)
    with pytest.raises(ValueError, match="flush_subnormals"):
        mf.encode(np.ones(32), bf, flush_subnormals=True)
    good = mf.encode(np.ones((2, 32)), bf)
    with pytest.raises(ValueError, match="scales has shape"):
        mf.decode((good.codes, good.scales[:, :0]), bf)
    with pytest.raises(ValueError, match="codes must be in"):
        mf.decode((good.codes.astype(np.int64) + 300, good.scales), bf)
    with pytest.raises(TypeError, match="BlockCodes"):
        mf.decode(good.codes, bf)
    with pytest.raises(ValueError, match="tensor_scale"):
        mf.decode((good.codes, good.scales, 0.0), bf)


def test_cli_info_and_table_of_block_formats(capsys):
    from minifloat.cli import main

    assert main(["info", "mxfp4_e2m1"]) == 0
    out = capsys.readouterr().out
    assert "float4_e2m1fn" in out and "4.25" in out and "floor" in out
    assert main(["info", "mxfp8", "--bias", "11"]) == 0
    assert "bias=11" in capsys.readouterr().out
    assert main(["table", "nvfp4"]) == 2
    assert "block-scaled" in capsys.readouterr().err


def test_block_formats_json_roundtrip_and_storage():
    from minifloat.nn.formats import format_to_json, resolve_format, storage_bytes

    for bf in list(BLOCK_PRESETS.values()) + [
            BlockFormat(FloatFormat(4, 3, bias=11), "e4m3", (4, 8), axis=(0, 2),
                        scale_rule="rceil", padding="zeros", saturation="none")]:
        j = format_to_json(bf)
        import json
        back = resolve_format(json.loads(json.dumps(j)))
        assert back == bf
    # 1000 MXFP4 values: 500 bytes of elements + 32 E8M0 scales; NVFP4: 63 scales of 8 bits
    assert storage_bytes(mf.format("mxfp4"), 1000) == 500 + 32
    assert storage_bytes(mf.format("nvfp4"), 1000) == 500 + 63
    assert storage_bytes(mf.format("e4m3"), 1000) == 1000


def test_minifloat_torch_quantize_takes_block_formats():
    torch = pytest.importorskip("torch")
    import minifloat.torch as mft

    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))
    for fmt in ("mxfp8", "nvfp4", BlockFormat("e2m1", "e8m0", (2, 16))):
        np.testing.assert_array_equal(mft.quantize(x, fmt).numpy(), mf.quantize(x.numpy(), fmt))
        q = mft.quantize(x, fmt, rounding="stochastic_a", random_bits=8, seed=3)
        np.testing.assert_array_equal(
            q.numpy(), mf.quantize(x.numpy(), fmt, rounding="stochastic_a", random_bits=8,
                                   seed=3))
    # straight-through gradient
    y = x.clone().requires_grad_(True)
    mft.quantize(y, "mxfp4").sum().backward()
    assert torch.equal(y.grad, torch.ones_like(x))


def test_policies_take_block_formats_in_operand_roles_only():
    from minifloat.nn.policy import QuantPolicy, RoleSpec

    assert RoleSpec(format="mxfp8").blocked
    with pytest.raises(ValueError, match="weight_grads: block formats.*allowed roles"):
        QuantPolicy(weight_grads=RoleSpec(format="mxfp8"))


@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_codes_little_endian_bit_stream(bits):
    rng = np.random.default_rng(bits)
    c = rng.integers(0, 1 << bits, (3, 37))
    stream = sum(int(v) << (i * bits) for i, v in enumerate(c.ravel()))
    nbytes = len(mf.pack_codes(c, bits))
    assert nbytes * 8 >= c.size * bits and (nbytes - 1) * 8 < c.size * bits + 64
    expected = np.frombuffer(stream.to_bytes(nbytes, "little"), dtype=np.uint8)
    np.testing.assert_array_equal(mf.pack_codes(c, bits), expected)
    np.testing.assert_array_equal(mf.unpack_codes(mf.pack_codes(c, bits), bits, c.shape), c)


def test_pack_codes_matches_torchao_fp4_layout_and_rejects_bad_input():
    bc = mf.encode(np.random.default_rng(0).standard_normal((2, 64)), "mxfp4")
    p = mf.pack_codes(bc.codes, 4)
    assert p.size == 64 and p[0] == (bc.codes[0, 0] | bc.codes[0, 1] << 4)
    with pytest.raises(ValueError, match="bits"):
        mf.pack_codes(bc.codes, 9)
    with pytest.raises(ValueError, match="codes must be in"):
        mf.pack_codes(np.array([16]), 4)
    with pytest.raises(ValueError, match="bytes"):
        mf.unpack_codes(p[:-1], 4, bc.codes.shape)
    with pytest.raises(TypeError, match="uint8"):
        mf.unpack_codes(p.astype(np.int16), 4, bc.codes.shape)


@pytest.mark.parametrize("name, rounding, nbits", [
    ("mxfp8_e4m3", "nearest_even", None), ("mxfp4_e2m1", "stochastic_a", 6),
    ("nvfp4", "toward_zero", None), ("mxint8", "nearest_even", None)])
def test_block_encode_vectors_against_oracle(name, rounding, nbits, tmp_path):
    from minifloat.hw import vectors, write_vectors

    bf = mf.format(name)
    vec = vectors("encode", bf, rounding=rounding, random_bits=nbits, saturation="finite",
                  seed=5, count=120)
    k = bf.block_size[0]
    assert len(vec) == 120
    d = odesc(bf)
    x = np.stack([vec.column(f"x{i}") for i in range(k)], 1).astype(np.uint32).view(np.float32)
    T = Fraction(1)
    if bf.tensor_scale is not None:
        T = Fraction(float(vec.column("T")[:1].astype(np.uint32).view(np.float32)[0]))
        assert T == O.tensor_scale_amax(d, x.ravel().tolist())
    for j in range(len(vec)):
        Rs = None if not nbits else [int(vec.column(f"R{i}")[j]) for i in range(k)]
        if Rs is not None:  # R of element i of vector j: Philox word j*k + i
            assert Rs == O.random_stream(5, j * k, k, nbits).tolist()
        sc, cs = O.block_encode(d, x[j].tolist(), T, rounding, "finite", nbits, Rs)
        assert vec.column("scale")[j] == sc
        assert [int(vec.column(f"e{i}")[j]) for i in range(k)] == cs
    p = tmp_path / "v.txt"
    write_vectors(vec, p)
    lines = [ln for ln in p.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == 120 and len(lines[0].split()) == len(vec.fields)


def test_block_decode_vectors_and_cli(tmp_path):
    from minifloat.cli import main
    from minifloat.hw import vectors

    bf = mf.format("mxfp6_e2m3")
    vec = vectors("decode", bf, count=300, seed=1)
    d = odesc(bf)
    for j in range(0, 300, 7):
        for i in (0, 13, 31):
            v = O.block_value(d, int(vec.column(f"e{i}")[j]), int(vec.column("scale")[j]))
            got = vec.column(f"r{i}")[j:j + 1].view(np.float64)[0]
            assert (np.isnan(got) if v == O.NAN else got == O.to_float(v))
    out = tmp_path / "mx.txt"
    assert main(["vectors", "--format", "mxfp4", "--op", "encode", "--count", "50",
                 "--out", str(out)]) == 0
    head = out.read_text().splitlines()[:6]
    assert any("saturation=finite" in h for h in head)
    with pytest.raises(ValueError, match="1-D blocks"):
        vectors("encode", BlockFormat("e4m3", "e8m0", (2, 2)))


def _elem_value(d, code):
    """Exact value of an element code (IEEE zero as ('zero', sign)) from the oracle."""
    e = d["element"]
    if isinstance(e, O.OFormat):
        return O.decode(e, code)
    v = O.fixed_decode(e, code)
    return ("zero", 0) if v == 0 else v


@pytest.mark.parametrize("bf,count", [
    ("mxfp8_e4m3", 150), ("mxfp8_e5m2", 60), ("nvfp4", 100), ("mxint8", 60),
    (BlockFormat("e2m1", "e8m0", 2), None)], ids=str)
def test_block_dot_vectors_against_oracle(bf, count, tmp_path):
    from minifloat.cli import main
    from minifloat.hw import vectors

    bf = mf.format(bf) if isinstance(bf, str) else bf
    vec = vectors("dot", bf, count=count, seed=3)
    k = bf.block_size[0]
    d = odesc(bf)
    sf = O.OFormat.of(bf.scale)
    if count is None:  # a block of 2: every (a0, b0) element-code pair
        assert vec.exhaustive and len(vec) == bf.num_codes ** 2
        pairs = set(zip(vec.column("a0").tolist(), vec.column("b0").tolist()))
        assert len(pairs) == bf.num_codes ** 2
    T = Fraction(1)
    if bf.tensor_scale is not None:
        T = (Fraction(float(vec.column("TA")[:1].astype(np.uint32).view(np.float32)[0]))
             * Fraction(float(vec.column("TB")[:1].astype(np.uint32).view(np.float32)[0])))
    res = vec.column("result").astype(np.uint32).view(np.float32)
    for j in range(len(vec)):
        a = [_elem_value(d, int(vec.column(f"a{i}")[j])) for i in range(k)]
        b = [_elem_value(d, int(vec.column(f"b{i}")[j])) for i in range(k)]
        sa, sb = O.decode(sf, int(vec.column("sa")[j])), O.decode(sf, int(vec.column("sb")[j]))
        want = O.round_binary32(O.block_dot(a, [sa], b, [sb], k, T))
        got = float(res[j])
        assert (np.isnan(got) if want == O.NAN else got == O.to_float(want)), j
    out = tmp_path / "dot.txt"
    assert main(["vectors", "--format", "mxfp4", "--op", "dot", "--count", "20",
                 "--out", str(out)]) == 0
    with pytest.raises(ValueError, match="block format"):
        vectors("dot", mf.format("e4m3"))
    with pytest.raises(ValueError, match="nearest_even"):
        vectors("dot", mf.format("mxfp4"), rounding="toward_zero")
