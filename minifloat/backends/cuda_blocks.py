"""CUDA kernels for block-scaled formats (OCP MX, NVFP4, user blocks) on CuPy arrays.

The generic definition of csrc/bind_block.cpp, one GPU thread per block (encode) or per
element (decode), calling the same block.h functions:

- encode: pass 1 takes the block's largest finite magnitude and its NaN/Inf flags (magnitude
  bits, so float order is integer order), ``mf::block_scale`` picks the scale code, pass 2
  rounds every element once with ``mf::block_element_code`` (0 under a NaN scale).  Element
  ``i`` (flat index) reads Philox position ``offset + i``, as on the CPU.  The per-tensor scale
  T of NVFP4-style formats is blocks._tensor_scale's, with the finite amax taken on the device
  (:func:`finite_amax`).
- decode: ``element value * (scale value * T)`` in float64 (exact), then float32 through
  ``mf::binary32_bits_rne`` (CuPy's ``-ftz=true`` would flush an MX value below 2^-126).

The layout is the CPU's canonical ``(outer, n0, mid, n1, inner, k0, k1)`` of
``blocks.block_layout``: element ``(o, j0, m, j1, t)`` sits at
``(((o n0 + j0) mid + m) n1 + j1) inner + t`` and belongs to block ``(o, j0 / k0, m, j1 / k1,
t)``.  CuPy is imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import cuda
from .cuda import _GRID

if TYPE_CHECKING:
    from ..formats import BlockFormat

IN_TYPES = {"float32": "float", "float64": "double"}
CODE_TYPES = dict(cuda.CODE_TYPES)

_LAYOUT = ("    uint64_t outer, uint64_t n0, uint64_t mid, uint64_t n1, uint64_t inner,\n"
           "    uint64_t k0, uint64_t k1,\n")
_BSPEC = ("    int32_t elem_kind, int32_t e0, int32_t e1, int32_t e2, int32_t e3, int32_t e4,\n"
          "    int32_t e5, int32_t e6, int32_t e7, int32_t s0, int32_t s1, int32_t s2,\n"
          "    int32_t s3, int32_t s4, int32_t s5, int32_t s6, int32_t s7, int32_t rule,\n"
          "    int32_t emax_e, int32_t prec_e, double elem_max, int32_t pmin, int32_t pmax,\n"
          "    double tensor,\n")
_MAKE_BSPEC = """  mf::BlockSpec b{};
  b.elem_kind = elem_kind;
  if (elem_kind == 0) b.ef = mf::make_float_spec(e0, e1, e2, e3, e4, e5, e6, e7);
  else b.ex = mf::make_fixed_spec(e0, e1, e2);
  b.sf = mf::make_float_spec(s0, s1, s2, s3, s4, s5, s6, s7);
  b.rule = rule;
  b.emax_e = emax_e;
  b.prec_e = prec_e;
  b.elem_max = elem_max;
  b.pmin = pmin;
  b.pmax = pmax;
  b.tensor = tensor;
  mf::finish_block_spec(b);
"""

_HELPERS = r"""
namespace mfk {
// Magnitude bits of an element and the value of such bits (float order == integer order).
MF_HD uint64_t mag_bits(float v) { return mf::bits_of(v) & 0x7FFFFFFFu; }
MF_HD uint64_t mag_bits(double v) { return mf::bits_of(v) & 0x7FFFFFFFFFFFFFFFull; }
MF_HD uint64_t inf_bits(float) { return 0x7F800000u; }
MF_HD uint64_t inf_bits(double) { return 0x7FF0000000000000ull; }
// float32 magnitude bits -> the exact double by integer operations: a float -> double cast
// would be cvt.ftz.f64.f32 under CuPy's -ftz=true and flush a subnormal amax to zero.
MF_HD double mag_value(float, uint64_t u) {
  const uint32_t be = uint32_t(u >> 23), man = uint32_t(u) & 0x7FFFFFu;
  if (be == 0) return double(man) * mf::pow2(-149);
  if (be == 255) return mf::double_of(0x7FF0000000000000ull | (uint64_t(man) << 29));
  return mf::double_of((uint64_t(be + 896) << 52) | (uint64_t(man) << 29));
}
MF_HD double mag_value(double, uint64_t u) { return mf::double_of(u); }
}  // namespace mfk
"""


def encode_kernel_name(in_dtype: str, code_dtype: str) -> str:
    """Name of the block encode kernel for float32/float64 input and uint8/uint16 codes."""
    if in_dtype not in IN_TYPES:
        raise ValueError(f"in_dtype must be one of {sorted(IN_TYPES)}, got {in_dtype!r}")
    if code_dtype not in CODE_TYPES:
        raise ValueError(f"code_dtype must be one of {sorted(CODE_TYPES)}, got {code_dtype!r}")
    return f"mf_block_encode_{in_dtype}_{code_dtype}"


def decode_kernel_name(code_dtype: str, value_dtype: str) -> str:
    """Name of the block decode kernel for uint8/uint16 codes and float32/float64 values."""
    if code_dtype not in CODE_TYPES:
        raise ValueError(f"code_dtype must be one of {sorted(CODE_TYPES)}, got {code_dtype!r}")
    if value_dtype not in cuda.VALUE_TYPES:
        raise ValueError(f"value_dtype must be one of {sorted(cuda.VALUE_TYPES)}, "
                         f"got {value_dtype!r}")
    return f"mf_block_decode_{code_dtype}_{value_dtype}"


def compile_options() -> tuple[str, ...]:
    """The backend's options plus ``--device-int128`` (block.h includes fixed.h)."""
    return (*cuda.compile_options(), "--device-int128")


def prologue_source() -> str:
    """The backend's prologue with block.h included, and this module's helpers."""
    return cuda.prologue_source(("minifloat/block.h",)) + _HELPERS


def encode_kernel_source(in_dtype: str, code_dtype: str) -> str:
    """CUDA C++ text of one block encode kernel: one thread per block (grid-stride).

    Signature: ``(const In* x, Code* codes, uint32* scodes, uint64 nblocks, <layout: outer,
    n0, mid, n1, inner, k0, k1>, <BlockSpec: elem_kind, 8 element fields (3 used for
    fixed point), 8 scale fields, rule, emax_e, prec_e, double elem_max, pmin, pmax, double
    tensor>, int32 mode, int32 sat, int32 n, int32 rsrc, uint64 seed, uint64 offset,
    const uint32* rnd, uint32* bad)``; ``*bad`` is OR-ed with 1 when a needed code does not
    exist (a NaN scale in a scale format without NaN, or an element NaN result without code).
    """
    name = encode_kernel_name(in_dtype, code_dtype)
    in_t, c_t = IN_TYPES[in_dtype], CODE_TYPES[code_dtype]
    return (f'\nextern "C" __global__ void {name}(\n'
            f"    const {in_t}* x, {c_t}* codes, uint32_t* scodes, uint64_t nblocks,\n"
            + _LAYOUT + _BSPEC +
            "    int32_t mode, int32_t sat, int32_t n, int32_t rsrc, uint64_t seed,\n"
            "    uint64_t offset, const uint32_t* rnd, uint32_t* bad) {\n"
            + _MAKE_BSPEC +
            "  mf::Plan plan{};\n"
            "  if (b.elem_kind == 0) plan = mf::make_plan(b.ef, mode, sat, 0);\n"
            "  (void)outer;  // implied by the block / element count\n"
            "  const uint64_t nb0 = (n0 + k0 - 1) / k0, nb1 = (n1 + k1 - 1) / k1;\n"
            + _GRID.replace("start", "first") +
            "  uint32_t flag = 0;\n"
            "  for (uint64_t blk = first; blk < nblocks; blk += stride) {\n"
            "    const uint64_t t = blk % inner;\n"
            "    uint64_t r = blk / inner;\n"
            "    const uint64_t B1 = r % nb1; r /= nb1;\n"
            "    const uint64_t m = r % mid; r /= mid;\n"
            "    const uint64_t B0 = r % nb0;\n"
            "    const uint64_t o = r / nb0;\n"
            "    const uint64_t j0a = B0 * k0, j0b = j0a + k0 < n0 ? j0a + k0 : n0;\n"
            "    const uint64_t j1a = B1 * k1, j1b = j1a + k1 < n1 ? j1a + k1 : n1;\n"
            f"    const uint64_t kinf = mfk::inf_bits({in_t}(0));\n"
            "    uint64_t amax = 0, maxall = 0;\n"
            "    for (uint64_t j0 = j0a; j0 < j0b; ++j0)\n"
            "      for (uint64_t j1 = j1a; j1 < j1b; ++j1) {\n"
            "        const uint64_t u = mfk::mag_bits(x[(((o * n0 + j0) * mid + m) * n1 + j1) "
            "* inner + t]);\n"
            "        maxall = u > maxall ? u : maxall;\n"
            "        if (u < kinf && u > amax) amax = u;\n"
            "      }\n"
            f"    const mf::BlockScale s = mf::block_scale(b, mfk::mag_value({in_t}(0), amax),\n"
            "        uint32_t(maxall > kinf), uint32_t(maxall == kinf));\n"
            "    flag |= uint32_t(s.code == mf::NO_CODE);\n"
            "    scodes[(((o * nb0 + B0) * mid + m) * nb1 + B1) * inner + t] = s.code;\n"
            "    for (uint64_t j0 = j0a; j0 < j0b; ++j0)\n"
            "      for (uint64_t j1 = j1a; j1 < j1b; ++j1) {\n"
            "        const uint64_t i = (((o * n0 + j0) * mid + m) * n1 + j1) * inner + t;\n"
            "        uint32_t R = 0;\n"
            "        if (mf::is_stochastic(mode))\n"
            "          R = rsrc == 2 ? rnd[i] : mf::top_bits(mf::philox_word(seed, offset + i), "
            "n);\n"
            "        uint32_t c = 0;\n"
            "        if (!s.is_nan) {\n"
            "          c = mf::block_element_code(b, plan, s, mode, sat, n,\n"
            "                                     mfk::parts_in<uint64_t, false>(x[i]), R);\n"
            "          flag |= uint32_t(b.elem_kind == 0 && c == mf::NO_CODE);\n"
            "        }\n"
            f"        codes[i] = static_cast<{c_t}>(c);\n"
            "      }\n"
            "  }\n"
            "  if (flag) atomicOr(bad, 1u);\n"
            "}\n")


def decode_kernel_source(code_dtype: str, value_dtype: str) -> str:
    """CUDA C++ text of one block decode kernel: one thread per element (grid-stride).

    Signature: ``(const Code* codes, const uint32* scodes, Value* out, uint64 size, <layout>,
    const double* et, const double* st, double tensor)``: ``et``/``st`` the exact values of
    every element and scale code (``blocks.value_table``); codes are checked by the caller.
    """
    name = decode_kernel_name(code_dtype, value_dtype)
    c_t, v_t = CODE_TYPES[code_dtype], cuda.VALUE_TYPES[value_dtype]
    return (f'\nextern "C" __global__ void {name}(\n'
            f"    const {c_t}* codes, const uint32_t* scodes, {v_t}* out, uint64_t size,\n"
            + _LAYOUT +
            "    const double* et, const double* st, double tensor) {\n"
            "  (void)outer;  // implied by the block / element count\n"
            "  const uint64_t nb0 = (n0 + k0 - 1) / k0, nb1 = (n1 + k1 - 1) / k1;\n"
            + _GRID +
            "  for (uint64_t i = start; i < size; i += stride) {\n"
            "    const uint64_t t = i % inner;\n"
            "    uint64_t r = i / inner;\n"
            "    const uint64_t j1 = r % n1; r /= n1;\n"
            "    const uint64_t m = r % mid; r /= mid;\n"
            "    const uint64_t j0 = r % n0;\n"
            "    const uint64_t o = r / n0;\n"
            "    const uint64_t si = (((o * nb0 + j0 / k0) * mid + m) * nb1 + j1 / k1) * inner "
            "+ t;\n"
            "    mfk::store_real(out + i, et[codes[i]] * (st[scodes[si]] * tensor));\n"
            "  }\n"
            "}\n")


def kernel_sources() -> list[tuple[str, str, tuple[str, ...]]]:
    """(kernel name, complete source, NVRTC options) of every block kernel."""
    out = []
    for i in IN_TYPES:
        for c in CODE_TYPES:
            out.append((encode_kernel_name(i, c), prologue_source() + encode_kernel_source(i, c),
                        compile_options()))
    for c in CODE_TYPES:
        for v in cuda.VALUE_TYPES:
            out.append((decode_kernel_name(c, v), prologue_source() + decode_kernel_source(c, v),
                        compile_options()))
    return out


# ---------------------------------------------------------------- launch

def _bspec_args(spec: tuple[Any, ...]) -> list[Any]:
    """BlockFormat.core_spec(T) as the kernels' scalar arguments."""
    kind, e, s, rule, emax_e, prec_e, elem_max, pmin, pmax, tensor = spec
    ef = [*e, *([0] * (8 - len(e)))]
    return [np.int32(kind), *[np.int32(v) for v in ef], *[np.int32(v) for v in s],
            np.int32(rule), np.int32(emax_e), np.int32(prec_e), np.float64(elem_max),
            np.int32(pmin), np.int32(pmax), np.float64(tensor)]


def _layout_args(layout: tuple[int, ...]) -> list[Any]:
    return [np.uint64(v) for v in layout]


def finite_amax(x: Any) -> float:
    """The largest finite magnitude of the CuPy array ``x`` (0.0 when there is none), as
    cpu.finite_amax gives it for a NumPy array (blocks._tensor_scale uses either)."""
    cp = cuda.require()
    v = cp.abs(x)
    v = v[cp.isfinite(v)]
    return float(v.max()) if v.size else 0.0


def encode(x: Any, bf: BlockFormat, t: float, layout: tuple[int, ...],
           scale_shape: tuple[int, ...], mode: int, sat: int, nbits: int, rsrc: int, seed: int,
           offset: int, random: np.ndarray | None) -> tuple[Any, Any]:
    """(element codes, uint32 scale codes) of the CuPy float32/float64 array ``x`` in ``bf``
    with tensor scale ``t`` (blocks._tensor_scale), the canonical ``layout``
    (blocks.block_layout) and resolved settings.

    Raises:
        ValueError: a needed code does not exist (a NaN/Inf block whose scale format has no
            NaN).
    """
    cp = cuda.require()
    a = x if x.flags.c_contiguous else cp.ascontiguousarray(x)
    codes = cp.empty(a.shape, dtype=bf.dtype)
    scodes = cp.empty(scale_shape, dtype=cp.uint32)
    nblocks = int(np.prod(scale_shape, dtype=np.int64))
    if a.size:
        name = encode_kernel_name(a.dtype.name, np.dtype(bf.dtype).name)
        src = prologue_source() + encode_kernel_source(a.dtype.name, np.dtype(bf.dtype).name)
        kernel = cuda.get_kernel(name, src, compile_options())
        bad = cp.zeros(1, dtype=cp.uint32)
        rnd = cp.asarray(random, dtype=cp.uint32) if rsrc == 2 and random is not None else bad
        cuda._launch(kernel, nblocks, [a, codes, scodes, np.uint64(nblocks),
                                       *_layout_args(layout), *_bspec_args(bf.core_spec(t)),
                                       np.int32(mode), np.int32(sat), np.int32(nbits),
                                       np.int32(rsrc), np.uint64(seed), np.uint64(offset), rnd,
                                       bad])
        if int(bad.get()[0]):
            raise ValueError(f"x has NaN or Inf in a block, whose scale must then be NaN, but "
                             f"the scale format {bf.scale} has no NaN; replace them first "
                             "(e.g. cupy.nan_to_num)")
    return codes, scodes


_TABLES: dict[tuple[Any, int], tuple[Any, Any]] = {}


def _tables(cp: Any, bf: BlockFormat, tables: tuple[np.ndarray, np.ndarray]) -> tuple[Any, Any]:
    """The value tables on the current device (copied once per format and device)."""
    key = (bf, int(cp.cuda.runtime.getDevice()))
    got = _TABLES.get(key)
    if got is None:
        got = (cp.asarray(tables[0]), cp.asarray(tables[1]))
        _TABLES[key] = got
    return got


def decode(codes: Any, scodes: Any, t: float, bf: BlockFormat, layout: tuple[int, ...],
           dtype: np.dtype, tables: tuple[np.ndarray, np.ndarray]) -> Any:
    """Values (CuPy float32/float64) of CuPy element and scale codes, already range-checked;
    ``tables``: the exact values of every element and scale code (blocks.value_table)."""
    cp = cuda.require()
    c = cp.ascontiguousarray(codes.astype(bf.dtype))
    s = cp.ascontiguousarray(scodes.astype(cp.uint32))
    out = cp.empty(c.shape, dtype=dtype)
    if c.size:
        et, st = _tables(cp, bf, tables)
        name = decode_kernel_name(c.dtype.name, np.dtype(dtype).name)
        src = prologue_source() + decode_kernel_source(c.dtype.name, np.dtype(dtype).name)
        kernel = cuda.get_kernel(name, src, compile_options())
        cuda._launch(kernel, c.size, [c, s, out, np.uint64(c.size), *_layout_args(layout),
                                      et, st, np.float64(t)])
    return out
