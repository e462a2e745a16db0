"""The per-call ``lns_add=`` keyword (docs/lns_fixed.md §2.7): it selects the LNS addition
algorithm for one call exactly as the context does (whose results tests/test_lns.py and
tests/test_lns_interp.py check against the oracle), overrides the context, leaves it unchanged,
and is rejected when invalid or when the call has no LNS format."""

import numpy as np
import pytest

mf = pytest.importorskip("minifloat")
from minifloat.lns import Interp, lns_add_table  # noqa: E402

LNS8 = mf.format("lns8")
ALGOS = ["exact", "table", "interp", "mitchell", Interp(step_bits=2, guard_bits=0)]


def _pairs():
    n = LNS8.num_codes
    a = np.repeat(np.arange(n), n).astype(np.uint8)
    b = np.tile(np.arange(n), n).astype(np.uint8)
    return mf.from_codes(a, LNS8), mf.from_codes(b, LNS8)


@pytest.mark.parametrize("algo", ALGOS, ids=str)
@pytest.mark.parametrize("op", ["add", "subtract"])
def test_keyword_equals_context_all_pairs(algo, op):
    A, B = _pairs()
    with mf.lns.lns_add(algo):
        want = getattr(mf, op)(A, B).codes
    with mf.lns.lns_add("mitchell" if algo == "exact" else "exact"):  # overrides the context
        got = getattr(mf, op)(A, B, lns_add=algo).codes
    assert np.array_equal(got, want)
    assert mf.rounding.current().lns_add == "exact"  # the context is untouched
    out = mf.zeros(A.shape, LNS8)
    getattr(mf, op)(A, B, lns_add=algo, out=out)
    assert np.array_equal(out.codes, want)


def test_keyword_acts_with_a_known_value():
    """A user table with sb halved: 1 + 1 = 2^(sb(0)/2 / 2^F) = 2^(1/2) (independent value)."""
    ex = mf.lns.gauss_table(3, 127)
    custom = lns_add_table(ex.sb_floor // 2, ex.db_floor)
    one = mf.asarray([1.0], LNS8)
    assert mf.add(one, one, lns_add=custom).tolist() == [2 ** 0.5]
    assert mf.add(one, one).tolist() == [2.0]
    assert mf.add(one, 1.0, lns_add=custom).tolist() == [2 ** 0.5]  # scalar operand


def _contractions(x, y, w, img, **kw):
    """Every contraction entry point on LNS operands with the same keywords."""
    return {
        "sum": mf.sum(x, **kw), "sum_axis": mf.sum(x, axis=1, **kw),
        "method_sum": x.sum(**kw), "mean": mf.mean(x, **kw),
        "dot": mf.dot(x[0], y[:, 0], **kw), "method_dot": x.dot(y, **kw),
        "matmul": mf.matmul(x, y, **kw),
        "einsum": mf.einsum("ij,jk->ik", x, y, **kw),
        "tensordot": mf.tensordot(x, y, axes=1, **kw),
        "conv2d": mf.conv2d(img, w, padding=1, **kw),
    }


@pytest.mark.parametrize("algo", ["table", "interp", "mitchell"])
def test_keyword_in_every_contraction(rng, algo):
    x = mf.asarray(rng.uniform(-4, 4, (5, 24)), LNS8)
    y = mf.asarray(rng.uniform(-4, 4, (24, 3)), LNS8)
    img = mf.asarray(rng.uniform(-2, 2, (2, 2, 5, 5)), LNS8)
    w = mf.asarray(rng.uniform(-2, 2, (3, 2, 3, 3)), LNS8)
    for order in ("sequential", "pairwise"):
        kw = dict(accumulator=LNS8, order=order, block=4)
        with mf.lns.lns_add(algo):
            want = _contractions(x, y, w, img, **kw)
        got = _contractions(x, y, w, img, lns_add=algo, **kw)
        exact = _contractions(x, y, w, img, **kw)
        for k in want:
            assert np.array_equal(got[k].codes, want[k].codes), (k, order)
        if algo == "mitchell":  # the keyword really changed the additions
            assert any(not np.array_equal(got[k].codes, exact[k].codes) for k in got)
    # LNS operands accumulated in float32: no LNS addition happens, the keyword is accepted
    f32 = mf.matmul(x, y, accumulator="float32", lns_add=algo)
    assert np.array_equal(f32.codes, mf.matmul(x, y, accumulator="float32").codes)


def test_keyword_errors_and_no_partial_write():
    A, B = _pairs()
    out = mf.zeros(A.shape, LNS8)
    before = out.codes.copy()
    with pytest.raises(ValueError, match="lns_add"):
        mf.add(A, B, lns_add="bogus", out=out)
    assert np.array_equal(out.codes, before)
    with pytest.raises(ValueError, match="lns_add"):
        mf.add(A, B, lns_add=3)
    f = mf.asarray([1.0, 2.0], "bf16")
    with pytest.raises(ValueError, match="lns_add.*no"):
        mf.add(f, f, lns_add="table")
    with pytest.raises(ValueError, match="lns_add"):
        mf.matmul(f[None], f[:, None], lns_add="exact")
    with pytest.raises(ValueError, match="lns_add"):
        mf.sum(mf.asarray([1.0, 2.0], mf.FixedFormat(3, 4)), lns_add="exact")
    with pytest.raises(ValueError, match="lns_add"):
        mf.sum(mf.asarray([1.0, 2.0], LNS8), accumulator=LNS8, lns_add="interpolate")
    with pytest.raises(TypeError):
        mf.multiply(A, B, lns_add="table")  # no addition: not a keyword of multiply
    # a float operand with an LNS accumulator involves LNS: allowed by the check
    assert mf.lns.call_lns_add("table", [mf.format("bf16"), LNS8]) == "table"


def test_parse_lns_add_text():
    assert mf.lns.parse_lns_add("mitchell") == "mitchell"
    assert mf.lns.parse_lns_add(" interp(step_bits=2, guard_bits=4) ") == \
        Interp(step_bits=2, guard_bits=4)
    assert mf.lns.parse_lns_add(Interp().describe(7)) == Interp(3, 3, 7, 4)
    for bad in ("interp(step=2)", "interp(guard_bits=x)", "linear", "interp(guard_bits)"):
        with pytest.raises(ValueError, match="lns_add"):
            mf.lns.parse_lns_add(bad)


@pytest.mark.parametrize("bad", ["fast", "EXACT", 3, None])
def test_config_checks_lns_add_on_entry(bad):
    """mf.config(lns_add=...) rejects a bad value when the block starts (not at the first
    addition), naming lns_add and the allowed values; the context stays unchanged."""
    before = mf.rounding.current().lns_add
    with pytest.raises(ValueError, match=r"lns_add=.*allowed: 'exact', 'table'"):
        with mf.config(lns_add=bad):
            pass  # pragma: no cover
    assert mf.rounding.current().lns_add == before
    with mf.config(lns_add=Interp(step_bits=2)) as s:
        assert s.lns_add == Interp(step_bits=2)
