"""The CUDA backend: the header core compiled by NVRTC through CuPy (``minifloat[gpu]`` extra).

The kernels are not copies of the algorithms: :func:`encode_source`, :func:`decode_source` and
:func:`arith_source` assemble short CUDA C++ files that ``#include`` the installed headers
(:func:`minifloat.get_include`, :func:`.include_dir`) and call the same functions as csrc/module.cpp
(``mf::project``, ``mf::parts_of*``, ``mf::philox_word``, ``mf::decode_double``,
``mf::exact_of_code``, ``mf::exact_op``), so a GPU result is bit-identical to the CPU one,
stochastic modes included: element ``i`` of a call uses Philox stream position ``offset + i``
whatever the launch geometry (docs/semantics.md §4).

Kernels are grid-stride loops with 64-bit indices.  The format, saturation, random-bit count,
seed and offset are kernel arguments, so one compiled kernel per (input dtype, code dtype,
rounding mode) serves every format for encode, and one per (operation, rounding mode) every
format combination and code dtype for :func:`elementwise`; compiled modules are cached per
(kernel name, source hash).

CuPy is imported lazily: importing :mod:`minifloat` (or this module) never imports it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from . import include_dir as _include_dir

if TYPE_CHECKING:
    from ..formats import FloatFormat

INSTALL_HINT = "pip install minifloat[gpu]"
THREADS_PER_BLOCK = 256
# Blocks per launch: enough to fill any current GPU; larger arrays are covered by the
# grid-stride loop.
MAX_BLOCKS = 65536

# Rounding-mode numbers of project.h (enum Rounding); modes >= STOCHASTIC_A use random bits.
NUM_ROUNDINGS = 11
STOCHASTIC_A = 7

# NumPy dtype name -> C++ type of the kernels' input / output arrays.
INPUT_TYPES = {"float32": "float", "float64": "double", "int64": "int64_t", "uint64": "uint64_t"}
CODE_TYPES = {"uint8": "uint8_t", "uint16": "uint16_t"}
VALUE_TYPES = {"float32": "float", "float64": "double"}

# Elementwise operations: name (as in minifloat.ops.OPS) -> arith.h ArithOp number, and arity.
ARITH_OPS = {"add": 0, "subtract": 1, "multiply": 2, "divide": 3, "fma": 4, "sqrt": 5,
             "negative": 6, "absolute": 7, "positive": 8}
ARITH_ARITY = {"add": 2, "subtract": 2, "multiply": 2, "divide": 2, "fma": 3, "sqrt": 1,
               "negative": 1, "absolute": 1, "positive": 1}
# arith.h ArithOp enumerator of each operation (the kernels' compile-time OP).
_ARITH_ENUM = {"add": "OP_ADD", "subtract": "OP_SUB", "multiply": "OP_MUL", "divide": "OP_DIV",
               "fma": "OP_FMA", "sqrt": "OP_SQRT", "negative": "OP_NEG", "absolute": "OP_ABS",
               "positive": "OP_COPY"}
# project.h Saturation numbers valid for a FloatFormat (wrap, 4, is fixed-point only).
SAT_NAN = 3
NUM_FLOAT_SATURATIONS = 4


def _cupy() -> Any:
    """The cupy module, imported on first use; ImportError naming the fix when missing."""
    try:
        return importlib.import_module("cupy")
    except ImportError as e:
        raise ImportError(f"CuPy is not installed: {INSTALL_HINT} (the GPU backend needs CuPy "
                          f"and an NVIDIA GPU); import failed with: {e}") from None


def _device_count(cp: Any) -> int:
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # CUDA driver missing or broken: no usable device
        return 0


def available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        cp = _cupy()
    except ImportError:
        return False
    return _device_count(cp) > 0


def require() -> Any:
    """The cupy module, or an error saying what is missing.

    Raises:
        ImportError: CuPy is not installed (``pip install minifloat[gpu]``).
        RuntimeError: CuPy is installed but no CUDA device is visible.
    """
    cp = _cupy()
    if _device_count(cp) == 0:
        raise RuntimeError("no CUDA device: CuPy is installed but sees no NVIDIA GPU "
                           "(check the driver and CUDA_VISIBLE_DEVICES)")
    return cp


def is_cupy_array(x: Any) -> bool:
    """True for a CuPy ndarray, decided without importing CuPy."""
    return type(x).__module__.startswith("cupy")


def array_module(x: Any) -> Any:
    """The array namespace of ``x``: the cupy module for a CuPy ndarray, else numpy (the
    selections of minifloat.ops and minifloat.linalg are written once against it)."""
    return require() if is_cupy_array(x) else np


# ---------------------------------------------------------------- kernel source assembly

_HEADERS = ("minifloat/project.h", "minifloat/project_f32.h", "minifloat/random.h",
            "minifloat/decode.h", "minifloat/arith.h")

# Shared by every kernel: input decomposition exactly as csrc/module.cpp's parts<W, kLean>().
_COMMON = r"""
namespace mfk {
template <class W, bool kLean> MF_HD mf::Parts<W> parts_in(float v) {
  return mf::parts_of_float<W, kLean>(v);
}
template <class W, bool kLean> MF_HD mf::Parts<W> parts_in(double v) { return mf::parts_of(v); }
template <class W, bool kLean> MF_HD mf::Parts<W> parts_in(int64_t v) { return mf::parts_of(v); }
template <class W, bool kLean> MF_HD mf::Parts<W> parts_in(uint64_t v) { return mf::parts_of(v); }

// One thread's share of an encode: positions start, start + stride, ... below size.
// Random bits: element i uses R = top_bits(philox_word(seed, offset + i), n) (rsrc 1) or
// rnd[i] (rsrc 2), the contract of csrc/module.cpp and docs/semantics.md section 4.
template <int MODE, class W, bool kLean, class In, class Out>
MF_HD uint32_t encode_loop(const In* x, Out* out, uint64_t size, uint64_t start,
                           uint64_t stride, const mf::FloatSpec& f, const mf::Plan& plan,
                           int32_t n, int32_t rsrc, uint64_t seed, uint64_t offset,
                           const uint32_t* rnd) {
  uint32_t acc = 0;
  for (uint64_t i = start; i < size; i += stride) {
    uint32_t R = 0;
    if (MODE >= mf::STOCHASTIC_A)
      R = rsrc == 2 ? rnd[i] : mf::top_bits(mf::philox_word(seed, offset + i), n);
    const uint32_t c = mf::project<W, kLean>(f, plan, MODE, n, parts_in<W, kLean>(x[i]), R);
    acc |= uint32_t(c == mf::NO_CODE);
    out[i] = static_cast<Out>(c);
  }
  return acc;
}

// The same for float32 input where mf::f32_path_ok holds: project_f32.h's uint32 arithmetic
// on the input's bits, the path csrc/module.cpp's encode_range_f32 takes (kAll = true: every
// plan; the CPU's plain_call specialisation gives the same codes).
template <int MODE, class Out>
MF_HD uint32_t encode_loop_f32(const float* x, Out* out, uint64_t size, uint64_t start,
                               uint64_t stride, const mf::FloatSpec& f, const mf::Plan& plan,
                               int32_t n, int32_t rsrc, uint64_t seed, uint64_t offset,
                               const uint32_t* rnd) {
  const mf::F32Consts k = mf::make_f32_consts(f);
  uint32_t acc = 0;
  for (uint64_t i = start; i < size; i += stride) {
    uint32_t R = 0;
    if (MODE >= mf::STOCHASTIC_A)
      R = rsrc == 2 ? rnd[i] : mf::top_bits(mf::philox_word(seed, offset + i), n);
    const uint32_t c = mf::project_f32<MODE, true>(f, plan, k, n, mf::bits_of(x[i]), R);
    acc |= uint32_t(c == mf::NO_CODE);
    out[i] = static_cast<Out>(c);
  }
  return acc;
}

// A value in the output type: float64 as it is; float32 rounded to nearest-even with
// subnormal results kept (mf::binary32_bits_rne: a plain cast would flush them, since CuPy
// compiles with -ftz=true), the bits NumPy's float64 -> float32 cast gives on the CPU path.
MF_HD void store_real(double* o, double v) { *o = v; }
MF_HD void store_real(float* o, double v) { *o = mf::float_of(mf::binary32_bits_rne(v)); }

// Value of a code in the output type.  NaN codes give the quiet NaN with the code's sign bit,
// as decode_double does.
template <class V> MF_HD void store_value(V* o, const mf::FloatSpec& f, uint32_t c) {
  store_real(o, mf::decode_double(f, c));
}

// Codes of an elementwise operand or result: uint16_t when `wide`, else uint8_t (a uniform
// branch, so one kernel serves every combination of code dtypes).
MF_HD uint32_t load_code(const void* p, uint32_t wide, uint64_t i) {
  return wide ? uint32_t(static_cast<const uint16_t*>(p)[i])
              : uint32_t(static_cast<const uint8_t*>(p)[i]);
}
MF_HD void store_code(void* p, uint32_t wide, uint64_t i, uint32_t c) {
  if (wide)
    static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(c);
  else
    static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(c);
}

// One thread's share of an elementwise operation: csrc/module.cpp's arith_loop element for
// element (exact_of_code -> exact_op -> project<uint64_t>, R from Philox position offset + i
// or rnd[i]).  `widths`: bit 0/1/2/3 set when a/b/c/out hold uint16_t codes.  Returns bit 0
// when a NaN result has no code in fo, bit 1/2/3 when an operand code of a/b/c is outside
// 0..2^bits-1 (that element's result is 0).
template <int OP, int MODE>
MF_HD uint32_t arith_loop(const void* a, const void* b, const void* c, void* out,
                          uint32_t widths, uint64_t size, uint64_t start, uint64_t stride,
                          const mf::FloatSpec& fa, const mf::FloatSpec& fb,
                          const mf::FloatSpec& fc, const mf::FloatSpec& fo,
                          const mf::Plan& plan, int32_t n, int32_t rsrc, uint64_t seed,
                          uint64_t offset, const uint32_t* rnd) {
  const int32_t arity = mf::op_arity(OP);
  const bool b_uzero = mf::zero_is_unsigned(fb);
  const mf::Exact none = mf::make_exact(mf::IN_ZERO, 0, 0, 0);
  uint32_t acc = 0;
  for (uint64_t i = start; i < size; i += stride) {
    const uint32_t ca = load_code(a, widths & 1u, i);
    const uint32_t cb = arity >= 2 ? load_code(b, widths & 2u, i) : 0u;
    const uint32_t cc = arity >= 3 ? load_code(c, widths & 4u, i) : 0u;
    const uint32_t range = (ca >= fa.num_codes ? 2u : 0u) |
                           (arity >= 2 && cb >= fb.num_codes ? 4u : 0u) |
                           (arity >= 3 && cc >= fc.num_codes ? 8u : 0u);
    uint32_t code = 0;
    if (range == 0) {
      const mf::Exact xa = mf::exact_of_code(fa, ca);
      const mf::Exact xb = arity >= 2 ? mf::exact_of_code(fb, cb) : none;
      const mf::Exact xc = arity >= 3 ? mf::exact_of_code(fc, cc) : none;
      const mf::Exact r = mf::exact_op(OP, xa, xb, xc, MODE, b_uzero);
      uint32_t R = 0;
      if (MODE >= mf::STOCHASTIC_A)
        R = rsrc == 2 ? rnd[i] : mf::top_bits(mf::philox_word(seed, offset + i), n);
      code = mf::project<uint64_t>(fo, plan, MODE, n, r, R);
      acc |= uint32_t(code == mf::NO_CODE);
    }
    acc |= range;
    store_code(out, widths & 8u, i, code);
  }
  return acc;
}
}  // namespace mfk
"""

_SPEC_FIELDS = ("e", "m", "bias", "is_signed", "subnormals", "infinities", "nan_layout",
                "negative_zero")
_SPEC_PARAMS = ("int32_t e, int32_t m, int32_t bias, int32_t is_signed, int32_t subnormals, "
                "int32_t infinities, int32_t nan_layout, int32_t negative_zero")
_MAKE_SPEC = ("mf::make_float_spec(e, m, bias, is_signed, subnormals, infinities, nan_layout, "
              "negative_zero)")
_GRID = ("  const uint64_t start = uint64_t(blockIdx.x) * uint64_t(blockDim.x) + threadIdx.x;\n"
         "  const uint64_t stride = uint64_t(gridDim.x) * uint64_t(blockDim.x);\n")


def headers_digest(include_dir: str | None = None) -> str:
    """SHA-256 over the header core's files: part of every kernel source, so that CuPy's
    on-disk cache (keyed by source text and options, not by included files) never serves a
    kernel built from other headers."""
    if include_dir is None:
        include_dir = _include_dir()
    folder = os.path.join(include_dir, "minifloat")
    h = hashlib.sha256()
    for fname in sorted(os.listdir(folder)):
        if fname.endswith(".h"):
            with open(os.path.join(folder, fname), "rb") as fh:
                h.update(fname.encode() + b"\0" + fh.read())
    return h.hexdigest()


def prologue_source(extra_headers: tuple[str, ...] = ()) -> str:
    """The part every kernel source starts with: the header includes (``extra_headers`` after
    the usual ones) and the shared helpers (namespace ``mfk``).  ``prologue_source() +
    encode_kernel_source(...)`` is :func:`encode_source`; several kernel texts may follow one
    prologue in a single file."""
    lines = ["// Generated by minifloat.backends.cuda from the installed header core.",
             f"// headers sha256: {headers_digest()}"]
    lines += [f'#include "{h}"' for h in (*_HEADERS, *extra_headers)]
    return "\n".join(lines) + "\n" + _COMMON


def encode_kernel_name(in_dtype: str, code_dtype: str, mode: int) -> str:
    """Name of the encode kernel for an input dtype, a code dtype and a rounding mode number."""
    _check_encode_key(in_dtype, code_dtype, mode)
    return f"mf_encode_{in_dtype}_{code_dtype}_m{mode}"


def decode_kernel_name(code_dtype: str, value_dtype: str) -> str:
    """Name of the decode kernel for a code dtype and a float32/float64 value dtype."""
    if code_dtype not in CODE_TYPES:
        raise ValueError(f"code_dtype must be one of {sorted(CODE_TYPES)}, got {code_dtype!r}")
    if value_dtype not in VALUE_TYPES:
        raise ValueError(f"value_dtype must be one of {sorted(VALUE_TYPES)}, "
                         f"got {value_dtype!r}")
    return f"mf_decode_{code_dtype}_{value_dtype}"


def arith_kernel_name(op: str, mode: int) -> str:
    """Name of the elementwise kernel for an operation (a key of :data:`ARITH_OPS`) and a
    rounding mode number."""
    _check_arith_key(op, mode)
    return f"mf_arith_{op}_m{mode}"


def _check_arith_key(op: str, mode: int) -> None:
    if op not in ARITH_OPS:
        raise ValueError(f"op must be one of {sorted(ARITH_OPS)}, got {op!r}")
    if not (isinstance(mode, int) and 0 <= mode < NUM_ROUNDINGS):
        raise ValueError(f"mode must be a rounding number 0..{NUM_ROUNDINGS - 1}, got {mode!r}")


def _check_encode_key(in_dtype: str, code_dtype: str, mode: int) -> None:
    if in_dtype not in INPUT_TYPES:
        raise ValueError(f"in_dtype must be one of {sorted(INPUT_TYPES)}, got {in_dtype!r}")
    if code_dtype not in CODE_TYPES:
        raise ValueError(f"code_dtype must be one of {sorted(CODE_TYPES)}, got {code_dtype!r}")
    if not (isinstance(mode, int) and 0 <= mode < NUM_ROUNDINGS):
        raise ValueError(f"mode must be a rounding number 0..{NUM_ROUNDINGS - 1}, got {mode!r}")


def encode_source(in_dtype: str, code_dtype: str, mode: int) -> str:
    """Complete CUDA C++ file for one encode kernel: prologue + :func:`encode_kernel_source`."""
    return prologue_source() + encode_kernel_source(in_dtype, code_dtype, mode)


def decode_source(code_dtype: str, value_dtype: str) -> str:
    """Complete CUDA C++ file for one decode kernel: prologue + :func:`decode_kernel_source`."""
    return prologue_source() + decode_kernel_source(code_dtype, value_dtype)


def arith_source(op: str, mode: int) -> str:
    """Complete CUDA C++ file for one elementwise kernel: prologue + :func:`arith_kernel_source`."""
    return prologue_source() + arith_kernel_source(op, mode)


def arith_kernel_source(op: str, mode: int) -> str:
    """CUDA C++ text of one elementwise kernel (see :func:`arith_kernel_name`).

    Signature: ``(const void* a, const void* b, const void* c, void* out, uint64 size,
    int32 widths, <8 FloatSpec parameters> x 4 (fa, fb, fc, fo), int32 sat, int32 n,
    int32 flush, int32 rsrc, uint64 seed, uint64 offset, const uint32* rnd, uint32* bad)``.
    ``widths`` bit 0/1/2/3: a/b/c/out hold uint16 codes (else uint8); operands beyond the
    operation's arity are not read.  ``*bad`` is OR-ed with bit 0 when a NaN result has no code
    in fo and bit 1/2/3 when a code of a/b/c is out of range.  The operation and the rounding
    mode are compile-time constants (``mfk::arith_loop<OP, MODE>``); everything else is an
    argument, so one compiled kernel serves every format combination.
    """
    name = arith_kernel_name(op, mode)
    specs = ",\n    ".join(", ".join(f"int32_t {p}_{k}" for k in _SPEC_FIELDS)
                             for p in "abco")
    makes = "".join(f"  const mf::FloatSpec f{p} = mf::make_float_spec("
                    + ", ".join(f"{p}_{k}" for k in _SPEC_FIELDS) + ");\n" for p in "abco")
    return (f'\nextern "C" __global__ void {name}(\n'
            "    const void* a, const void* b, const void* c, void* out, uint64_t size,\n"
            f"    int32_t widths,\n    {specs},\n"
            "    int32_t sat, int32_t n, int32_t flush, int32_t rsrc, uint64_t seed,\n"
            "    uint64_t offset, const uint32_t* rnd, uint32_t* bad) {\n"
            + makes +
            f"  const mf::Plan plan = mf::make_plan(fo, {mode}, sat, flush);\n"
            + _GRID +
            f"  const uint32_t acc = mfk::arith_loop<mf::{_ARITH_ENUM[op]}, {mode}>(\n"
            "      a, b, c, out, uint32_t(widths), size, start, stride, fa, fb, fc, fo, plan, n,\n"
            "      rsrc, seed, offset, rnd);\n"
            "  if (acc) atomicOr(bad, acc);\n"
            "}\n")


def encode_kernel_source(in_dtype: str, code_dtype: str, mode: int) -> str:
    """CUDA C++ text of one encode kernel (see :func:`encode_kernel_name` for its name).

    Signature: ``(const In* x, Out* out, uint64 size, <8 FloatSpec parameters>, int32 sat,
    int32 n, int32 flush, int32 rsrc, uint64 seed, uint64 offset, const uint32* rnd,
    uint32* bad)``; ``*bad`` is OR-ed with 1 when an element has no code.  The paths follow
    csrc/module.cpp's encode_typed: for float32 input, project_f32.h's uint32 path where
    ``mf::f32_path_ok`` holds, else 32-bit words in deterministic modes and the lean path
    when ``mf::lean_ok_float32`` holds; the generic 64-bit path for every other input.
    """
    name = encode_kernel_name(in_dtype, code_dtype, mode)
    in_t, out_t = INPUT_TYPES[in_dtype], CODE_TYPES[code_dtype]
    deterministic = mode < STOCHASTIC_A
    w_t = "uint32_t" if in_dtype == "float32" and deterministic else "uint64_t"
    loop = ("mfk::encode_loop<{mode}, {w}, {lean}, {i}, {o}>(x, out, size, start, stride, f, "
            "plan, n, rsrc, seed, offset, rnd)")
    lean_call = loop.format(mode=mode, w=w_t, lean="true", i=in_t, o=out_t)
    full_call = loop.format(mode=mode, w=w_t, lean="false", i=in_t, o=out_t)
    if in_dtype == "float32":
        f32_call = (f"mfk::encode_loop_f32<{mode}, {out_t}>(x, out, size, start, stride, f, "
                    "plan, n, rsrc, seed, offset, rnd)")
        body = (f"  const uint32_t acc = mf::f32_path_ok(f, {mode}, n) ? {f32_call}\n"
                f"                     : mf::lean_ok_float32(f, {mode}) ? {lean_call}\n"
                f"                                              : {full_call};\n")
    else:
        body = f"  const uint32_t acc = {full_call};\n"
    return (f'\nextern "C" __global__ void {name}(\n'
            f"    const {in_t}* x, {out_t}* out, uint64_t size, {_SPEC_PARAMS},\n"
            "    int32_t sat, int32_t n, int32_t flush, int32_t rsrc, uint64_t seed,\n"
            "    uint64_t offset, const uint32_t* rnd, uint32_t* bad) {\n"
            f"  const mf::FloatSpec f = {_MAKE_SPEC};\n"
            f"  const mf::Plan plan = mf::make_plan(f, {mode}, sat, flush);\n"
            + _GRID + body +
            "  if (acc) atomicOr(bad, 1u);\n"
            "}\n")


def decode_kernel_source(code_dtype: str, value_dtype: str) -> str:
    """CUDA C++ text of one decode kernel (see :func:`decode_kernel_name`).

    Signature: ``(const Code* codes, Value* out, uint64 size, <8 FloatSpec parameters>,
    uint32* bad)``; a code >= 2^bits gives NaN and sets ``*bad`` to 1 (the caller raises).
    """
    name = decode_kernel_name(code_dtype, value_dtype)
    c_t, v_t = CODE_TYPES[code_dtype], VALUE_TYPES[value_dtype]
    return (f'\nextern "C" __global__ void {name}(\n'
            f"    const {c_t}* codes, {v_t}* out, uint64_t size, {_SPEC_PARAMS},\n"
            "    uint32_t* bad) {\n"
            f"  const mf::FloatSpec f = {_MAKE_SPEC};\n"
            + _GRID +
            "  uint32_t acc = 0;\n"
            "  for (uint64_t i = start; i < size; i += stride) {\n"
            "    const uint32_t c = codes[i];\n"
            "    if (c >= f.num_codes) {\n"
            "      acc = 1u;\n"
            "      out[i] = static_cast<" + v_t + ">(mf::double_of(0x7FF8000000000000ull));\n"
            "    } else {\n"
            "      mfk::store_value(out + i, f, c);\n"
            "    }\n"
            "  }\n"
            "  if (acc) atomicOr(bad, 1u);\n"
            "}\n")


# ---------------------------------------------------------------- compile cache and launch

_MODULES: dict[tuple[str, str], Any] = {}


def compile_options(include_dir: str | None = None) -> tuple[str, ...]:
    """NVRTC options: C++17 and the header folder.  (No ``--expt-relaxed-constexpr``: that is
    an nvcc option which NVRTC 12.9 and 13.5 reject as unrecognized; every header function that
    device code calls is ``MF_HD``, constexpr ones included.)"""
    if include_dir is None:
        include_dir = _include_dir()
    return ("--std=c++17", f"-I{os.path.abspath(include_dir)}")


def kernel_keys() -> list[tuple[str, tuple[Any, ...]]]:
    """Every kernel this backend can build, as (kind, key): ``("encode", (in_dtype,
    code_dtype, mode))`` for each input dtype, code dtype and rounding mode, then
    ``("decode", (code_dtype, value_dtype))``, then ``("arith", (op, mode))`` for each
    elementwise operation of :data:`ARITH_OPS` and rounding mode.  Pure Python: needs no CuPy."""
    keys: list[tuple[str, tuple[Any, ...]]] = [
        ("encode", (i, c, m)) for i in INPUT_TYPES for c in CODE_TYPES
        for m in range(NUM_ROUNDINGS)]
    keys += [("decode", (c, v)) for c in CODE_TYPES for v in VALUE_TYPES]
    keys += [("arith", (op, m)) for op in ARITH_OPS for m in range(NUM_ROUNDINGS)]
    return keys


_KINDS = {"encode": (encode_kernel_name, encode_kernel_source),
          "decode": (decode_kernel_name, decode_kernel_source),
          "arith": (arith_kernel_name, arith_kernel_source)}


def kernel_text(kind: str, key: tuple[Any, ...]) -> tuple[str, str]:
    """(name, kernel text without the prologue) of one kernel of :func:`kernel_keys`."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    name_of, text_of = _KINDS[kind]
    return name_of(*key), text_of(*key)  # type: ignore[operator]


def kernel_sources() -> list[tuple[str, str, tuple[str, ...]]]:
    """(kernel name, complete source, NVRTC options) of every kernel of :func:`kernel_keys`:
    the texts and options :func:`encode`, :func:`decode` and :func:`elementwise` hand to
    ``cupy.RawModule`` (CuPy adds its own ``-ftz=true``, its include folders and the ``-arch``
    option).  Pure string building: needs no CuPy and no GPU, so a test can compile every
    kernel with NVRTC alone."""
    return assemble(kernel_keys(), kernel_text, prologue_source(), compile_options())


def assemble(keys: list[tuple[str, tuple[Any, ...]]], text_of: Any, prologue: str,
             options: tuple[str, ...]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, prologue + kernel text, options) for each (kind, key) of ``keys``, where
    ``text_of(kind, key)`` gives (name, kernel text): the list a ``kernel_sources`` returns."""
    out = []
    for kind, key in keys:
        name, text = text_of(kind, key)
        out.append((name, prologue + text, options))
    return out


def get_kernel(name: str, source: str, options: tuple[str, ...] | None = None) -> Any:
    """The compiled ``cupy.RawKernel`` ``name`` of ``source`` (NVRTC ``options``, default
    :func:`compile_options`), cached per (name, source hash)."""
    key = (name, hashlib.sha256(source.encode()).hexdigest())
    mod = _MODULES.get(key)
    if mod is None:
        cp = require()
        mod = cp.RawModule(code=source, options=compile_options() if options is None
                           else options)
        _MODULES[key] = mod
    return mod.get_function(name)


def _spec_args(fmt: FloatFormat) -> list[np.int32]:
    return [np.int32(v) for v in fmt.spec]


def _launch(kernel: Any, size: int, args: list[Any]) -> None:
    blocks = max(1, min(MAX_BLOCKS, -(-size // THREADS_PER_BLOCK)))
    kernel((blocks,), (THREADS_PER_BLOCK,), tuple(args))


def _as_input(x: Any, cp: Any) -> Any:
    """``x`` as a C-contiguous CuPy array of a type the kernels read exactly (the rules of
    codec.as_real_array: float16 -> float32, bool/ints -> int64, uint64 kept)."""
    dt = x.dtype
    if dt.kind == "f":
        if dt.itemsize == 2:
            x = x.astype(cp.float32)
        elif dt.itemsize != 4 and dt.itemsize != 8:
            raise TypeError(f"x has dtype {dt}, which the GPU backend does not read")
    elif dt.kind in "bi" or (dt.kind == "u" and dt.itemsize < 8):
        x = x.astype(cp.int64)
    elif dt.kind != "u":
        raise TypeError(f"x must hold real numbers (float, int or bool); got dtype {dt}")
    return x if x.flags.c_contiguous else x.copy(order="C")


def encode(x: Any, fmt: FloatFormat, mode: int, sat: int, nbits: int, flush: bool, rsrc: int,
           seed: int, offset: int, random: np.ndarray | None) -> Any:
    """Project the CuPy array ``x`` into ``fmt``; returns the CuPy array of codes.

    Raises:
        ValueError: some element has no code (NaN into a format without NaN).
    """
    cp = require()
    a = _as_input(x, cp)
    code_dtype = np.dtype(fmt.dtype).name
    name = encode_kernel_name(a.dtype.name, code_dtype, mode)
    kernel = get_kernel(name, encode_source(a.dtype.name, code_dtype, mode))
    out = cp.empty(a.shape, dtype=fmt.dtype)
    bad = cp.zeros(1, dtype=cp.uint32)
    rnd = cp.asarray(random, dtype=cp.uint32) if rsrc == 2 and random is not None else bad
    if a.size:
        _launch(kernel, a.size, [a, out, np.uint64(a.size), *_spec_args(fmt), np.int32(sat),
                                 np.int32(nbits), np.int32(int(flush)), np.int32(rsrc),
                                 np.uint64(seed), np.uint64(offset), rnd, bad])
        if int(bad.get()[0]):
            raise ValueError(f"x contains NaN, but {fmt} has no NaN code; replace NaNs first "
                             "(e.g. cupy.nan_to_num)")
    return out


def decode(codes: Any, fmt: FloatFormat, dtype: np.dtype) -> Any:
    """Exact values of the CuPy array ``codes`` (uint8/uint16 of ``fmt``) as float32/float64.

    Raises:
        ValueError: a code is outside 0..2**bits-1.
    """
    cp = require()
    c = codes if codes.flags.c_contiguous else codes.copy(order="C")
    name = decode_kernel_name(c.dtype.name, dtype.name)
    kernel = get_kernel(name, decode_source(c.dtype.name, dtype.name))
    out = cp.empty(c.shape, dtype=dtype)
    bad = cp.zeros(1, dtype=cp.uint32)
    if c.size:
        _launch(kernel, c.size, [c, out, np.uint64(c.size), *_spec_args(fmt), bad])
        if int(bad.get()[0]):
            raise ValueError(f"codes must be in 0..{fmt.num_codes - 1} for {fmt}")
    return out


def _check_operand(name: str, x: Any, fmt: Any) -> tuple[Any, FloatFormat]:
    """(``x``, ``fmt``) checked: a CuPy array of uint8/uint16 codes and a FloatFormat;
    TypeError naming the parameter otherwise."""
    from ..formats import FloatFormat

    if not is_cupy_array(x):
        raise TypeError(f"{name} must be a CuPy array of codes, got {type(x).__name__}")
    if x.dtype.name not in CODE_TYPES:
        raise TypeError(f"{name} must hold uint8 or uint16 codes, got dtype {x.dtype}")
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"f{name} must be a FloatFormat (the GPU backend has no fixed-point or "
                        f"LNS kernels), got {fmt!r}")
    return x, fmt


def _as_int(v: Any) -> Any:
    """A NumPy integer as a Python int (bools and everything else unchanged, for the checks)."""
    return int(v) if isinstance(v, np.integer) else v


def _random_operand(random: Any, shape: tuple[int, ...], nbits: int, cp: Any) -> Any:
    """The explicit random bits as a C-contiguous CuPy uint32 array of ``shape``."""
    if random is None:
        raise ValueError("random must be given when rsrc is 2 (explicit random bits)")
    r = random if is_cupy_array(random) else cp.asarray(np.asarray(random))
    if r.dtype.kind not in "iu":
        raise TypeError(f"random must be an integer array, got dtype {r.dtype}")
    try:
        r = cp.broadcast_to(r, shape)
    except ValueError:
        raise ValueError(f"random has shape {tuple(r.shape)}, which does not broadcast to the "
                         f"result's shape {shape}") from None
    if r.size and (int(r.min()) < 0 or int(r.max()) >= 1 << nbits):
        raise ValueError(f"random values must be in 0..2**{nbits}-1 (nbits={nbits})")
    return cp.ascontiguousarray(r.astype(cp.uint32))


def elementwise(op: str, a: Any, fa: FloatFormat, b: Any, fb: FloatFormat | None, c: Any,
                fc: FloatFormat | None, fo: FloatFormat, mode: int, sat: int, nbits: int,
                flush: bool, rsrc: int, seed: int, offset: int, random: Any) -> Any:
    """Correctly rounded elementwise ``op`` on CuPy code arrays; returns the CuPy codes in ``fo``.

    ``op`` is a key of :data:`ARITH_OPS` (``"add"``, ``"subtract"``, ``"multiply"``,
    ``"divide"``, ``"fma"``, ``"sqrt"``, ``"negative"``, ``"absolute"``, ``"positive"``: the
    names of minifloat.ops); ``a``/``b``/``c`` are uint8 or uint16 codes of ``fa``/``fb``/``fc``
    (``b, fb`` and ``c, fc`` are None beyond the operation's arity), broadcast together; the
    formats may differ from each other and from ``fo``.  ``mode, sat, nbits, flush, rsrc,
    seed, offset, random`` are the resolved projection settings of ``codec.resolve_projection``
    (rsrc 1: element ``i`` uses Philox position ``offset + i``; rsrc 2: ``random`` holds the
    explicit N-bit integers, NumPy or CuPy, broadcastable to the result).  The result equals
    the CPU's ``minifloat.ops`` result bit for bit (csrc/module.cpp's arith_loop).

    Raises:
        TypeError: an operand is not a CuPy uint8/uint16 array, or a format not a FloatFormat.
        ValueError: bad op/mode/sat/nbits/rsrc/seed/offset/random, an operand code out of range
            for its format, or a NaN result with no code in ``fo``.
    """
    from ..formats import FloatFormat

    cp = require()
    if op not in ARITH_OPS:
        raise ValueError(f"op must be one of {sorted(ARITH_OPS)}, got {op!r}")
    arity = ARITH_ARITY[op]
    operands = [("a", a, fa), ("b", b, fb), ("c", c, fc)]
    for name, x, f in operands[arity:]:
        if x is not None or f is not None:
            raise ValueError(f"{op} takes {arity} operand(s): {name} and f{name} must be None")
    checked = [_check_operand(name, x, f) for name, x, f in operands[:arity]]
    arrays = [x for x, _ in checked]
    fmts = [f for _, f in checked]
    if not isinstance(fo, FloatFormat):
        raise TypeError(f"fo must be a FloatFormat, got {fo!r}")
    mode, sat, nbits, rsrc = (_as_int(v) for v in (mode, sat, nbits, rsrc))
    if not (type(mode) is int and 0 <= mode < NUM_ROUNDINGS):
        raise ValueError(f"mode must be a rounding number 0..{NUM_ROUNDINGS - 1}, got {mode!r}")
    if not (type(sat) is int and 0 <= sat < NUM_FLOAT_SATURATIONS):
        raise ValueError(f"sat must be a saturation number 0..{NUM_FLOAT_SATURATIONS - 1} "
                         f"(none, finite, propagate, nan), got {sat!r}")
    if sat == SAT_NAN and not fo.has_nan:
        raise ValueError(f"sat=3 (nan) needs a result format with a NaN code; {fo} has none")
    stochastic = mode >= STOCHASTIC_A
    if stochastic:
        if not (type(nbits) is int and 1 <= nbits <= 32):
            raise ValueError(f"nbits must be 1..32 for a stochastic mode, got {nbits!r}")
        if type(rsrc) is not int or rsrc not in (1, 2):
            raise ValueError(f"rsrc must be 1 (Philox) or 2 (explicit random) for a stochastic "
                             f"mode, got {rsrc!r}")
    elif nbits != 0 or rsrc != 0:
        raise ValueError(f"nbits and rsrc must be 0 for deterministic mode {mode}, got "
                         f"nbits={nbits!r}, rsrc={rsrc!r}")
    for pname, v in (("seed", seed), ("offset", offset)):
        if not (type(_as_int(v)) is int and 0 <= int(v) < 1 << 64):
            raise ValueError(f"{pname} must be an integer in 0..2**64-1, got {v!r}")
    if rsrc != 2 and random is not None:
        raise ValueError("random is only read when rsrc is 2")
    arrays = [cp.ascontiguousarray(x) for x in cp.broadcast_arrays(*arrays)]
    shape = tuple(arrays[0].shape)
    size = int(np.prod(shape, dtype=np.int64))
    out = cp.empty(shape, dtype=fo.dtype)
    bad = cp.zeros(1, dtype=cp.uint32)
    rnd = _random_operand(random, shape, nbits, cp) if rsrc == 2 else bad
    if size == 0:
        return out
    name = arith_kernel_name(op, mode)
    kernel = get_kernel(name, arith_source(op, mode))
    while len(arrays) < 3:  # operands beyond the arity are not read: any valid pointer
        arrays.append(arrays[0])
        fmts.append(fmts[0])
    widths = sum(1 << k for k, x in enumerate([*arrays, out]) if x.dtype.itemsize == 2)
    _launch(kernel, size, [*arrays, out, np.uint64(size), np.int32(widths),
                           *[v for f in (*fmts, fo) for v in _spec_args(f)], np.int32(sat),
                           np.int32(nbits), np.int32(int(flush)), np.int32(rsrc),
                           np.uint64(seed), np.uint64(offset), rnd, bad])
    flags = int(bad.get()[0])
    for bit, (pname, _, _) in zip((2, 4, 8), operands):
        if flags & bit:
            f = fmts["abc".index(pname)]
            raise ValueError(f"{pname} must hold codes in 0..{f.num_codes - 1} for {f}")
    if flags & 1:
        raise ValueError(f"{op}: a NaN result has no code in {fo} (it has no NaN)")
    return out
