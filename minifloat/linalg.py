"""Sums, dot products, matrix products and convolution with explicit accumulation.

For ``C[i, j] = sum_k A[i, k] B[k, j]`` every product is exact, and the sum is formed by the
accumulator (``accumulator=`` or ``mf.config(accumulator=...)``):

- ``"float32"``: IEEE binary32, round-to-nearest-even after every addition (fp32-accumulating
  hardware); ``"float64"``: likewise in binary64.
- ``"exact"``: a long fixed-point (Kulisch) accumulator, so the result is rounded only once.
- a format (``FloatFormat`` or name): each addition is rounded into that format with the
  projection settings of the call (rounding, saturation; stochastic bits at stream position
  ``offset + o*K + t`` for step t of output element o).
- ``"float32_blas"``: NumPy/BLAS float32 matmul of the decoded values: fast, summation order
  unspecified (not bit-reproducible across BLAS builds); only for formats whose values and
  products are float32-exact.

``order="sequential"`` adds k = 0, 1, 2, ...; ``order="pairwise"`` adds sequentially inside
blocks of ``block`` terms and then combines the block sums as a balanced binary tree. The sum
is finally projected into the output format (``out_format=``, default the operands' format).
"""

from __future__ import annotations

import builtins
import math
from typing import Any, cast

import numpy as np

from . import _core
from .arith import lns as _lns
from .arith import number_system
from .array import FUNCTIONS, HANDLERS, MiniArray, asarray, from_codes, host_only, same_device
from .backends import cpu, cuda, cuda_linalg
from .block_array import BlockArray
from .blocks import BlockCodes, check_codes, value_table
from .codec import Projection, decode, encode, encode_resolved, resolve_projection
from .formats import BlockFormat, FloatFormat, FormatLike, format
from .formats.lns_add import LinearBins
from .ops import divide, maximum, minimum, same_value
from .rounding import current

ACC_EXACT, ACC_FORMAT, ACC_FLOAT32, ACC_FLOAT64 = 0, 1, 2, 3
ACC_LINEAR_BINS = 4  # LNS products binned by log fraction (minifloat.lns.LinearBins)
_PROJ = ("rounding", "saturation", "random_bits", "seed", "offset", "flush_subnormals")


def _low(f: FloatFormat) -> int:
    """Exponent of the smallest LSB of the format's values."""
    return f.minexp - f.man_bits


def _accumulator(acc: Any) -> tuple[int, FloatFormat | None, str]:
    if acc is None:
        acc = current().accumulator
    if isinstance(acc, str) and acc in ("float32", "float64", "exact", "float32_blas"):
        kind = {"float32": ACC_FLOAT32, "float64": ACC_FLOAT64, "exact": ACC_EXACT,
                "float32_blas": -1}[acc]
        return kind, None, acc
    if acc == "linear_bins" or isinstance(acc, LinearBins):  # LNS only
        return ACC_LINEAR_BINS, cast(Any, acc if isinstance(acc, LinearBins)
                                     else LinearBins()), "linear_bins"
    try:
        f = format(acc)
    except (ValueError, TypeError):
        raise ValueError(f"accumulator={acc!r}; allowed: 'float32', 'float64', 'exact', "
                         "'float32_blas' or a format") from None
    return ACC_FORMAT, f, str(f)


def _products_fit(fa: FloatFormat, fb: FloatFormat | None, man: int, low: int, top: int) -> bool:
    """Whether every product (or value, fb None) is exact in a float with ``man`` fraction bits
    and LSB/overflow exponents ``low``/``top``."""
    if fb is None:
        return fa.man_bits <= man and _low(fa) >= low and fa.maxexp <= top
    return (fa.man_bits + fb.man_bits + 1 <= man and _low(fa) + _low(fb) >= low
            and fa.maxexp + fb.maxexp <= top)


def contract2d(a: np.ndarray, fa: FloatFormat, b: np.ndarray | None, fb: FloatFormat | None,
               fo: FloatFormat, *, accumulator: Any = None, order: str | None = None,
               block: int | None = None, lns_add: Any = None, **projection: Any) -> np.ndarray:
    """Codes of ``a @ b`` ((M,K) @ (K,N) -> (M,N)) or, with b None, of the row sums of a
    ((M,K) -> (M,1)), accumulated as the module docstring says (``lns_add=``: the addition
    algorithm of an LNS accumulator for this call, see minifloat.lns)."""
    ctx = current()
    order = ctx.order if order is None else order
    block = ctx.block if block is None else block
    if order not in ("sequential", "pairwise"):
        raise ValueError(f"order={order!r}; allowed: 'sequential', 'pairwise'")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block={block!r}; allowed: an int >= 1")
    kind, facc, acc_name = _accumulator(accumulator)
    if lns_add is not None:
        lns_add = _lns.call_lns_add(lns_add, [fa, fb or fa, fo, facc or fo])
    M, K = a.shape
    N = 1 if b is None else b.shape[1]
    gpu = cuda.is_cupy_array(a)  # CuPy codes: the generic kernel of contract.h on the GPU
    if K == 0:  # an empty sum is exactly +0 (as NumPy), projected into the output format
        zeros = cuda.require().zeros((M, N), dtype=np.float64) if gpu else np.zeros((M, N))
        return encode(zeros, fo, **projection)
    if not all(isinstance(f, FloatFormat) for f in (fa, fb or fa, fo, facc or fo)):
        if gpu:
            raise TypeError("matmul of fixed-point or LNS MiniArrays has no GPU kernel yet; "
                            "move the operands with .get() first")
        alg = {} if lns_add is None else {"algorithm": lns_add}  # fixed point, LNS
        return number_system([fa, fb or fa, fo, facc or fo]).contract(
            a, fa, b, fb, fo, kind, facc, order, block, projection, **alg)
    if gpu and kind == -1:
        raise ValueError("accumulator='float32_blas' has no GPU path (cuBLAS's summation order "
                         "is not a defined one); use accumulator='float32'")
    if not gpu and (kind == -1 or (kind == ACC_FLOAT32 and order == "sequential" and
                                   _products_fit(fa, fb, 23, -149, 128))):
        return _float32_path(a, fa, b, fb, fo, kind == -1, acc_name, projection)
    if (not gpu and kind == ACC_FORMAT and facc is not None and order == "sequential" and K > 0
            and _products_fit(fa, fb, 52, -1074, 1024)):
        fast = _format_path(a, fa, b, fb, facc, fo, projection)
        if fast is not None:
            return fast
    if kind == ACC_FLOAT64 and not _products_fit(fa, fb if b is not None else None, 52, -1074,
                                                  1024):
        raise ValueError(f"accumulator='float64' needs products exact in float64; those of "
                         f"{fa} and {fb} are not; use 'exact' or a format")
    p = resolve_projection(fo, (M * N * (K + 1),), **projection)
    if p.rsrc == 2:
        raise ValueError("random= is not supported for contractions; use seed=")
    low = _low(fa) + (_low(fb) if fb is not None and b is not None else 0)
    top = fa.maxexp + (fb.maxexp if fb is not None and b is not None else 0)
    limbs = (top - low + 64 + 2 + 63) // 64 + 1
    if gpu:
        return cuda_linalg.contract(a, fa, b, fb or fa, fo, kind, facc or fo, p,
                                    order == "pairwise", block, low, limbs)
    out = np.empty((M, N), dtype=fo.dtype)
    a16 = np.ascontiguousarray(a, dtype=np.uint16)
    b16 = None if b is None else np.ascontiguousarray(b, dtype=np.uint16)
    fspec = (facc or fo).spec
    ok = _core.contract(a16, fa.spec, b16, (fb or fa).spec, M, K, N, kind, fspec, fo.spec,
                        p.mode, p.sat, p.nbits, int(p.flush), int(order == "pairwise"), block,
                        p.rsrc, p.seed, p.offset, low, limbs, out)
    if not ok:
        raise ValueError(f"a NaN result has no code in {fo} (it has no NaN)")
    return out


def _float32_path(a: np.ndarray, fa: FloatFormat, b: np.ndarray | None,
                  fb: FloatFormat | None, fo: FloatFormat, blas: bool, acc_name: str,
                  projection: dict[str, Any]) -> np.ndarray:
    """Sequential binary32 accumulation by a register-blocked C++ kernel (every product is
    float32-exact, checked by the caller, so each fused multiply-add rounds exactly once per
    step: the same bits as the generic accumulator); or BLAS for "float32_blas"."""
    if not _products_fit(fa, fb, 23, -149, 128) if blas else False:
        raise ValueError(f"accumulator='float32_blas' needs float32-exact products of {fa}, {fb}")
    if not blas and b is not None and fb is not None and a.ndim == 2 and b.ndim == 2:
        # One C++ call: decode, pack, multiply, encode (same bits as the steps below).
        for c, f in ((a, fa), (b, fb)):  # every code valid unless the dtype has more
            if f.num_codes < 1 << (8 * c.dtype.itemsize) and c.size and c.max() >= f.num_codes:
                raise ValueError(f"codes must be in 0..{f.num_codes - 1} for {f}")
        p = _final_rounding(resolve_projection(fo, (a.shape[0], b.shape[1]), **projection),
                            a.shape[0] * b.shape[1] * a.shape[1])
        out = np.empty((a.shape[0], b.shape[1]), dtype=fo.dtype)
        ok = cpu.matmul_f32_codes(np.ascontiguousarray(a), fa, np.ascontiguousarray(b), fb, fo,
                                  p.mode, p.sat, p.nbits, p.flush, p.rsrc, p.seed, p.offset, out)
        if not ok:
            raise ValueError(f"x contains NaN, but {fo} has no NaN code; replace NaNs first "
                             "(e.g. np.nan_to_num)")
        return out
    va = decode(a, fa, np.float32)
    vb = decode(b, fb, np.float32) if b is not None and fb is not None else None
    if blas:
        s = va @ vb if vb is not None else va.sum(axis=1, keepdims=True)
        s[np.isnan(s)] = np.nan  # arithmetic NaNs are the canonical +NaN (arith.h)
    else:  # the kernel writes NaNs as the canonical +NaN itself
        M, K = a.shape
        if vb is None:  # a sum is a product with a column of ones (exact products)
            vb = np.ones((K, 1), dtype=np.float32)
        s = np.empty((M, vb.shape[1]), dtype=np.float32)
        _core.matmul_f32_seq(np.ascontiguousarray(va), np.ascontiguousarray(vb), s, M, K,
                             vb.shape[1])
    del acc_name
    p = _final_rounding(resolve_projection(fo, s.shape, **projection), s.size * a.shape[1])
    out = np.empty(s.shape, dtype=fo.dtype)
    if not encode_resolved(s, fo, p, out):
        raise ValueError(f"a NaN result has no code in {fo} (it has no NaN)")
    return out


def _final_rounding(p: Projection, steps: int) -> Projection:
    """The projection of a contraction's outputs: seeded stochastic bits at stream positions
    ``offset + M*N*K + o`` for output o (after the K positions per output that the additions of
    a stochastic accumulator may read), as csrc/include/minifloat/contract.h defines, whichever
    kernel computed the sums."""
    if p.rsrc != 1:
        return p
    return p._replace(offset=(p.offset + steps) % (1 << 64))


def _format_path(a: np.ndarray, fa: FloatFormat, b: np.ndarray | None, fb: FloatFormat | None,
                 facc: FloatFormat, fo: FloatFormat, projection: dict[str, Any],
                 ) -> np.ndarray | None:
    """Sequential accumulation in ``facc``, vectorised over output columns (same bits as the
    generic path; deterministic modes only): through round-to-odd binary32 sums when every
    operand value and product is exact in binary32 and ``facc`` fits it (<= 22 significand
    bits, binary32's range), else through round-to-odd binary64 sums (csrc accumulate.h)."""
    p = resolve_projection(facc, (0,), **{k: v for k, v in projection.items()
                                          if k not in ("seed", "offset", "random")})
    if p.nbits:
        return None
    M, K = a.shape
    va = np.ascontiguousarray(decode(a, fa))
    vb = (np.ascontiguousarray(decode(b, fb)) if b is not None and fb is not None
          else np.ones((K, 1)))
    s = np.empty((M, vb.shape[1]))
    if not _core.accumulate_format_seq(va, vb, facc.spec, cpu.value_table(facc), p.mode, p.sat,
                                       int(p.flush), M, K, vb.shape[1], s):
        raise ValueError(f"a NaN sum has no code in the accumulator format {facc}")
    return encode(s, fo, **projection)


def _out_format(fmts: list[FloatFormat], out_format: FormatLike | None) -> FloatFormat:
    if out_format is None:
        out_format = current().out_format
    if out_format is not None:
        return format(out_format)
    distinct = list(dict.fromkeys(fmts))
    if len(distinct) > 1:
        raise ValueError(f"operands have different formats ({distinct[0]} and {distinct[1]}); "
                         "give out_format=")
    return distinct[0]


def _split_kw(kw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    acc: dict[str, Any] = {k: kw.pop(k) for k in ("accumulator", "order", "block", "lns_add")
                           if k in kw}
    proj = {k: kw.pop(k) for k in _PROJ if k in kw}
    if kw:
        raise TypeError(f"unexpected keyword(s) {sorted(kw)}")
    return acc, proj


def _mini(x: Any, like: MiniArray | None = None) -> MiniArray:
    if isinstance(x, MiniArray):
        return x
    if like is None:
        raise TypeError("expected a MiniArray")
    return asarray(x, like.format)


def sum(a: MiniArray, axis: Any = None, *, out_format: FormatLike | None = None,  # noqa: A001
        keepdims: bool = False, dtype: Any = None, out: Any = None, **kw: Any) -> MiniArray:
    """Sum along ``axis`` (all axes for None) with explicit accumulation (module docstring)."""
    if dtype is not None or out is not None:
        raise TypeError("sum: dtype= and out= are not supported on MiniArray")
    a = _mini(a)
    acc, proj = _split_kw(kw)
    fo = _out_format([a.format], out_format)
    axes = tuple(range(a.ndim)) if axis is None else \
        tuple(_normalize_axes(axis, a.ndim))
    keep = [d for d in range(a.ndim) if d not in axes]
    moved = np.transpose(a.codes, keep + list(axes))
    outer = tuple(a.shape[d] for d in keep)
    M = int(np.prod(outer, dtype=np.int64))
    K = int(np.prod([a.shape[d] for d in axes], dtype=np.int64))
    codes = contract2d(moved.reshape(M, K), a.format, None, None, fo, **acc, **proj)
    res = codes.reshape(outer)
    if keepdims:
        res = res.reshape([1 if d in axes else a.shape[d] for d in range(a.ndim)])
    return from_codes(res, fo)


def mean(a: MiniArray, axis: Any = None, *, out_format: FormatLike | None = None,
         keepdims: bool = False, dtype: Any = None, out: Any = None, **kw: Any) -> MiniArray:
    """sum(a) rounded into the output format, then divided by the count (a second rounding)."""
    s = sum(a, axis, out_format=out_format, keepdims=keepdims, dtype=dtype, out=out, **kw)
    count = a.size // builtins.max(s.size, 1) if a.size else 0
    proj = {k: v for k, v in kw.items() if k in _PROJ}
    n = asarray(np.full(s.shape, float(count)), s.format, **proj)
    return divide(s, n if s.device == "cpu" else n.to_device(s.device), **proj)


def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Axes as non-negative ints (NumPy's rules: AxisError for out-of-range, ValueError for
    repeats)."""
    try:
        from numpy.lib.array_utils import normalize_axis_tuple  # NumPy >= 2.0
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.numeric import normalize_axis_tuple  # type: ignore[no-redef]
    return tuple(normalize_axis_tuple(axis, ndim))


def extreme(a: MiniArray, which: str, axis: Any = None, keepdims: bool = False) -> MiniArray:
    """max/min along axis: an exact selection (NaN propagates), on the array's device."""
    xp = cuda.array_module(a.codes)  # numpy, or cupy for a MiniArray on a GPU
    v = xp.asarray(decode(a.codes, a.format), dtype=np.float64)
    fn = xp.max if which == "maximum" else xp.min
    m = fn(v, axis=axis, keepdims=True)
    # The code of the first element equal to the extreme (bit for bit, or NaN): a selection,
    # never a re-rounding (LNS values are not exact doubles).
    if axis is None:
        flat = same_value(v.ravel(), xp.broadcast_to(m.ravel(), (v.size,)))
        first = int(xp.argmax(flat))
        res = a.codes.ravel()[first:first + 1].reshape(m.shape)  # a slice stays on the device
    else:
        ax = _normalize_axes(axis, a.ndim)
        if len(ax) != 1:
            raise TypeError("max/min on MiniArray: axis must be None or one axis")
        hit = same_value(v, xp.broadcast_to(m, v.shape))
        idx = xp.expand_dims(xp.argmax(hit, axis=ax[0]), ax[0])
        res = xp.take_along_axis(a.codes, idx, axis=ax[0])
    return from_codes(res if keepdims else res.reshape(xp.squeeze(m, axis=axis).shape),
                      a.format)


def matmul(a: Any, b: Any, *, out_format: FormatLike | None = None, out: Any = None,
           **kw: Any) -> MiniArray:
    """Matrix product with NumPy's shape rules (1-D promotion, batch broadcasting); two
    2-D :class:`BlockCodes` go to :func:`block_matmul` (MX dot-product semantics)."""
    if out is not None:
        raise TypeError("matmul: out= is not supported on MiniArray")
    if isinstance(a, (BlockCodes, BlockArray)) or isinstance(b, (BlockCodes, BlockArray)):
        return block_matmul(a, b, out_format=out_format, **kw)
    a = _mini(a, b if isinstance(b, MiniArray) else None)
    b = _mini(b, a)
    acc, proj = _split_kw(kw)
    fo = _out_format([a.format, b.format], out_format)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions")
    same_device([a, b], "matmul")
    xp = cuda.array_module(a.codes)  # numpy, or cupy for operands on a GPU
    ac = a.codes[None, :] if a.ndim == 1 else a.codes
    bc = b.codes[:, None] if b.ndim == 1 else b.codes
    if ac.shape[-1] != bc.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({ac.shape[-1]} != {bc.shape[-2]})")
    batch = np.broadcast_shapes(ac.shape[:-2], bc.shape[:-2])
    M, K, N = ac.shape[-2], ac.shape[-1], bc.shape[-1]
    if ac.ndim == 2 and bc.ndim == 2:
        codes = contract2d(ac, a.format, bc, b.format, fo, **acc, **proj)
    elif bc.ndim == 2:  # one right operand: stack the left batch into rows
        rows = math.prod(batch) * M
        codes = contract2d(xp.broadcast_to(ac, batch + (M, K)).reshape(rows, K), a.format, bc,
                           b.format, fo, **acc, **proj).reshape(batch + (M, N))
    else:
        A = xp.broadcast_to(ac, batch + (M, K)).reshape(math.prod(batch), M, K)
        B = xp.broadcast_to(bc, batch + (K, N)).reshape(math.prod(batch), K, N)
        codes = xp.empty(batch + (M, N), dtype=fo.dtype)
        flat = codes.reshape(A.shape[0], M, N)
        for i in range(A.shape[0]):
            flat[i] = contract2d(A[i], a.format, B[i], b.format, fo, **acc, **proj)
    if a.ndim == 1:
        codes = codes[..., 0, :]
    if b.ndim == 1:
        codes = codes[..., 0]
    return from_codes(codes, fo)


def dot(a: Any, b: Any, *, out_format: FormatLike | None = None, **kw: Any) -> MiniArray:
    """np.dot semantics for 1-D and 2-D operands (sum of products, explicit accumulation)."""
    a = _mini(a, b if isinstance(b, MiniArray) else None)
    b = _mini(b, a)
    if a.ndim > 2 or b.ndim > 2:
        host_only("dot of operands above 2-D", a, b)
        return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 2 if b.ndim > 1 else 0]),
                         out_format=out_format, **kw)
    return matmul(a, b, out_format=out_format, **kw)


def tensordot(a: Any, b: Any, axes: Any = 2, *, out_format: FormatLike | None = None,
              **kw: Any) -> MiniArray:
    """np.tensordot: contract the given axes, through one matrix product."""
    a = _mini(a, b if isinstance(b, MiniArray) else None)
    b = _mini(b, a)
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                      [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    ax_a = [x % a.ndim for x in ax_a]
    ax_b = [x % b.ndim for x in ax_b]
    if [a.shape[i] for i in ax_a] != [b.shape[i] for i in ax_b]:
        raise ValueError("tensordot: shape mismatch for sum")
    free_a = [d for d in range(a.ndim) if d not in ax_a]
    free_b = [d for d in range(b.ndim) if d not in ax_b]
    K = int(np.prod([a.shape[i] for i in ax_a], dtype=np.int64))
    rows = math.prod(a.shape[d] for d in free_a)
    cols = math.prod(b.shape[d] for d in free_b)
    A = a.transpose(*(free_a + ax_a)).codes.reshape(rows, K)
    B = b.transpose(*(ax_b + free_b)).codes.reshape(K, cols)
    res = matmul(from_codes(A, a.format), from_codes(B, b.format), out_format=out_format, **kw)
    return res.reshape(tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b))


def einsum(subscripts: str, *operands: Any, out_format: FormatLike | None = None,
           **kw: Any) -> MiniArray:
    """Two-operand einsum without repeated indices inside an operand (the contractions of
    linear layers: 'ij,jk->ik', 'bij,bjk->bik', 'i,i->', 'ij,kj->ik', ...), through matmul."""
    if len(operands) != 2 or "->" not in subscripts or "." in subscripts:
        raise TypeError("einsum on MiniArray supports two operands with an explicit '->' "
                        "output (e.g. 'ij,jk->ik')")
    ins, outs = subscripts.replace(" ", "").split("->")
    sa, sb = ins.split(",")
    if len(set(sa)) != len(sa) or len(set(sb)) != len(sb) or len(set(outs)) != len(outs):
        raise TypeError("einsum on MiniArray: repeated indices inside an operand are not "
                        "supported")
    a = _mini(operands[0], operands[1] if isinstance(operands[1], MiniArray) else None)
    b = _mini(operands[1], a)
    batch = [c for c in outs if c in sa and c in sb]
    fa_ = [c for c in sa if c not in sb]
    fb_ = [c for c in sb if c not in sa]
    con = [c for c in sa if c in sb and c not in outs]
    for c in outs:
        if c not in sa and c not in sb:
            raise ValueError(f"einsum: output index {c!r} is not in the inputs")
    if any(c not in outs for c in fa_ + fb_):
        raise TypeError("einsum on MiniArray: summing an index of one operand only is not "
                        "supported; sum it first")
    size = {c: n for s, x in ((sa, a), (sb, b)) for c, n in zip(s, x.shape)}
    A = a.transpose(*[sa.index(c) for c in batch + fa_ + con]).reshape(
        *[size[c] for c in batch], math.prod(size[c] for c in fa_),
        math.prod(size[c] for c in con))
    B = b.transpose(*[sb.index(c) for c in batch + con + fb_]).reshape(
        *[size[c] for c in batch], math.prod(size[c] for c in con),
        math.prod(size[c] for c in fb_))
    res = matmul(A, B, out_format=out_format, **kw)
    res = res.reshape(tuple(size[c] for c in batch + fa_ + fb_))
    order = batch + fa_ + fb_
    return res.transpose(*[order.index(c) for c in outs]) if outs else res


def conv2d(x: MiniArray, w: MiniArray, stride: Any = 1, padding: Any = 0, *,
           out_format: FormatLike | None = None, **kw: Any) -> MiniArray:
    """2-D convolution (cross-correlation), NCHW input, OIHW weights, through im2col and the
    same accumulation as matmul: out[n, o, y, x] = sum_{c,i,j} x[n,c,sy+i,sx+j] w[o,c,i,j]."""
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: x must be (N, C, H, W) and w (O, C, kh, kw) with the same C; "
                         f"got {x.shape} and {w.shape}")
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError("conv2d: stride must be >= 1 and padding >= 0")
    n, c, h, wd = x.shape
    o, _, kh, kw_ = w.shape
    gpu = same_device([x, w], "conv2d") != "cpu"
    codes = x.codes
    if ph or pw:
        if not x.format.has_zero:
            raise ValueError(f"conv2d: padding needs a zero in {x.format}")
        pad = cuda.require().pad if gpu else np.pad
        codes = pad(codes, ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                    constant_values=int(x.format.code_of_zero or 0))  # +0 (LNS: not 0)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw_) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError("conv2d: kernel larger than the padded input")
    if gpu:  # a gather with index arrays on the device: the same windows
        cp = cuda.require()
        iy = cp.asarray((np.arange(oh) * sh)[:, None, None, None] + np.arange(kh)[:, None])
        ix = cp.asarray((np.arange(ow) * sw)[None, :, None, None] + np.arange(kw_))
        win = codes[:, :, iy, ix]  # (n, c, oh, ow, kh, kw)
    else:
        win = np.lib.stride_tricks.sliding_window_view(codes, (kh, kw_), axis=(2, 3))
        win = win[:, :, ::sh, ::sw][:, :, :oh, :ow]  # (n, c, oh, ow, kh, kw)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw_)
    res = matmul(from_codes(cols, x.format), w.reshape(o, c * kh * kw_).T,
                 out_format=out_format, **kw)
    return res.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)


# ---- shape and selection functions for __array_function__ ----
def _same_format(arrays: list[Any]) -> FloatFormat:
    fmts = [x.format for x in arrays if isinstance(x, MiniArray)]
    if len(set(fmts)) > 1:
        raise ValueError(f"arrays have different formats ({fmts[0]} and "
                         f"{next(f for f in fmts if f != fmts[0])}); convert with astype first")
    return fmts[0]


def _codes_of(arrays: list[Any], f: FloatFormat) -> list[np.ndarray]:
    return [asarray(x, f).codes for x in arrays]


def _joiner(fn: Any) -> Any:
    def impl(arrays: Any, *args: Any, **kw: Any) -> MiniArray:
        arrays = list(arrays)
        f = _same_format(arrays)
        return from_codes(fn(_codes_of(arrays, f), *args, **kw), f)
    return impl


def _unary_shape(fn: Any) -> Any:
    def impl(a: MiniArray, *args: Any, **kw: Any) -> Any:
        res = fn(a.codes, *args, **kw)
        return from_codes(res, a.format) if isinstance(res, np.ndarray) else res
    return impl


def _where(cond: Any, a: Any, b: Any) -> MiniArray:
    f = _same_format([a, b])
    ca, cb = _codes_of([a, b], f)
    return from_codes(np.where(np.asarray(cond), ca, cb), f)


def _amax(a: MiniArray, axis: Any = None, keepdims: bool = False, **kw: Any) -> MiniArray:
    return extreme(a, "maximum", axis, keepdims)


def _amin(a: MiniArray, axis: Any = None, keepdims: bool = False, **kw: Any) -> MiniArray:
    return extreme(a, "minimum", axis, keepdims)


FUNCTIONS.update({
    np.concatenate: _joiner(np.concatenate), np.stack: _joiner(np.stack),
    np.vstack: _joiner(np.vstack), np.hstack: _joiner(np.hstack),
    np.reshape: _unary_shape(np.reshape), np.transpose: _unary_shape(np.transpose),
    np.ravel: _unary_shape(np.ravel), np.squeeze: _unary_shape(np.squeeze),
    np.expand_dims: _unary_shape(np.expand_dims), np.swapaxes: _unary_shape(np.swapaxes),
    np.moveaxis: _unary_shape(np.moveaxis), np.broadcast_to: _unary_shape(np.broadcast_to),
    np.atleast_1d: _unary_shape(np.atleast_1d), np.atleast_2d: _unary_shape(np.atleast_2d),
    np.copy: _unary_shape(np.copy), np.flip: _unary_shape(np.flip),
    np.repeat: _unary_shape(np.repeat), np.tile: _unary_shape(np.tile),
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim, np.size: lambda a: a.size,
    np.where: _where, np.sum: sum, np.mean: mean, np.dot: dot, np.matmul: matmul,
    np.tensordot: tensordot, np.einsum: einsum, np.max: _amax, np.min: _amin,
    np.amax: _amax, np.amin: _amin, np.maximum: maximum, np.minimum: minimum,
})
HANDLERS.update(sum=sum, mean=mean, extreme=extreme, matmul=matmul, dot=dot)


# ---- Block-scaled operands (docs/semantics.md §8.7; csrc/include/minifloat/block_dot.h) ----

_BINARY32_SPEC = (8, 23, 127, 1, 1, 1, 0, 1)  # the core's FloatSpec tuple of IEEE binary32


def _value_stats(table: np.ndarray) -> tuple[int, int, int]:
    """(lsb, top, sig) over the finite non-zero values of a value table: the smallest LSB
    exponent, the largest floor(log2 |v|), the most significant bits of one value."""
    v = np.abs(table[np.isfinite(table) & (table != 0)])
    if v.size == 0:
        return 0, 0, 1
    m, e = np.frexp(v)
    sig = np.ldexp(m, 53).astype(np.int64)
    tz = np.log2((sig & -sig).astype(np.float64)).astype(np.int64)
    lsb = e - 53 + tz
    return int(lsb.min()), int((e - 1).max()), int((e - lsb).max())


def _split_cuts(table: np.ndarray, room: int) -> list[float] | None:
    """Magnitude cuts lo_0 > lo_1 > ... > lo_last = 0 of a's element values into at most 4
    pieces (piece p: lo_p <= |v| < lo_{p-1}) such that within a piece the largest floor(log2
    |v|) minus the smallest LSB exponent is at most ``room`` (its partial dots with b's elements
    are then exact in binary64); None when no such cut exists."""
    v = np.unique(np.abs(table[np.isfinite(table) & (table != 0)]))[::-1]
    if v.size == 0:
        return None
    m, e = np.frexp(v)
    sig = np.ldexp(m, 53).astype(np.int64)
    lsb = e - 53 + np.log2((sig & -sig).astype(np.float64)).astype(np.int64)
    top = e - 1
    cuts: list[float] = []
    i = 0
    while i < v.size:
        j, low = i, int(lsb[i])
        while j < v.size and int(top[i]) - min(low, int(lsb[j])) <= room:
            low = min(low, int(lsb[j]))
            j += 1
        if j == i:
            return None
        cuts.append(float(v[j - 1]))
        i = j
    if len(cuts) > 4:
        return None
    cuts[-1] = 0.0
    return cuts


def _block_operand(x: Any, name: str, axis: int) -> tuple[BlockCodes, BlockFormat, int]:
    """A 2-D BlockCodes whose blocks run along ``axis`` (the reduction axis), its format and
    its block size along that axis."""
    if isinstance(x, BlockArray):
        x = x.block_codes
    if not isinstance(x, BlockCodes) or x.format is None:
        raise TypeError(f"{name} must be a 2-D BlockArray or the BlockCodes of mf.encode(x, "
                        f"<block format>), got {type(x).__name__}")
    bf = x.format
    if np.ndim(x.codes) != 2:
        raise ValueError(f"{name} must be 2-D (block dot products), got shape {np.shape(x.codes)}")
    axes = [a % 2 for a in bf.axis]
    if axis not in axes:
        raise ValueError(f"{name}'s blocks run along axis {bf.axis}, not the reduction axis "
                         f"{axis - 2}: encode {name} with BlockFormat(..., axis={axis - 2})")
    return x, bf, bf.block_size[axes.index(axis)]


def _expand_scales(scales: np.ndarray, bf: BlockFormat, shape: tuple[int, int],
                   red_axis: int) -> np.ndarray:
    """Scale values per (row, block) (A) or (block, column) (B): 2-D blocks repeat their
    scale along the other axis."""
    s = value_table(bf.scale)[scales.astype(np.int64)]
    axes = [a % 2 for a in bf.axis]
    other = 1 - red_axis
    if other in axes:
        k = bf.block_size[axes.index(other)]
        s = np.repeat(s, k, axis=other)
        s = s[:shape[0]] if other == 0 else s[:, :shape[1]]
    return np.ascontiguousarray(s, dtype=np.float64)


def block_matmul(a: Any, b: Any, *, out_format: FormatLike | None = None,
                 accumulator: Any = None, order: str | None = None, block: int | None = None,
                 **projection: Any) -> Any:
    """``a @ b`` of block-scaled operands with the MX dot-product semantics.

    ``a`` (M, K) and ``b`` (K, N) are :class:`BlockCodes` (``mf.encode(x, fmt)``), ``a``
    blocked along axis 1 and ``b`` along axis 0 with the same block size.  For each output,
    block b's partial dot ``sA * sB * sum a_k b_k`` is exact; the block terms are summed by
    the accumulator (``"float32"`` default, ``"float64"``, ``"exact"`` or a format; order
    sequential or pairwise over blocks, as for :func:`matmul`); the sum times both tensor
    scales is rounded once into ``out_format``.  Returns float32 values (``out_format`` None:
    binary32, as MX hardware) or a MiniArray of ``out_format`` codes.
    """
    a, fa, ka = _block_operand(a, "a", 1)
    b, fb, kb = _block_operand(b, "b", 0)
    ca, sa_codes, ta = check_codes(a, fa)
    cb, sb_codes, tb = check_codes(b, fb)
    M, K = ca.shape
    if cb.shape[0] != K:
        raise ValueError(f"block_matmul: shapes {ca.shape} and {cb.shape} are not aligned "
                         f"({K} != {cb.shape[0]})")
    if ka != kb:
        raise ValueError(f"a and b must share the block size along the reduction axis; got "
                         f"{ka} and {kb}")
    N = cb.shape[1]
    ctx = current()
    order = ctx.order if order is None else order
    block = ctx.block if block is None else block
    if order not in ("sequential", "pairwise"):
        raise ValueError(f"order={order!r}; allowed: 'sequential', 'pairwise'")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block={block!r}; allowed: an int >= 1")
    kind, facc, acc_name = _accumulator("float32" if accumulator is None else accumulator)
    if kind not in (ACC_EXACT, ACC_FORMAT, ACC_FLOAT32, ACC_FLOAT64):
        raise ValueError(f"accumulator={acc_name!r} is not defined for block operands; "
                         "allowed: 'float32', 'float64', 'exact' or a float format")
    if kind == ACC_FORMAT and not isinstance(facc, FloatFormat):
        raise ValueError(f"accumulator {facc} must be a float format for block operands")
    fo = None if out_format is None else format(out_format)
    if fo is not None and not isinstance(fo, FloatFormat):
        raise ValueError(f"out_format must be a float format (or None: binary32), got {fo}")
    if fo is None and projection:
        raise ValueError(f"{sorted(projection)} need an out_format: the binary32 output "
                         "(out_format=None) rounds to nearest even")
    NB = -(-K // ka)
    p = resolve_projection(fo, (M * N * (NB + 1),), **projection) if fo is not None else None
    if p is not None and p.rsrc == 2:
        raise ValueError("random= is not supported for contractions; use seed=")
    va = value_table(fa.element)[ca.astype(np.int64)]
    vb = value_table(fb.element)[cb.astype(np.int64)]
    sa = _expand_scales(sa_codes, fa, (M, K), 1)
    sb = _expand_scales(sb_codes, fb, (K, N), 0)
    ea, eb = _value_stats(value_table(fa.element)), _value_stats(value_table(fb.element))
    xa, xb = _value_stats(value_table(fa.scale)), _value_stats(value_table(fb.scale))
    if ea[2] + eb[2] + xa[2] + xb[2] > 62:
        raise ValueError(f"products of {fa} and {fb} elements and scales need "
                         f"{ea[2] + eb[2] + xa[2] + xb[2]} significant bits; at most 62 are "
                         "supported")
    low = ea[0] + eb[0] + xa[0] + xb[0]
    # Every partial sum of a block and every term exact in binary64: the fast path.
    span = ea[1] + eb[1] + 2 + max(ka - 1, 0).bit_length() - (ea[0] + eb[0])
    top_t = ea[1] + eb[1] + 2 + max(ka - 1, 0).bit_length() + xa[1] + xb[1] + 2
    fast = (kind in (ACC_FLOAT32, ACC_FLOAT64) and order == "sequential"
            and span + xa[2] + xb[2] <= 53 and low >= -1074 and top_t <= 1023)
    # ... and in binary32 (twice the lanes): the partial sums need at most 24 bits
    top_p = ea[1] + eb[1] + 2 + max(ka - 1, 0).bit_length()
    f32 = fast and span <= 24 and ea[0] + eb[0] >= -149 and top_p <= 127
    # Else (E5M2: partial dots of up to 69 bits) the split path: a's elements cut by magnitude
    # into pieces whose partial dots with b are exact in binary64 (block_dot.h, bind_block.cpp).
    cuts = None
    if (not fast and kind in (ACC_FLOAT32, ACC_FLOAT64) and order == "sequential"
            and xa[2] == 1 and xb[2] == 1 and low >= -1074 and top_t <= 1023):
        cuts = _split_cuts(value_table(fa.element), 53 - (eb[1] - eb[0] + 2
                                                          + max(ka - 1, 0).bit_length()))
    elem_dt = np.float32 if f32 else np.float64
    acc_top = {ACC_FLOAT32: 128, ACC_FLOAT64: 1024, ACC_EXACT: 0}.get(
        kind, facc.maxexp if facc is not None else 0)
    top = max(top_t + max(NB - 1, 0).bit_length(), acc_top)
    limbs = (top - low + 64 + 2 + 63) // 64 + 1
    if limbs > 72:
        raise ValueError(f"the exact block sums of {fa} and {fb} need {64 * limbs} bits; at "
                         "most 4608 are supported")
    t = float(np.float64(ta) * np.float64(tb))  # exact: two float32 values
    spec_out = fo.spec if fo is not None else _BINARY32_SPEC
    out = np.empty((M, N), dtype=fo.dtype if fo is not None else np.uint32)
    sacc = facc.spec if facc is not None else _BINARY32_SPEC
    # binary32 output: nearest-even, no saturation, whatever mf.config says
    proj = ((p.mode, p.sat, p.nbits, int(p.flush), p.rsrc, p.seed, p.offset) if p is not None
            else (0, 0, 0, 0, 0, 0, 0))
    pieces = None
    if cuts is not None:
        va = np.ascontiguousarray(va, dtype=np.float64)
        mag = np.abs(va)
        fin = np.isfinite(va)
        pieces = np.zeros((len(cuts),) + va.shape)
        hi = np.inf
        for p_, lo_ in enumerate(cuts):
            np.copyto(pieces[p_], va, where=fin & (mag >= lo_) & (mag < hi))
            hi = lo_
    quick = fast or cuts is not None
    ok = cpu.block_matmul(np.ascontiguousarray(va, dtype=elem_dt),
                          np.ascontiguousarray(vb, dtype=elem_dt), sa, sb, (M, K, N),
                          ka, t, kind, sacc, spec_out, proj, int(order == "pairwise"), block,
                          int(quick) + int(quick and fo is None), low, limbs, out, pieces)
    if not ok:
        raise ValueError(f"a NaN result has no code in {fo or facc} (it has no NaN)")
    if fo is None:
        return out.view(np.float32)
    return from_codes(out, fo)


HANDLERS["block_matmul"] = block_matmul
