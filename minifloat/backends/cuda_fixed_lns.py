"""CUDA kernels for fixed-point and LNS formats: encode and decode on CuPy arrays, and the
elementwise arithmetic of fixed-point codes.

The same construction as :mod:`minifloat.backends.cuda` (whose prologue, compile cache and
launch these kernels share): short CUDA C++ files that ``#include`` the header core and call
the functions csrc/bind_fixed_lns.cpp calls, element for element:

- fixed-point encode: ``mf::units_of_parts`` of the input's exact value, then
  ``mf::fixed_project`` (NaN has no code: flagged, the caller raises);
- fixed-point decode: ``mf::fixed_value`` (exact in float64; float32 rounded to nearest-even
  with subnormals kept, ``mf::binary32_bits_rne``);
- LNS encode: ``mf::lns_encode_parts`` with the exact threshold table of the format's
  fraction bits (``cpu.threshold_table``, copied to the device once per F);
- LNS decode: ``mf::lns_decode_double``;
- fixed-point arithmetic (``mf_fixed_arith``): ``mf::fixed_op_units`` of the operands'
  ``mf::fixed_val`` (the exact result in 128-bit integers), then ``mf::fixed_project``, as
  csrc/bind_fixed_lns.cpp's ``fixed_arith``; the operation is an argument too.

Random bits follow the contract of docs/semantics.md §4 (element ``i`` uses Philox position
``offset + i``, or ``rnd[i]``), so a seeded stochastic encode gives the CPU's codes.  The
rounding mode is a kernel argument here (a uniform branch), not a template parameter: one
kernel per (input dtype, code dtype) serves every format and mode.

CuPy is imported lazily, as in :mod:`minifloat.backends.cuda`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import cuda
from .cuda import _GRID

if TYPE_CHECKING:
    from ..formats import FixedFormat, LNSFormat

# Code dtypes: fixed point has up to 32 bits, LNS up to 16.
FIXED_CODE_TYPES = {"uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t"}
LNS_CODE_TYPES = dict(cuda.CODE_TYPES)

_EXTRA_HEADERS = ("minifloat/lns.h",)  # lns.h includes fixed.h

_RANDOM = ("    uint32_t R = 0;\n"
           "    if (mf::is_stochastic(mode))\n"
           "      R = rsrc == 2 ? rnd[i] : mf::top_bits(mf::philox_word(seed, offset + i), n);\n")
_RANDOM_PARAMS = ("    int32_t mode, int32_t sat, int32_t n, int32_t rsrc, uint64_t seed,\n"
                  "    uint64_t offset, const uint32_t* rnd, uint32_t* bad) {\n")
_FIXED_PARAMS = "int32_t int_bits, int32_t frac_bits, int32_t is_signed"
_LNS_PARAMS = "int32_t int_bits, int32_t frac_bits, int32_t is_signed, int32_t infinities"
_KIND_CODES = {"fixed": FIXED_CODE_TYPES, "lns": LNS_CODE_TYPES}


def _check(kind: str, dtype_kind: str, dtype: str) -> None:
    table = {"in": cuda.INPUT_TYPES, "code": _KIND_CODES[kind], "value": cuda.VALUE_TYPES}
    if dtype not in table[dtype_kind]:
        raise ValueError(f"{dtype_kind}_dtype must be one of {sorted(table[dtype_kind])} for "
                         f"{kind} kernels, got {dtype!r}")


def encode_kernel_name(kind: str, in_dtype: str, code_dtype: str) -> str:
    """Name of the fixed-point (``kind="fixed"``) or LNS (``"lns"``) encode kernel."""
    if kind not in _KIND_CODES:
        raise ValueError(f"kind must be 'fixed' or 'lns', got {kind!r}")
    _check(kind, "in", in_dtype)
    _check(kind, "code", code_dtype)
    return f"mf_{kind}_encode_{in_dtype}_{code_dtype}"


def decode_kernel_name(kind: str, code_dtype: str, value_dtype: str) -> str:
    """Name of the fixed-point (``kind="fixed"``) or LNS (``"lns"``) decode kernel."""
    if kind not in _KIND_CODES:
        raise ValueError(f"kind must be 'fixed' or 'lns', got {kind!r}")
    _check(kind, "code", code_dtype)
    _check(kind, "value", value_dtype)
    return f"mf_{kind}_decode_{code_dtype}_{value_dtype}"


def compile_options() -> tuple[str, ...]:
    """The backend's NVRTC options plus ``--device-int128``: fixed.h's 128-bit integers
    (``unsigned __int128``) need it under NVRTC (CUDA >= 11.5)."""
    return (*cuda.compile_options(), "--device-int128")


def prologue_source() -> str:
    """The backend's prologue with lns.h (and so fixed.h) included."""
    return cuda.prologue_source(_EXTRA_HEADERS)


def encode_kernel_source(kind: str, in_dtype: str, code_dtype: str) -> str:
    """CUDA C++ text of one fixed-point or LNS encode kernel.

    Signature (fixed): ``(const In* x, Out* out, uint64 size, int32 int_bits, int32
    frac_bits, int32 is_signed, int32 mode, int32 sat, int32 n, int32 rsrc, uint64 seed,
    uint64 offset, const uint32* rnd, uint32* bad)``; LNS adds ``int32 infinities`` after
    ``is_signed`` and ``const uint64* thr`` (the threshold table) before ``mode``.  ``*bad``
    is OR-ed with 1 when an element has no code (NaN input; for LNS, NaN into a format
    without a NaN code).
    """
    name = encode_kernel_name(kind, in_dtype, code_dtype)
    in_t, out_t = cuda.INPUT_TYPES[in_dtype], _KIND_CODES[kind][code_dtype]
    if kind == "fixed":
        params = f"{_FIXED_PARAMS},\n"
        spec = "  const mf::FixedSpec f = mf::make_fixed_spec(int_bits, frac_bits, is_signed);\n"
        # Every uint32 is a code of a 32-bit format: NaN is told by its class, not a marker.
        code = ("    const uint32_t nan = uint32_t(p.cls == mf::IN_NAN);\n"
                "    const uint32_t c = nan ? 0u : mf::fixed_project(f, mode, sat, n, "
                "mf::units_of_parts(p, f.frac_bits), R);\n")
    else:
        params = f"{_LNS_PARAMS},\n    const uint64_t* thr,\n"
        spec = ("  const mf::LNSSpec s = mf::make_lns_spec(int_bits, frac_bits, is_signed, "
                "infinities);\n")
        code = ("    const uint32_t c0 = mf::lns_encode_parts(s, thr, mode, sat, n, p, R);\n"
                "    const uint32_t nan = uint32_t(c0 == mf::NO_CODE);\n"
                "    const uint32_t c = nan ? 0u : c0;\n")
    return (f'\nextern "C" __global__ void {name}(\n'
            f"    const {in_t}* x, {out_t}* out, uint64_t size, {params}" + _RANDOM_PARAMS
            + spec + _GRID +
            "  uint32_t acc = 0;\n"
            "  for (uint64_t i = start; i < size; i += stride) {\n"
            "    const mf::Parts<uint64_t> p = mfk::parts_in<uint64_t, false>(x[i]);\n"
            + _RANDOM + code +
            "    acc |= nan;\n"
            f"    out[i] = static_cast<{out_t}>(c);\n"
            "  }\n"
            "  if (acc) atomicOr(bad, 1u);\n"
            "}\n")


def decode_kernel_source(kind: str, code_dtype: str, value_dtype: str) -> str:
    """CUDA C++ text of one fixed-point or LNS decode kernel.

    Signature (fixed): ``(const Code* codes, Value* out, uint64 size, int32 int_bits, int32
    frac_bits, int32 is_signed, uint32* bad)``; LNS adds ``int32 infinities`` and ``const
    uint64* thr``.  A code >= 2^bits gives NaN and sets ``*bad`` to 1 (the caller raises).
    """
    name = decode_kernel_name(kind, code_dtype, value_dtype)
    c_t, v_t = _KIND_CODES[kind][code_dtype], cuda.VALUE_TYPES[value_dtype]
    if kind == "fixed":
        params = f"{_FIXED_PARAMS}, uint32_t* bad"
        spec = "  const mf::FixedSpec f = mf::make_fixed_spec(int_bits, frac_bits, is_signed);\n"
        valid, value = "c <= f.mask", "mf::fixed_value(f, c)"
    else:
        params = f"{_LNS_PARAMS},\n    const uint64_t* thr, uint32_t* bad"
        spec = ("  const mf::LNSSpec s = mf::make_lns_spec(int_bits, frac_bits, is_signed, "
                "infinities);\n")
        valid, value = "c < (uint32_t(1) << s.bits)", "mf::lns_decode_double(s, thr, c)"
    return (f'\nextern "C" __global__ void {name}(\n'
            f"    const {c_t}* codes, {v_t}* out, uint64_t size, {params}) {{\n"
            + spec + _GRID +
            "  uint32_t acc = 0;\n"
            "  for (uint64_t i = start; i < size; i += stride) {\n"
            "    const uint32_t c = codes[i];\n"
            f"    const bool ok = {valid};\n"
            "    acc |= uint32_t(!ok);\n"
            f"    mfk::store_real(out + i, ok ? {value} : mf::double_of(0x7FF8000000000000ull));\n"
            "  }\n"
            "  if (acc) atomicOr(bad, 1u);\n"
            "}\n")


ARITH_KERNEL = "mf_fixed_arith"
_FIXED_SPECS = ",\n    ".join(f"int32_t {p}_int, int32_t {p}_frac, int32_t {p}_signed"
                              for p in "abco")


def arith_kernel_source() -> str:
    """CUDA C++ text of the fixed-point elementwise kernel ``mf_fixed_arith``.

    Signature: ``(const uint32* a, const uint32* b, const uint32* c, uint32* out, uint64 size,
    int32 op, <int_bits, frac_bits, is_signed> x 4 (fa, fb, fc, fo), int32 mode, int32 sat,
    int32 n, int32 rsrc, uint64 seed, uint64 offset, const uint32* rnd, uint32* bad)``: codes
    widened to uint32 and broadcast by the caller, ``op`` an arith.h ArithOp number (operands
    beyond its arity are read but unused); ``*bad`` is OR-ed with 1 when a result is NaN (0/0,
    the square root of a negative number), which fixed point cannot hold.
    """
    makes = "".join(f"  const mf::FixedSpec f{p} = mf::make_fixed_spec({p}_int, {p}_frac, "
                    f"{p}_signed);\n" for p in "abco")
    return (f'\nextern "C" __global__ void {ARITH_KERNEL}(\n'
            "    const uint32_t* a, const uint32_t* b, const uint32_t* c, uint32_t* out,\n"
            f"    uint64_t size, int32_t op,\n    {_FIXED_SPECS},\n" + _RANDOM_PARAMS
            + makes + _GRID +
            "  uint32_t acc = 0;\n"
            "  for (uint64_t i = start; i < size; i += stride) {\n"
            + _RANDOM +
            "    const mf::Units u = mf::fixed_op_units(op, mf::fixed_val(fa, a[i]), "
            "mf::fixed_val(fb, b[i]),\n"
            "                                           mf::fixed_val(fc, c[i]), fo.frac_bits);\n"
            "    const uint32_t nan = uint32_t(u.cls == mf::IN_NAN);\n"
            "    out[i] = nan ? 0u : mf::fixed_project(fo, mode, sat, n, u, R);\n"
            "    acc |= nan;\n"
            "  }\n"
            "  if (acc) atomicOr(bad, 1u);\n"
            "}\n")


def kernel_keys() -> list[tuple[str, tuple[str, ...]]]:
    """Every kernel of this module as (``"encode"``, ``"decode"`` or ``"fixed_arith"``, key):
    encode keys are (kind, in_dtype, code_dtype), decode keys (kind, code_dtype,
    value_dtype), kind ``"fixed"`` or ``"lns"``; the one fixed_arith key is ().  Pure
    Python: needs no CuPy."""
    keys: list[tuple[str, tuple[str, ...]]] = []
    for kind, codes in _KIND_CODES.items():
        keys += [("encode", (kind, i, c)) for i in cuda.INPUT_TYPES for c in codes]
        keys += [("decode", (kind, c, v)) for c in codes for v in cuda.VALUE_TYPES]
    return [*keys, ("fixed_arith", ())]


def kernel_text(what: str, key: tuple[str, ...]) -> tuple[str, str]:
    """(name, kernel text without the prologue) of one kernel of :func:`kernel_keys`."""
    if what == "encode":
        return encode_kernel_name(*key), encode_kernel_source(*key)
    if what == "decode":
        return decode_kernel_name(*key), decode_kernel_source(*key)
    if what == "fixed_arith":
        return ARITH_KERNEL, arith_kernel_source()
    raise ValueError(f"what must be 'encode', 'decode' or 'fixed_arith', got {what!r}")


def kernel_sources() -> list[tuple[str, str, tuple[str, ...]]]:
    """(kernel name, complete source, NVRTC options) of every kernel of :func:`kernel_keys`,
    the texts :func:`encode` and :func:`decode` hand to ``cupy.RawModule``."""
    return cuda.assemble(kernel_keys(), kernel_text, prologue_source(), compile_options())


# ---------------------------------------------------------------- launch

_THRESHOLDS: dict[tuple[int, int], Any] = {}


def _thresholds(cp: Any, frac_bits: int) -> Any:
    """The LNS threshold table of ``frac_bits`` on the current device (cached per device)."""
    from . import cpu

    key = (int(cp.cuda.runtime.getDevice()), frac_bits)
    t = _THRESHOLDS.get(key)
    if t is None:
        t = cp.asarray(cpu.threshold_table(frac_bits), dtype=cp.uint64)
        _THRESHOLDS[key] = t
    return t


def _kind_args(cp: Any, fmt: FixedFormat | LNSFormat) -> tuple[str, list[Any], list[Any]]:
    """(kind, spec arguments, table arguments) of a fixed-point or LNS format."""
    from ..formats import FixedFormat

    spec = [np.int32(v) for v in fmt.spec]
    if isinstance(fmt, FixedFormat):
        return "fixed", spec, []
    return "lns", spec, [_thresholds(cp, fmt.frac_bits)]


def encode(x: Any, fmt: FixedFormat | LNSFormat, mode: int, sat: int, nbits: int, rsrc: int,
           seed: int, offset: int, random: np.ndarray | None) -> Any:
    """Project the CuPy array ``x`` into the fixed-point or LNS format ``fmt`` with resolved
    settings (``codec.resolve_projection``); returns the CuPy array of codes.

    Raises:
        ValueError: some element has no code (NaN input).
    """
    cp = cuda.require()
    a = cuda._as_input(x, cp)
    kind, spec, table = _kind_args(cp, fmt)
    name = encode_kernel_name(kind, a.dtype.name, np.dtype(fmt.dtype).name)
    src = prologue_source() + encode_kernel_source(kind, a.dtype.name, np.dtype(fmt.dtype).name)
    kernel = cuda.get_kernel(name, src, compile_options())
    out = cp.empty(a.shape, dtype=fmt.dtype)
    bad = cp.zeros(1, dtype=cp.uint32)
    rnd = cp.asarray(random, dtype=cp.uint32) if rsrc == 2 and random is not None else bad
    if a.size:
        cuda._launch(kernel, a.size, [a, out, np.uint64(a.size), *spec, *table, np.int32(mode),
                                      np.int32(sat), np.int32(nbits), np.int32(rsrc),
                                      np.uint64(seed), np.uint64(offset), rnd, bad])
        if int(bad.get()[0]):
            raise ValueError(f"x contains NaN, but {fmt} has no NaN code; replace NaNs first "
                             "(e.g. cupy.nan_to_num)")
    return out


def decode(codes: Any, fmt: FixedFormat | LNSFormat, dtype: np.dtype) -> Any:
    """Values of the CuPy array ``codes`` (``fmt.dtype``) as float32/float64.

    Raises:
        ValueError: a code is outside 0..2**bits-1.
    """
    cp = cuda.require()
    c = codes if codes.flags.c_contiguous else codes.copy(order="C")
    kind, spec, table = _kind_args(cp, fmt)
    name = decode_kernel_name(kind, c.dtype.name, dtype.name)
    src = prologue_source() + decode_kernel_source(kind, c.dtype.name, dtype.name)
    kernel = cuda.get_kernel(name, src, compile_options())
    out = cp.empty(c.shape, dtype=dtype)
    bad = cp.zeros(1, dtype=cp.uint32)
    if c.size:
        cuda._launch(kernel, c.size, [c, out, np.uint64(c.size), *spec, *table, bad])
        if int(bad.get()[0]):
            raise ValueError(f"codes must be in 0..{fmt.num_codes - 1} for {fmt}")
    return out


def arith(op: int, codes: list[Any], fmts: list[FixedFormat], fo: FixedFormat, mode: int,
          sat: int, nbits: int, rsrc: int, seed: int, offset: int, random: Any) -> Any:
    """Codes (CuPy, ``fo.dtype``) of the elementwise operation ``op`` (arith.h ArithOp
    number) on the CuPy fixed-point codes ``codes`` (formats ``fmts``, broadcast together),
    rounded once into ``fo`` with resolved settings (``codec.resolve_projection``; element
    ``i`` of the result uses Philox position ``offset + i``).  The caller checks the
    alignment limits (minifloat.arith.fixed).

    Raises:
        ValueError: a result is NaN (0/0, sqrt of a negative number).
    """
    cp = cuda.require()
    ops = [cp.ascontiguousarray(x.astype(cp.uint32)) for x in cp.broadcast_arrays(*codes)]
    specs = list(fmts)
    while len(ops) < 3:
        ops.append(ops[0])
        specs.append(specs[0])
    shape = tuple(ops[0].shape)
    size = int(np.prod(shape, dtype=np.int64))
    out = cp.empty(shape, dtype=cp.uint32)
    bad = cp.zeros(1, dtype=cp.uint32)
    rnd = bad
    if rsrc == 2:
        rnd = cp.ascontiguousarray(cp.broadcast_to(cp.asarray(random, dtype=cp.uint32), shape))
    if size:
        kernel = cuda.get_kernel(ARITH_KERNEL, prologue_source() + arith_kernel_source(),
                                 compile_options())
        cuda._launch(kernel, size, [*ops, out, np.uint64(size), np.int32(op),
                                    *[np.int32(v) for f in (*specs, fo) for v in f.spec],
                                    np.int32(mode), np.int32(sat), np.int32(nbits),
                                    np.int32(rsrc), np.uint64(seed), np.uint64(offset), rnd,
                                    bad])
        if int(bad.get()[0]):
            raise ValueError(f"a NaN result has no code in {fo} (fixed point has no NaN)")
    return out.astype(fo.dtype)
