"""Correctly rounded elementwise operations on MiniArrays.

Every operation returns ``project(exact real result)`` in the result format (docs/semantics.md,
docs/arithmetic.md): ``add, subtract, multiply, divide, fma, sqrt, square, reciprocal,
negative, positive, absolute`` compute the exact value in C++ (arith.h) and round once;
``maximum, minimum, fmax, fmin, sign`` and comparisons are exact selections.

Operands that are not MiniArrays (Python scalars, ndarrays) are first projected into the format
of the MiniArray operand, with the same projection settings. Operands of two different formats
need ``out_format=`` (or ``mf.config(out_format=...)``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import numpy as np

from . import _core
from .arith import fixed as _fixed
from .arith import lns as _lns
from .arith import number_system
from .array import HANDLERS, MiniArray, asarray, device_of, from_codes, host_only, same_device
from .backends import cuda as _cuda
from .codec import decode, encode, resolve_projection
from .formats import FixedFormat, FloatFormat, FormatLike, LNSFormat, format
from .rounding import STOCHASTIC, current

# arith.h ArithOp
OPS = {"add": 0, "subtract": 1, "multiply": 2, "divide": 3, "fma": 4, "sqrt": 5,
       "negative": 6, "absolute": 7, "positive": 8}
ARITY = {"add": 2, "subtract": 2, "multiply": 2, "divide": 2, "fma": 3, "sqrt": 1,
         "negative": 1, "absolute": 1, "positive": 1}
_PROJECTION_KEYS = ("rounding", "saturation", "random_bits", "seed", "offset", "random",
                    "flush_subnormals")


def operand_formats(operands: tuple[Any, ...], out_format: FormatLike | None,
                    projection: dict[str, Any] | None = None,
                    ) -> tuple[list[MiniArray], FloatFormat]:
    """MiniArray versions of the operands and the result format (see module docstring).

    Non-MiniArray operands are projected into the first MiniArray's format with the call's
    projection keywords (``rounding``, ``saturation``, ``flush_subnormals``, ``random_bits``,
    ``seed``); an explicit ``random=``/``offset=`` belongs to the result and is not reused."""
    fmts = [o.format for o in operands if isinstance(o, MiniArray)]
    if not fmts:
        raise TypeError("at least one operand must be a MiniArray")
    if out_format is None:
        out_format = current().out_format
    if out_format is None:
        distinct = list(dict.fromkeys(fmts))
        if len(distinct) > 1:
            raise ValueError(f"operands have different formats ({distinct[0]} and {distinct[1]});"
                             " give out_format= (or mf.config(out_format=...))")
        result = distinct[0]
    else:
        result = format(out_format)
    home = fmts[0]
    kw = {k: v for k, v in (projection or {}).items() if k not in ("random", "offset")}
    arrays = [o if isinstance(o, MiniArray) else asarray(o, home, **kw) for o in operands]
    return arrays, result


@lru_cache(maxsize=512)
def _table(op: int, fa: FloatFormat, fb: FloatFormat, fo: FloatFormat, mode: int, sat: int,
           flush: bool) -> np.ndarray:
    """uint16 result code of op for every operand pair of <= 8-bit formats into a <= 8-bit
    format (deterministic modes), built by the exact core.  0xFFFF marks a NaN result that has
    no code in ``fo``."""
    na, nb = fa.num_codes, fb.num_codes
    a = np.repeat(np.arange(na, dtype=np.uint16), nb)
    b = np.tile(np.arange(nb, dtype=np.uint16), na)
    out = np.empty(na * nb, dtype=np.uint16)
    _run(op, [a, b], [fa, fb], fo, mode, sat, 0, flush, 0, 0, 0, None, out)
    t = out.reshape(na, nb)
    t.setflags(write=False)
    return t


def _run(op: int, codes: list[np.ndarray], fmts: list[FloatFormat], fo: FloatFormat, mode: int,
         sat: int, nbits: int, flush: bool, rsrc: int, seed: int, offset: int,
         random: np.ndarray | None, out: np.ndarray) -> bool:
    while len(codes) < 3:
        codes.append(codes[0])
        fmts.append(fmts[0])
    return bool(_core.arith(op, codes[0], fmts[0].spec, codes[1], fmts[1].spec, codes[2],
                            fmts[2].spec, fo.spec, mode, sat, nbits, int(flush), rsrc, seed,
                            offset, random, out))


def apply(name: str, *operands: Any, out_format: FormatLike | None = None,
          out: MiniArray | None = None, where: Any = True, **projection: Any) -> MiniArray:
    """Run elementwise operation ``name`` (a key of OPS) with broadcasting, ``out=``/``where=``.

    The whole result is computed before anything is written to ``out``, so an error leaves
    ``out`` untouched; with ``where=``, elements where the mask is False keep ``out``'s value.
    """
    lns_add = projection.pop("lns_add", None) if name in ("add", "subtract") else None
    unknown = set(projection) - set(_PROJECTION_KEYS)
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword(s) {sorted(unknown)}")
    if len(operands) != ARITY[name]:
        raise TypeError(f"{name}() takes {ARITY[name]} operand(s), got {len(operands)}")
    arrays, fo = operand_formats(operands, out_format, projection)
    if out is not None:
        if not isinstance(out, MiniArray):
            raise TypeError("out must be a MiniArray")
        if out_format is None and out.format != fo:
            fo = out.format
    device = _operand_device(name, operands, arrays, out)
    if device != "cpu":
        return _apply_on_gpu(name, [_on(a, device) for a in arrays], fo, out, where,
                             projection)
    codes = np.broadcast_arrays(*[a.codes for a in arrays])
    shape = codes[0].shape
    fmts = [a.format for a in arrays]
    alg = {} if lns_add is None else {"algorithm": _lns_add_for([*fmts, fo], lns_add)}
    p = resolve_projection(fo, shape, **{k: v for k, v in projection.items()})
    result = np.empty(shape, dtype=fo.dtype)
    if not all(isinstance(f, FloatFormat) for f in [*fmts, fo]):  # fixed point, LNS
        ok = number_system([*fmts, fo]).elementwise(name, list(codes), fmts, fo, p, result,
                                                     **alg)
    elif p.nbits == 0 and len(arrays) <= 2 and all(f.bits <= 8 for f in [*fmts, fo]):
        fb = fmts[1] if len(fmts) > 1 else fmts[0]
        table = _table(OPS[name], fmts[0], fb, fo, p.mode, p.sat, p.flush)
        cb = codes[1] if len(codes) > 1 else np.zeros_like(codes[0])
        if codes[0].flags.c_contiguous and cb.flags.c_contiguous and codes[0].size:
            ok = _core.gather2(codes[0], cb, table, table.shape[1], result) < fo.num_codes
        else:
            got = table[codes[0], cb]
            ok = not (got.size and got.max() >= fo.num_codes)
            if ok:
                result[...] = got
    else:
        wide = [np.ascontiguousarray(c, dtype=np.uint16) for c in codes]
        ok = _run(OPS[name], wide, list(fmts), fo, p.mode, p.sat, p.nbits, p.flush, p.rsrc,
                  p.seed, p.offset, p.random, result)
    if not ok:
        raise ValueError(f"{name}: a NaN result has no code in {fo} (it has no NaN)")
    if out is None:
        if where is not True:
            raise ValueError("where= needs out= (elements outside the mask would be undefined)")
        return from_codes(result, fo)
    if out.format != fo:
        raise ValueError(f"out has format {out.format}, the result is {fo}")
    np.copyto(out.codes, result, where=np.asarray(where, dtype=bool))
    return out


def _operand_device(name: str, operands: tuple[Any, ...], arrays: list[MiniArray],
                    out: MiniArray | None) -> str:
    """The device the operation runs on: that of its MiniArray and CuPy operands (and out=),
    which must agree; Python scalars (0-d operands) follow the others."""
    placed = [a for o, a in zip(operands, arrays)
              if isinstance(o, MiniArray) or device_of(o) != "cpu" or np.ndim(o) != 0]
    return same_device([*placed, *([out] if out is not None else [])], name)


def _on(a: MiniArray, device: str) -> MiniArray:
    """``a`` on ``device`` (only 0-d operands move: _operand_device checked the others)."""
    return a if a.device == device else a.to_device(device)


def _apply_on_gpu(name: str, arrays: list[MiniArray], fo: Any, out: MiniArray | None,
                  where: Any, projection: dict[str, Any]) -> MiniArray:
    """apply() on CuPy codes: the elementwise kernel of minifloat.backends.cuda, or for
    fixed-point operands that of cuda_fixed_lns (the same exact operation and projection as
    the CPU, Philox positions by flat result index)."""
    from .backends import cuda

    fmts = [a.format for a in arrays]
    fixed = all(isinstance(f, FixedFormat) for f in [*fmts, fo])
    if not fixed and not all(isinstance(f, FloatFormat) for f in [*fmts, fo]):
        raise TypeError(f"{name} of LNS MiniArrays, or of fixed-point with other formats, has "
                        "no GPU kernel yet; move the operands with .get() first")
    if out is None and where is not True:
        raise ValueError("where= needs out= (elements outside the mask would be undefined)")
    shape = np.broadcast_shapes(*[a.shape for a in arrays])
    p = resolve_projection(fo, shape, **projection)
    if fixed:
        result = _fixed.elementwise_gpu(name, [a.codes for a in arrays], fmts, fo, p)
    else:
        ops3: list[Any] = [(a.codes, a.format) for a in arrays] + \
            [(None, None)] * (3 - len(arrays))
        result = cuda.elementwise(name, ops3[0][0], ops3[0][1], ops3[1][0], ops3[1][1],
                                  ops3[2][0], ops3[2][1], fo, p.mode, p.sat, p.nbits, p.flush,
                                  p.rsrc, p.seed, p.offset, p.random)
    if out is None:
        return MiniArray(result, fo)
    if out.format != fo:
        raise ValueError(f"out has format {out.format}, the result is {fo}")
    cp = cuda.require()
    cp.copyto(out.codes, result, where=cp.asarray(where, dtype=bool))
    return out


def add(a: Any, b: Any, **kw: Any) -> MiniArray:
    """Correctly rounded a + b (LNS formats: by the ``lns_add=`` algorithm, default the
    context's; see minifloat.lns)."""
    return apply("add", a, b, **kw)


def subtract(a: Any, b: Any, **kw: Any) -> MiniArray:
    """Correctly rounded a - b (LNS formats: by the ``lns_add=`` algorithm)."""
    return apply("subtract", a, b, **kw)


def multiply(a: Any, b: Any, **kw: Any) -> MiniArray:
    """Correctly rounded a * b."""
    return apply("multiply", a, b, **kw)


def divide(a: Any, b: Any, **kw: Any) -> MiniArray:
    """Correctly rounded a / b (x/0 = +-Inf, or NaN/max per the format and saturation; NaN
    when the divisor's zero is unsigned, as in P3109: docs/semantics.md §3)."""
    return apply("divide", a, b, **kw)


def fma(a: Any, b: Any, c: Any, **kw: Any) -> MiniArray:
    """a * b + c with a single rounding."""
    return apply("fma", a, b, c, **kw)


def sqrt(a: Any, **kw: Any) -> MiniArray:
    """Correctly rounded square root (NaN for negative non-zero input; sqrt(-0) = -0)."""
    return apply("sqrt", a, **kw)


def square(a: Any, **kw: Any) -> MiniArray:
    """Correctly rounded a * a."""
    return apply("multiply", a, a, **kw)


def negative(a: Any, **kw: Any) -> MiniArray:
    """-a, projected (exact except where the format lacks the negated value: unsigned, -0)."""
    return apply("negative", a, **kw)


def positive(a: Any, **kw: Any) -> MiniArray:
    """+a (a copy; with out_format=, a projection into that format)."""
    return apply("positive", a, **kw)


def absolute(a: Any, **kw: Any) -> MiniArray:
    """|a|."""
    return apply("absolute", a, **kw)


_ONE = format("float16")


def reciprocal(a: Any, out_format: FormatLike | None = None, **kw: Any) -> MiniArray:
    """Correctly rounded 1 / a."""
    if not isinstance(a, MiniArray):
        raise TypeError("reciprocal needs a MiniArray")
    if isinstance(a.format, FloatFormat):
        one = from_codes(np.full(a.shape, 0x3C00, dtype=np.uint16), _ONE)  # exactly 1.0
    else:
        host_only("reciprocal", a)
        one = from_codes(*number_system([a.format]).ones_like_codes(a.shape))
    one = one if a.device == "cpu" else one.to_device(a.device)
    return apply("divide", one, a, out_format=out_format or a.format, **kw)


def _lns_add_for(fmts: list[Any], lns_add: Any) -> Any:
    """The call's ``lns_add=`` keyword, checked (minifloat.arith.lns.call_lns_add)."""
    return _lns.call_lns_add(lns_add, fmts)


def _select(name: str, a: Any, b: Any, out_format: FormatLike | None,
            out: MiniArray | None, where: Any) -> MiniArray:
    arrays, fo = operand_formats((a, b), out_format)
    device = _operand_device(name, (a, b), arrays, out)
    arrays = [_on(x, device) for x in arrays]
    xp = _cuda.array_module(arrays[0].codes)  # numpy, or cupy for operands on a GPU
    va, vb = (decode(x.codes, x.format) for x in arrays)
    fn = {"maximum": xp.maximum, "minimum": xp.minimum, "fmax": xp.fmax,
          "fmin": xp.fmin}[name]
    # Decoded values are compared (NumPy's rules, e.g. maximum(-0, +0)) and the CODE of the
    # chosen operand is taken, so nothing is re-rounded (LNS values are not exact doubles).
    # Only operands of another format than the result are projected.
    chosen = fn(va, vb)
    ca, cb = xp.broadcast_arrays(*[x.codes if x.format == fo else asarray(v, fo).codes
                                   for x, v in ((arrays[0], va), (arrays[1], vb))])
    res = from_codes(xp.where(same_value(chosen, xp.broadcast_to(va, chosen.shape)), ca, cb),
                     fo)
    if out is None:
        return res
    if out.format != fo:
        raise ValueError(f"out has format {out.format}, the result is {fo}")
    xp.copyto(out.codes, res.codes, where=xp.asarray(where, dtype=bool))
    return out


def same_value(x: Any, y: Any) -> Any:
    """Elementwise: x and y are the same double bit for bit, or both NaN (NumPy or CuPy
    arrays, both of one kind)."""
    xp = _cuda.array_module(x)
    x64, y64 = xp.asarray(x, dtype=np.float64), xp.asarray(y, dtype=np.float64)
    return xp.asarray((x64.view(np.uint64) == y64.view(np.uint64)) |
                      (xp.isnan(x64) & xp.isnan(y64)))


def maximum(a: Any, b: Any, *, out_format: FormatLike | None = None,
            out: MiniArray | None = None, where: Any = True) -> MiniArray:
    """Elementwise maximum (NaN propagates)."""
    return _select("maximum", a, b, out_format, out, where)


def minimum(a: Any, b: Any, *, out_format: FormatLike | None = None,
            out: MiniArray | None = None, where: Any = True) -> MiniArray:
    """Elementwise minimum (NaN propagates)."""
    return _select("minimum", a, b, out_format, out, where)


def fmax(a: Any, b: Any, *, out_format: FormatLike | None = None,
         out: MiniArray | None = None, where: Any = True) -> MiniArray:
    """Elementwise maximum ignoring NaN."""
    return _select("fmax", a, b, out_format, out, where)


def fmin(a: Any, b: Any, *, out_format: FormatLike | None = None,
         out: MiniArray | None = None, where: Any = True) -> MiniArray:
    """Elementwise minimum ignoring NaN."""
    return _select("fmin", a, b, out_format, out, where)


def sign(a: MiniArray) -> MiniArray:
    """-1, 0 or +1 (NaN for NaN) in a's format."""
    host_only("sign", a)
    return asarray(np.sign(decode(a.codes, a.format)), a.format)


def power(a: Any, k: int, **projection: Any) -> Any:
    """a**k for an integer k on an LNS MiniArray: the exact log k*L, then saturation
    (0**0 = 1, 0**k = 0 for k > 0 and Inf/max for k < 0)."""
    if not isinstance(a, MiniArray) or not isinstance(a.format, LNSFormat):
        raise TypeError("power needs an LNS MiniArray")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    host_only("power", a)
    f = a.format
    p = resolve_projection(cast(Any, f), a.shape, **projection)
    out = np.empty(a.shape, dtype=f.dtype)
    if not _lns.elementwise("power", [a.codes], [f], f, p, out, power=int(k)):
        raise ValueError(f"power: a NaN result has no code in {f}")
    return from_codes(out, cast(Any, f))


def is_stochastic(rounding: str | None) -> bool:
    """Whether a rounding name (or the context's, for None) draws random bits."""
    return (current().rounding if rounding is None else rounding) in STOCHASTIC


def values_of(x: Any) -> Any:
    """Decoded values of a MiniArray; other inputs unchanged (for comparisons)."""
    return decode(x.codes, x.format) if isinstance(x, MiniArray) else x


def _ufunc(name: str, inputs: tuple[Any, ...], out: MiniArray | None, where: Any) -> Any:
    """An arithmetic ufunc called on MiniArrays (MiniArray.__array_ufunc__)."""
    op = "divide" if name == "true_divide" else name
    if op in _SELECTIONS:
        return _SELECTIONS[op](*inputs, out=out, where=where)
    if op == "reciprocal":
        res = reciprocal(*inputs)
        if out is None:
            return res
        np.copyto(out.codes, res.codes, where=np.asarray(where, dtype=bool))
        return out
    if op == "square":
        return apply("multiply", inputs[0], inputs[0], out=out, where=where)
    return apply(op, *inputs, out=out, where=where)


def _astype(a: MiniArray, fmt: Any, **projection: Any) -> MiniArray:
    return apply("positive", a, out_format=fmt, **projection)


_SELECTIONS = {"maximum": maximum, "minimum": minimum, "fmax": fmax, "fmin": fmin}
HANDLERS.update(ufunc=_ufunc, astype=_astype)

__all__ = ["absolute", "add", "apply", "divide", "fma", "fmax", "fmin", "maximum", "minimum",
           "multiply", "negative", "positive", "reciprocal", "sign", "sqrt", "square",
           "subtract", "encode", "power"]
