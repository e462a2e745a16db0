"""The descriptor layer (minifloat/formats/, pure Python) agrees with the C++ core.

The descriptors derive their layout constants and value tables in Python so that they need
no backend (docs/architecture.md); the C++ core derives the same things from spec.h and its
decoders. These tests compare the two over many formats: every float layout parameter
combination of a grid, the fixed-point and LNS formats' every code. (The values themselves are
checked against the exact oracle in test_formats.py / test_decode.py / test_lns.py.)
"""

import itertools

import numpy as np
import pytest

mf = pytest.importorskip("minifloat")
from minifloat import _core  # noqa: E402
from minifloat.backends import cpu  # noqa: E402
from minifloat.formats.float import NAN_LAYOUTS, derive  # noqa: E402


def _float_formats():
    out = []
    for e, m, signed, sub, inf, nan in itertools.product(range(0, 9), range(0, 8),
                                                          (True, False), (True, False),
                                                          (True, False), NAN_LAYOUTS):
        for bias in {None, 0, 3, -4, 11}:
            try:
                f = mf.FloatFormat(e, m, bias=bias, signed=signed, subnormals=sub,
                                   infinities=inf, nan=nan,
                                   negative_zero=nan != "negzero" and signed)
            except ValueError:
                continue
            out.append(f)
    return out


FLOATS = _float_formats()


def test_grid_is_large():
    assert len(FLOATS) > 2000


def test_python_derive_equals_core_derive():
    bad = []
    for f in FLOATS:
        py, cc = derive(*f.spec), dict(_core.derive(f.spec))
        if {k: py[k] for k in cc} != cc:
            bad.append((f, py, cc))
    assert not bad, bad[:3]


def test_float_magnitude_ladder_equals_core_decode():
    """The Python ladder (max, min, eps come from it) is the core's value of codes 0..kmax."""
    for f in FLOATS[::3] + [mf.format(n) for n in ("e4m3", "e5m2", "bf16", "fp16")]:
        core = _core.decode_table(f.spec)
        kmax = f.code_of_max
        np.testing.assert_array_equal(f._ladder, core[: kmax + 1], err_msg=str(f))
        assert f.max == core[kmax]


@pytest.mark.parametrize("int_bits, frac_bits, signed", [(1, 6, True), (3, 4, False),
                                                          (0, 7, True), (8, 7, True),
                                                          (-2, 9, True), (5, -2, False)])
def test_fixed_value_table_equals_core_decode(int_bits, frac_bits, signed):
    f = mf.FixedFormat(int_bits, frac_bits, signed=signed)
    codes = np.arange(f.num_codes).astype(f.dtype)
    out = np.empty(f.num_codes, dtype=np.float64)
    cpu.fixed_decode(codes, f, out)
    np.testing.assert_array_equal(f.value_table(), out)


@pytest.mark.parametrize("name", ["lns8", "lns12", "lns16"])
def test_lns_value_table_equals_core_decode(name):
    f = mf.format(name)
    codes = np.arange(f.num_codes).astype(f.dtype)
    out = np.empty(f.num_codes, dtype=np.float64)
    cpu.lns_decode(codes, f, out)
    np.testing.assert_array_equal(f.value_table(), out)
    assert f.max == np.nanmax(out[np.isfinite(out)])
