"""CUDA kernel for contractions (matrix products) of float-format codes on CuPy arrays.

One thread per output element (a grid-stride loop over ``M * N`` outputs) calls
``mf::contract_one`` of csrc/include/minifloat/contract.h, the function csrc/module.cpp's
``contract`` calls for each output on the CPU: exact products, the accumulator (exact
Kulisch, a float format, binary32 or binary64), the order (sequential or blocked-pairwise),
the random-bit positions and the final projection are one definition, so a GPU product equals
the CPU's bit for bit, stochastic modes included.  The pairwise order keeps its block sums in
a per-thread array of ``mf::kContractMaxSums`` (128) states, so it needs ``K / block < 128``.

What this kernel is not: a fast one.  It reads its operands from global memory without tiling
(the CPU's register-blocked binary32 and format fast paths have no GPU counterpart yet), and
no cuBLAS path exists, because cuBLAS's summation order is not the defined one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import cuda
from .cuda import _GRID, _SPEC_FIELDS

if TYPE_CHECKING:
    from ..formats import FloatFormat

MAX_SUMS = 128  # contract.h kContractMaxSums
OUT_TYPES = dict(cuda.CODE_TYPES)


def kernel_name(out_dtype: str) -> str:
    """Name of the contraction kernel writing ``out_dtype`` (uint8/uint16) codes."""
    if out_dtype not in OUT_TYPES:
        raise ValueError(f"out_dtype must be one of {sorted(OUT_TYPES)}, got {out_dtype!r}")
    return f"mf_contract_{out_dtype}"


def prologue_source() -> str:
    """The backend's prologue with contract.h included."""
    return cuda.prologue_source(("minifloat/contract.h",))


def kernel_source(out_dtype: str) -> str:
    """CUDA C++ text of one contraction kernel.

    Signature: ``(const uint16* A, const uint16* B, int32 has_b, Out* out, uint64 size,
    int32 K, int32 N, <8 FloatSpec parameters> x 4 (fa, fb, facc, fo), int32 acc, int32 mode,
    int32 sat, int32 n, int32 flush, int32 rsrc, int32 pairwise, int32 block, int32 e0,
    int32 limbs, uint64 seed, uint64 offset, uint64 total_steps, uint32* bad)``; ``size`` =
    M * N outputs; ``has_b`` 0: row sums of A (B is not read); ``*bad`` is OR-ed with 1 when a
    NaN result has no code in fo.
    """
    name = kernel_name(out_dtype)
    out_t = OUT_TYPES[out_dtype]
    specs = ",\n    ".join(", ".join(f"int32_t {p}_{k}" for k in _SPEC_FIELDS)
                             for p in ("a", "b", "acc", "o"))
    makes = "".join(f"  c.f{q} = mf::make_float_spec("
                    + ", ".join(f"{p}_{k}" for k in _SPEC_FIELDS) + ");\n"
                    for p, q in (("a", "a"), ("b", "b"), ("acc", "acc"), ("o", "o")))
    fields = ("acc", "mode", "sat", "n", "flush", "rsrc", "pairwise", "block", "e0", "limbs",
              "seed", "offset", "total_steps")
    sets = "".join(f"  c.{f} = {f};\n" for f in fields)
    return (f'\nextern "C" __global__ void {name}(\n'
            f"    const uint16_t* A, const uint16_t* B, int32_t has_b, {out_t}* out,\n"
            "    uint64_t size, int32_t K, int32_t N,\n"
            f"    {specs},\n"
            "    int32_t acc, int32_t mode, int32_t sat, int32_t n, int32_t flush, int32_t rsrc,\n"
            "    int32_t pairwise, int32_t block, int32_t e0, int32_t limbs, uint64_t seed,\n"
            "    uint64_t offset, uint64_t total_steps, uint32_t* bad) {\n"
            "  mf::ContractSpec c;\n"
            "  c.K = K;\n  c.N = N;\n" + makes + sets +
            "  const mf::Plan out_plan = mf::make_plan(c.fo, mode, sat, flush);\n"
            "  mf::Exact xs[mf::kContractMaxSums];\n"
            "  double ds[mf::kContractMaxSums];\n"
            + _GRID +
            "  uint32_t flag = 0;\n"
            "  for (uint64_t o = start; o < size; o += stride) {\n"
            "    const uint32_t code = mf::contract_one(c, out_plan, A, has_b ? B : nullptr, o,"
            " xs, ds);\n"
            "    flag |= uint32_t(code == mf::NO_CODE);\n"
            f"    out[o] = static_cast<{out_t}>(code);\n"
            "  }\n"
            "  if (flag) atomicOr(bad, 1u);\n"
            "}\n")


def kernel_sources() -> list[tuple[str, str, tuple[str, ...]]]:
    """(kernel name, complete source, NVRTC options) of both contraction kernels."""
    return [(kernel_name(d), prologue_source() + kernel_source(d), cuda.compile_options())
            for d in OUT_TYPES]


def contract(a: Any, fa: FloatFormat, b: Any, fb: FloatFormat, fo: FloatFormat, kind: int,
             facc: FloatFormat, p: Any, pairwise: bool, block: int, e0: int,
             limbs: int) -> Any:
    """Codes (CuPy, ``fo.dtype``) of ``a @ b`` for CuPy code arrays a (M x K) and b (K x N),
    or of the row sums of a when b is None, with the accumulator ``kind`` (linalg's
    ACC_EXACT/FORMAT/FLOAT32/FLOAT64; ``facc`` the format of ACC_FORMAT) and the resolved
    projection ``p`` (a ``codec.Projection``; rsrc 0 or 1); ``e0``/``limbs`` the Kulisch
    window (linalg.contract2d).

    Raises:
        ValueError: the pairwise order needs more than 128 block sums, or a NaN result has no
            code in ``fo``.
    """
    cp = cuda.require()
    M, K = (int(v) for v in a.shape)
    N = 1 if b is None else int(b.shape[1])
    if pairwise and K // block + 1 > MAX_SUMS:
        raise ValueError(f"order='pairwise' on the GPU keeps at most {MAX_SUMS} block sums: "
                         f"K={K} needs block >= {K // (MAX_SUMS - 1) + 1} (got block={block})")
    a16 = cp.ascontiguousarray(a.astype(cp.uint16))
    b16 = a16 if b is None else cp.ascontiguousarray(b.astype(cp.uint16))
    out = cp.empty((M, N), dtype=fo.dtype)
    bad = cp.zeros(1, dtype=cp.uint32)
    name = kernel_name(np.dtype(fo.dtype).name)
    kernel = cuda.get_kernel(name, prologue_source() + kernel_source(np.dtype(fo.dtype).name))
    specs = [np.int32(v) for f in (fa, fb, facc, fo) for v in f.spec]
    i32, u64 = np.int32, np.uint64
    cuda._launch(kernel, M * N, [a16, b16, i32(b is not None), out, u64(M * N), i32(K), i32(N),
                                 *specs, i32(kind), i32(p.mode), i32(p.sat), i32(p.nbits),
                                 i32(int(p.flush)), i32(p.rsrc), i32(int(pairwise)),
                                 i32(block), i32(e0), i32(limbs), u64(p.seed), u64(p.offset),
                                 u64(M * N * max(K, 1)), bad])
    if int(bad.get()[0]):
        raise ValueError(f"a NaN result has no code in {fo} (it has no NaN)")
    return out
