"""The C ABI (csrc/capi/minifloat_c.h) against the Python package.

The library is the installed one (minifloat.capi.get_library) or, in a source checkout where it
was not built, compiled here from csrc/ into a temporary folder.  Expected results come from the
package (mf.add ... on MiniArrays, mf.encode, mf.decode); expected flags from mf.hw.vectors
(both checked against the exact oracle elsewhere).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import minifloat as mf
from minifloat import capi

E4M3_IEEE = mf.FloatFormat(4, 3, bias=7)
P3 = mf.p3109(8, 3)
OPS = {"add": mf.add, "sub": mf.subtract, "mul": mf.multiply, "div": mf.divide, "fma": mf.fma,
       "sqrt": mf.sqrt}


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    try:
        path = capi.get_library()
    except FileNotFoundError:
        try:
            path = capi.compile_library(tmp_path_factory.mktemp("capi"))
        except FileNotFoundError as e:
            pytest.skip(f"C ABI library not built and not compilable here: {e}")
    return capi.load(path)


def _ptr(a: np.ndarray | None, ctype: type) -> object:
    return None if a is None else a.ctypes.data_as(ctypes.POINTER(ctype))


def c_op(lib: ctypes.CDLL, op: str, fin: mf.FloatFormat, fout: mf.FloatFormat,
         ops: list[np.ndarray], rounding: str = "nearest_even", saturation: str = "none",
         nbits: int = 0, R: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    arrs = [np.ascontiguousarray(o, dtype=np.uint16) for o in ops]
    arrs += [None] * (3 - len(arrs))  # type: ignore[list-item]
    n = arrs[0].shape[0]
    res = np.zeros(n, np.uint16)
    flags = np.zeros(n, np.uint8)
    Rc = None if R is None else np.ascontiguousarray(R, dtype=np.uint32)
    bad = ctypes.c_size_t(0)
    err = lib.mf_op_array(capi.OP_CODES[op], ctypes.byref(capi.format_struct(fin)),
                          ctypes.byref(capi.format_struct(fout)), n,
                          *(_ptr(a, ctypes.c_uint16) for a in arrs),
                          capi.ROUNDING_CODES[rounding], capi.SATURATION_CODES[saturation],
                          nbits, _ptr(Rc, ctypes.c_uint32), _ptr(res, ctypes.c_uint16),
                          _ptr(flags, ctypes.c_uint8), ctypes.byref(bad))
    assert err == 0, (capi.ERRORS[err], bad.value)
    return res, flags


def c_encode(lib: ctypes.CDLL, fmt: mf.FloatFormat, x: np.ndarray, rounding: str = "nearest_even",
             saturation: str = "none", nbits: int = 0, R: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=np.float64)
    res = np.zeros(x.shape[0], np.uint16)
    flags = np.zeros(x.shape[0], np.uint8)
    Rc = None if R is None else np.ascontiguousarray(R, dtype=np.uint32)
    bad = ctypes.c_size_t(0)
    err = lib.mf_encode_array(ctypes.byref(capi.format_struct(fmt)), x.shape[0],
                              _ptr(x, ctypes.c_double), capi.ROUNDING_CODES[rounding],
                              capi.SATURATION_CODES[saturation], nbits, _ptr(Rc, ctypes.c_uint32),
                              _ptr(res, ctypes.c_uint16), _ptr(flags, ctypes.c_uint8),
                              ctypes.byref(bad))
    assert err == 0, (capi.ERRORS[err], bad.value)
    return res, flags


def _first_mismatch(got: np.ndarray, want: np.ndarray, *cols: np.ndarray) -> str:
    i = int(np.flatnonzero(got != want)[0])
    return f"{int((got != want).sum())} mismatches; first at {i}: operands " \
           f"{[hex(int(c[i])) for c in cols]} got {int(got[i]):#x} want {int(want[i]):#x}"


@pytest.mark.parametrize("fmt", [E4M3_IEEE, P3], ids=["e4m3_bias7_ieee", "binary8p3"])
@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("rounding", ["nearest_even", "toward_zero"])
def test_all_pairs_match_package(lib: ctypes.CDLL, fmt: mf.FloatFormat, op: str,
                                 rounding: str) -> None:
    i = np.arange(1 << 16)
    a, b = (i >> 8).astype(np.uint16), (i & 0xFF).astype(np.uint16)
    want = OPS[op](mf.from_codes(a, fmt), mf.from_codes(b, fmt), rounding=rounding).codes
    got, flags = c_op(lib, op, fmt, fmt, [a, b], rounding)
    assert np.array_equal(got, want), _first_mismatch(got, want, a, b)
    vec = mf.hw.vectors(op, fmt, rounding=rounding)
    assert vec.flags_computed == mf.hw.FLAG_NAMES
    assert np.array_equal(vec.column("a"), a) and np.array_equal(vec.column("b"), b)
    wf = vec.column("flags").astype(np.uint8)
    assert np.array_equal(flags, wf), _first_mismatch(flags, wf, a, b)


# (op, operand format, result format, rounding, saturation, random bits)
CASES = [
    ("add", "e4m3", "e4m3", "nearest_even", "none", 0),
    ("sub", "e5m2", "e5m2", "toward_positive", "finite", 0),
    ("mul", "e4m3", "e4m3", "nearest_away", "nan", 0),
    ("mul", "e5m2", "e4m3", "toward_negative", "propagate", 0),
    ("div", "e4m3", "e4m3", "nearest_even", "none", 0),
    ("div", "e5m2", "e5m2", "odd", "none", 0),
    ("div", "binary8p3", "binary8p3", "nearest_even", "none", 0),
    ("div", "e4m3fnuz", "e4m3fnuz", "toward_zero", "finite", 0),
    ("fma", "e4m3", "e4m3", "nearest_even", "none", 0),
    ("fma", "binary8p4", "binary8p4", "stochastic_c", "none", 4),
    ("sqrt", "e5m2", "e5m2", "nearest_zero", "none", 0),
    ("sqrt", "binary8p3", "binary8p3", "stochastic_b", "none", 2),
    ("add", "e4m3", "e4m3", "stochastic_a", "none", 3),
    ("add", "e8m0", "e8m0", "nearest_even", "none", 0),
    ("mul", "e8m0", "e8m0", "stochastic_equal", "finite", 1),
    ("add", "e2m1", "e2m1", "nearest_even", "none", 0),
    ("mul", "e3m2", "e3m2", "stochastic_a", "finite", 5),
    ("mul", "binary8p3ue", "binary8p3ue", "nearest_even", "none", 0),
    ("sub", "binary8p3uf", "binary8p3uf", "toward_positive", "none", 0),
    ("add", "bf16", "bf16", "nearest_even", "none", 0),
    ("fma", "fp16", "fp16", "stochastic_a", "none", 32),
    ("div", "fp16", "e4m3", "toward_zero", "none", 0),
    ("mul", "bf16", "e5m2", "nearest_even", "finite", 0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_ops_formats_saturations_match_vectors(lib: ctypes.CDLL, case: tuple) -> None:
    op, fi, fo, rounding, sat, nbits = case
    fin, fout = mf.format(fi), mf.format(fo)
    vec = mf.hw.vectors(op, fin, out_format=fout, rounding=rounding, saturation=sat,
                        random_bits=nbits or None, seed=7,
                        count=None if fin.bits <= 8 and op != "fma" else 8192)
    names = [f.name for f in vec.fields if f.name in "abc"]
    ops = [vec.column(n) for n in names]
    R = vec.column("R") if nbits else None
    got, flags = c_op(lib, op, fin, fout, ops, rounding, sat, nbits, R)
    # Results straight from the package's operations, too.
    arrays = [mf.from_codes(o.astype(np.uint16), fin) for o in ops]
    kw = {"random_bits": nbits, "random": R} if nbits else {}
    want = OPS[op](*arrays, out_format=fout, rounding=rounding, saturation=sat, **kw).codes
    assert np.array_equal(got, want), _first_mismatch(got, want, *ops)
    assert np.array_equal(got, vec.column("result")), "vectors disagree with the package"
    wf = vec.column("flags").astype(np.uint8)
    if vec.flags_computed != mf.hw.FLAG_NAMES:  # the package computes NV, DZ only here
        flags &= 0x03
    assert np.array_equal(flags, wf), _first_mismatch(flags, wf, *ops)


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "binary8p3", "e8m0", "e2m1", "bf16",
                                 "binary8p3uf"])
@pytest.mark.parametrize(("rounding", "sat", "nbits"), [
    ("nearest_even", "none", 0), ("toward_zero", "finite", 0), ("nearest_away", "propagate", 0),
    ("stochastic_a", "none", 6), ("stochastic_c", "finite", 3)])
def test_encode_probes_match_package(lib: ctypes.CDLL, fmt: str, rounding: str, sat: str,
                                     nbits: int) -> None:
    f = mf.format(fmt)
    vec = mf.hw.vectors("encode", f, input_dtype="float64", rounding=rounding, saturation=sat,
                        random_bits=nbits or None, seed=3)
    x = vec.column("x").astype(np.uint64).view(np.float64)
    R = vec.column("R") if nbits else None
    got, flags = c_encode(lib, f, x, rounding, sat, nbits, R)
    kw = {"random_bits": nbits, "random": R} if nbits else {}
    want = mf.encode(x, f, rounding=rounding, saturation=sat, **kw)
    assert np.array_equal(got, want), _first_mismatch(got, want, x.view(np.uint64))
    wf = vec.column("flags").astype(np.uint8)
    assert np.array_equal(flags, wf), _first_mismatch(flags, wf, x.view(np.uint64))


def test_encode_single_and_probe_values(lib: ctypes.CDLL) -> None:
    f = mf.format("e4m3")
    fs = capi.format_struct(f)
    code, flags = ctypes.c_uint32(), ctypes.c_uint32()
    # docs/semantics.md §5 worked examples and flags.
    for x, rounding, sat, want, want_flags in [
        (448.0, "nearest_even", "none", 0x7E, 0), (464.0, "nearest_even", "none", 0x7E, 0x10),
        (465.0, "nearest_even", "none", 0x7F, 0x14), (465.0, "toward_zero", "none", 0x7E, 0x10),
        (1e6, "nearest_even", "finite", 0x7E, 0x14), (0.3, "toward_zero", "none", 0x29, 0x10),
        (0.3, "nearest_even", "none", 0x2A, 0x10), (-0.0, "nearest_even", "none", 0x80, 0),
        (2.0**-10, "nearest_even", "none", 0x00, 0x18), (float("nan"), "nearest_even", "none",
                                                         0x7F, 0)]:
        err = lib.mf_encode(ctypes.byref(fs), x, capi.ROUNDING_CODES[rounding],
                            capi.SATURATION_CODES[sat], 0, 0, ctypes.byref(code),
                            ctypes.byref(flags))
        assert err == 0
        assert (code.value, flags.value) == (want, want_flags), x
        assert code.value == int(mf.encode(np.array([x]), f, rounding=rounding,
                                           saturation=sat)[0])
    # stochastic_a, N = 3, 0.3 (nu = 0.6): R >= 4 rounds away (semantics.md §5)
    for R in range(8):
        assert lib.mf_encode(ctypes.byref(fs), 0.3, 7, 0, 3, R, ctypes.byref(code), None) == 0
        assert code.value == (0x2A if R >= 4 else 0x29)


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "binary8p3", "e8m0", "e2m1", "bf16",
                                 "binary8p3ue", "e4m3fnuz"])
def test_decode_every_code(lib: ctypes.CDLL, fmt: str) -> None:
    f = mf.format(fmt)
    fs = capi.format_struct(f)
    codes = np.arange(1 << f.bits)
    want = mf.decode(codes, f).astype(np.float64)
    v = ctypes.c_double()
    got = np.empty(codes.shape[0])
    for c in codes:
        assert lib.mf_decode(ctypes.byref(fs), int(c), ctypes.byref(v)) == 0
        got[c] = v.value
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    assert lib.mf_decode(ctypes.byref(fs), 1 << f.bits, ctypes.byref(v)) == 8


# Bad structs: (fields of mf_format, a fragment of the message); each one FloatFormat rejects too.
BAD = [
    ((16, 3, 7, 1, 1, 1, 0, 1), "exp_bits=16; allowed: 0..15"),
    ((4, -1, 7, 1, 1, 1, 0, 1), "man_bits=-1"),
    ((4, 3, 7, 2, 1, 1, 0, 1), "is_signed=2; allowed: 0 or 1"),
    ((4, 3, 7, 1, 1, 1, 0, 5), "negative_zero=5"),
    ((0, 0, 0, 1, 1, 1, 3, 1), "leaves no value bits"),
    ((8, 8, 127, 1, 1, 1, 0, 1), "total bits (is_signed + exp_bits + man_bits) = 17"),
    ((1, 0, 0, 0, 1, 0, 3, 0), "total bits (is_signed + exp_bits + man_bits) = 1"),
    ((4, 3, 7, 1, 1, 1, 4, 1), "nan_layout=4 is not a NaN layout"),
    ((4, 3, 1 << 21, 1, 1, 1, 0, 1), "bias=2097152"),
    ((4, 3, 7, 0, 1, 1, 2, 0), "needs a sign bit"),
    ((4, 3, 8, 1, 1, 0, 2, 1), "set negative_zero=0"),
    ((4, 3, 7, 1, 1, 1, 0, 0), "negative_zero=0 is only defined with nan_layout=negzero"),
    ((5, 0, 15, 1, 1, 1, 0, 1), "nan_layout=ieee needs exp_bits >= 1 and man_bits >= 1"),
    ((0, 1, 0, 1, 1, 1, 1, 1), "no non-zero finite value"),
    ((11, 4, 1100, 1, 1, 1, 0, 1), "outside float64's range"),
    ((11, 4, -1200, 1, 1, 1, 0, 1), "outside float64's range"),
]


@pytest.mark.parametrize(("fields", "fragment"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_format_rejected_with_message(lib: ctypes.CDLL, fields: tuple, fragment: str
                                          ) -> None:
    msg = ctypes.create_string_buffer(256)
    fs = capi.MfFormat(*fields)
    assert lib.mf_check_format(ctypes.byref(fs), msg, 256) == 2
    assert fragment in msg.value.decode(), msg.value
    assert lib.mf_format_bits(ctypes.byref(fs)) == -1
    e, m, bias, signed, sub, inf, nan, nz = fields
    with pytest.raises((ValueError, TypeError)):
        mf.FloatFormat(e, m, bias=bias, signed=bool(signed) if signed in (0, 1) else signed,
                       subnormals=bool(sub), infinities=bool(inf),
                       nan=("ieee", "max", "negzero", "none")[nan] if 0 <= nan < 4 else "bad",
                       negative_zero=bool(nz) if nz in (0, 1) else nz)
    # every call checks its format
    out = ctypes.c_uint32()
    assert lib.mf_encode(ctypes.byref(fs), 1.0, 0, 0, 0, 0, ctypes.byref(out), None) == 2
    assert lib.mf_op(0, ctypes.byref(fs), ctypes.byref(fs), 0, 0, 0, 0, 0, 0, 0,
                     ctypes.byref(out), None) == 2
    # a short buffer is truncated and NUL-terminated
    short = ctypes.create_string_buffer(8)
    assert lib.mf_check_format(ctypes.byref(fs), short, 8) == 2
    assert len(short.value) == 7


def test_presets_accepted(lib: ctypes.CDLL) -> None:
    msg = ctypes.create_string_buffer(256)
    fmts = list(mf.PRESETS.values())
    for k in (3, 8, 16):
        for p in (1, 2, 3, k - 1):
            for signed in (True, False):
                for ext in (True, False):
                    try:
                        fmts.append(mf.p3109(k, p, signed, ext))
                    except ValueError:  # p too large for k, or a range beyond float64
                        pass
    fmts += [mf.FloatFormat(e, m, bias=b) for e, m, b in ((4, 3, 11), (5, 2, 0), (2, 13, -3))]
    for f in fmts:
        fs = capi.format_struct(f)
        assert lib.mf_check_format(ctypes.byref(fs), msg, 256) == 0, (f, msg.value)
        assert msg.value == b""
        assert lib.mf_format_bits(ctypes.byref(fs)) == f.bits


def test_error_codes(lib: ctypes.CDLL) -> None:
    e4 = ctypes.byref(capi.format_struct(mf.format("e4m3")))
    e2m1 = ctypes.byref(capi.format_struct(mf.format("e2m1")))
    out, fl = ctypes.c_uint32(), ctypes.c_uint32()
    r = ctypes.byref(out)

    def op(o: int, a: int = 0x38, b: int = 0x38, mode: int = 0, sat: int = 0, n: int = 0,
           R: int = 0, fmt: object = e4) -> int:
        return lib.mf_op(o, fmt, fmt, a, b, 0, mode, sat, n, R, r, ctypes.byref(fl))

    assert op(0) == 0 and out.value == 0x40  # 1 + 1 = 2
    assert op(6) == 7 and op(-1) == 7  # unknown op
    assert op(0, mode=11) == 3 and op(0, mode=-1) == 3
    assert op(0, sat=4) == 4 and op(0, sat=3, fmt=e2m1) == 4  # no NaN in e2m1
    assert op(0, mode=7, n=0) == 5 and op(0, mode=7, n=33) == 5
    assert op(0, mode=7, n=3, R=8) == 6 and op(0, mode=7, n=3, R=7) == 0
    assert op(0, mode=7, n=32, R=0xFFFFFFFF) == 0
    assert op(0, mode=0, n=0, R=12345) == 0  # deterministic modes ignore N and R
    assert op(0, a=256) == 8 and op(5, a=0x38, b=999) == 0  # sqrt ignores b
    # inf - inf has no code in a format without NaN
    assert op(1, a=0x07, b=0x07, fmt=e2m1) == 0  # 6 - 6 = 0
    f = mf.format("e2m1")
    zero, big = 0, int(mf.encode(np.array([6.0]), f)[0])
    assert lib.mf_op(3, e2m1, e2m1, big, zero, 0, 0, 0, 0, 0, r, None) == 0  # 6/0: max (no inf)
    assert lib.mf_op(3, e2m1, e2m1, zero, zero, 0, 0, 0, 0, 0, r, None) == 9  # 0/0: no NaN code
    assert lib.mf_encode(e2m1, float("nan"), 0, 0, 0, 0, r, None) == 9
    assert lib.mf_op(0, e4, e4, 0, 0, 0, 0, 0, 0, 0, None, None) == 1
    assert lib.mf_op(0, None, e4, 0, 0, 0, 0, 0, 0, 0, r, None) == 1
    assert lib.mf_check_format(None, None, 0) == 1
    assert lib.mf_decode(e4, 0, None) == 1
    bad = ctypes.c_size_t()
    a = np.array([0x38, 0x38, 0x7FF], np.uint16)
    res = np.zeros(3, np.uint16)
    err = lib.mf_op_array(0, e4, e4, 3, _ptr(a, ctypes.c_uint16), _ptr(a, ctypes.c_uint16),
                          None, 0, 0, 0, None, _ptr(res, ctypes.c_uint16), None,
                          ctypes.byref(bad))
    assert (err, bad.value) == (8, 2)
    err = lib.mf_op_array(0, e4, e4, 3, _ptr(a, ctypes.c_uint16), None, None, 0, 0, 0, None,
                          _ptr(res, ctypes.c_uint16), None, ctypes.byref(bad))
    assert (err, bad.value) == (1, 3)  # b missing for a binary op
    err = lib.mf_op_array(0, e4, e4, 3, _ptr(a, ctypes.c_uint16), _ptr(a, ctypes.c_uint16),
                          None, 7, 0, 4, None, _ptr(res, ctypes.c_uint16), None, None)
    assert err == 1  # stochastic without R
    for code in range(10):
        assert lib.mf_error_string(code).decode() != "unknown error code"
    assert lib.mf_error_string(10) == b"unknown error code"
    assert lib.mf_abi_version() == capi.ABI_VERSION


def test_get_library_errors(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(capi.ENV_VAR, str(tmp_path / "missing.so"))
    with pytest.raises(FileNotFoundError, match="is not a file"):
        capi.get_library()
    monkeypatch.delenv(capi.ENV_VAR)
    try:
        path = capi.get_library()
    except FileNotFoundError as e:
        assert "cmake -S csrc/capi -B build/capi" in str(e)
    else:
        assert path.endswith(capi.library_name())
        assert mf.get_library() == path
    assert (capi.get_header_dir() + "/minifloat_c.h").endswith("minifloat_c.h")
    with pytest.raises(TypeError, match="FloatFormat"):
        capi.format_struct("e4m3")  # type: ignore[arg-type]
