"""BlockArray: an array in a block-scaled format (OCP MX, NVFP4, any ``mf.BlockFormat``),
held as its element codes, its scale codes and its per-tensor scale, with NumPy's protocols.

``mf.asarray(x, "mxfp8_e4m3")`` returns one. Its values are ``element * scale * T`` exactly
(``np.asarray(a)`` decodes them in float64). The rules (docs/formats.md, "Block-scaled arrays"):

- **Elementwise arithmetic** (``+ - * /``, negative, positive, absolute, sqrt, square,
  maximum, minimum and their fmax/fmin): the exact result of the operation on the operands'
  values, projected once into the result's block format (``out=``'s, else the format of the
  first BlockArray operand) with its blocks recomputed from the results. The exact result is
  carried in binary64 rounded to odd (error-free transformations in NumPy), which makes the
  one projection equal to rounding the exact value: every comparison a block format makes
  (element grid, scale rule, per-tensor scale) is against a number of at most 51 significant
  bits, never hit by a value rounded to odd at 53 bits (Boldo & Melquiond 2008).
- **Comparisons and predicates** (``==``, ``<``, isnan, ...) act on the exact values.
- **Products** (``a @ b``, ``np.matmul``, ``np.dot`` of 2-D BlockArrays, blocks along the
  reduction axis): ``mf.block_matmul``, the MX dot product (docs/semantics.md §8.7).
- **Views**: ``a.T`` / ``a.transpose(...)`` permute codes and scales, and the block axis
  follows. Indexing and reshaping would split blocks: ``a[...]`` and ``a.reshape`` raise a
  TypeError that says so (decode with ``np.asarray(a)`` or re-project).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .array import HANDLERS, ArrayOperators, MiniArray, asarray
from .blocks import BlockCodes, check_codes
from .blocks import decode as block_decode
from .blocks import encode as block_encode
from .formats import BlockFormat, FormatLike, format

_ARITH = frozenset({"add", "subtract", "multiply", "divide", "true_divide", "negative",
                    "positive", "absolute", "sqrt", "square", "maximum", "minimum", "fmax",
                    "fmin"})
_VALUES = frozenset({"equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                     "isnan", "isinf", "isfinite", "signbit"})
_SPLIT = 134217729.0  # 2^27 + 1 (Veltkamp)


class BlockArray(ArrayOperators):
    """Values of a block-scaled format: element codes, scale codes and a per-tensor scale.

    Create with ``mf.asarray(x, block_format, **projection)`` or :meth:`from_block_codes`.
    """

    __array_priority__ = 60

    def __init__(self, bc: BlockCodes) -> None:
        if not isinstance(bc, BlockCodes) or not isinstance(bc.format, BlockFormat):
            raise TypeError("BlockArray needs the BlockCodes of mf.encode(x, block_format)")
        check_codes(bc, bc.format)
        self._bc = bc

    @classmethod
    def from_block_codes(cls, codes: Any, scales: Any, tensor_scale: float,
                         fmt: FormatLike) -> BlockArray:
        """A BlockArray over existing codes (checked: range, scale shape, positive T)."""
        f = format(fmt)
        if not isinstance(f, BlockFormat):
            raise TypeError(f"fmt must be a block format, got {f}")
        c, s = np.asarray(codes), np.asarray(scales)
        bc = BlockCodes(c, s, float(tensor_scale), f)
        check_codes(bc, f)
        return cls(BlockCodes(c.astype(f.dtype), s.astype(f.scale_dtype), float(tensor_scale),
                              f))

    # ---- storage ----
    @property
    def block_codes(self) -> BlockCodes:
        """The BlockCodes (codes, scales, tensor_scale, format)."""
        return self._bc

    @property
    def codes(self) -> np.ndarray:
        """Element codes (the array's shape)."""
        return self._bc.codes

    @property
    def scales(self) -> np.ndarray:
        """Scale codes (the shape with each block axis reduced to its number of blocks)."""
        return self._bc.scales

    @property
    def tensor_scale(self) -> float:
        """The per-tensor scale T (1.0 for one-level formats)."""
        return self._bc.tensor_scale

    @property
    def format(self) -> BlockFormat:
        """The block format."""
        return self._bc.format  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape, as NumPy."""
        return tuple(self._bc.codes.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return int(self._bc.codes.ndim)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(self._bc.codes.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the packed storage: element bits per element and scale bits per block
        (each rounded up to whole bytes), plus 4 for a float32 per-tensor scale."""
        f = self.format
        n = (self.size * f.element.bits + 7) // 8 + (self.scales.size * f.scale.bits + 7) // 8
        return n + (4 if f.tensor_scale is not None else 0)

    def __len__(self) -> int:
        return len(self._bc.codes)

    # ---- values ----
    def values(self, dtype: Any = np.float64) -> np.ndarray:
        """Decoded values (exact in float64; float32 rounds once)."""
        return block_decode(self._bc, self.format, dtype)

    def tolist(self) -> Any:
        """Values as (nested) Python floats."""
        return self.values().tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        v = self.values()
        return v if dtype is None else v.astype(dtype)

    def __repr__(self) -> str:
        return (f"BlockArray({np.array2string(self.values(), separator=', ')}, "
                f"format={self.format})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (BlockArray, (self._bc,))

    def astype(self, fmt: FormatLike, **projection: Any) -> Any:
        """The values projected once into ``fmt`` (a block format gives a BlockArray, any
        other format a MiniArray)."""
        return asarray(self.values(), fmt, **projection)

    def to_ml_dtypes(self) -> tuple[np.ndarray, np.ndarray]:
        """Zero-copy views of the element and scale codes as ml_dtypes arrays (e.g.
        float8_e4m3fn / float4_e2m1fn elements, float8_e8m0fnu scales), where ml_dtypes has
        both types; the value is ``elements * scales`` (expanded over each block) times
        ``tensor_scale``."""
        import ml_dtypes

        f = self.format
        out = []
        for part, arr in (("element", self.codes), ("scale", self.scales)):
            pf = getattr(f, part)
            name = getattr(pf, "name", None) or ""
            dt = getattr(ml_dtypes, name, None)
            if dt is None or not isinstance(pf, type(format(name))) or pf != format(name):
                raise ValueError(f"the {part} format {pf} of {f} is not an ml_dtypes type")
            out.append(arr.view(dt))
        return out[0], out[1]

    # ---- views ----
    def transpose(self, *axes: Any) -> BlockArray:
        """Axes permuted (codes and scales alike); the block axis moves with its data."""
        nd = self.ndim
        perm = tuple(range(nd))[::-1] if not axes else tuple(
            axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes)
        if sorted(int(p) % nd for p in perm) != list(range(nd)):
            raise ValueError(f"axes {perm} is not a permutation of {nd} axes")
        perm = tuple(int(p) % nd for p in perm)
        f = self.format
        old = [a % nd for a in f.axis]
        new = [perm.index(a) for a in old]
        pairs = sorted(zip(new, f.block_size))
        nf = f.replace(axis=tuple(a for a, _ in pairs) if len(pairs) == 2 else pairs[0][0],
                       block_size=tuple(k for _, k in pairs) if len(pairs) == 2 else
                       pairs[0][1])
        bc = self._bc
        return BlockArray(BlockCodes(bc.codes.transpose(perm), bc.scales.transpose(perm),
                                     bc.tensor_scale, nf))

    @property
    def T(self) -> BlockArray:  # noqa: N802 - NumPy's name
        """Reversed axes (see :meth:`transpose`)."""
        return self.transpose()

    def __getitem__(self, key: Any) -> Any:
        raise TypeError("a BlockArray cannot be indexed: a slice would split its blocks; "
                        "use np.asarray(a)[...] for the values or re-project the slice")

    def reshape(self, *shape: Any, **kw: Any) -> Any:
        """Not defined (a reshape regroups the blocks); raises TypeError."""
        raise TypeError("a BlockArray cannot be reshaped: its blocks would be regrouped; "
                        "re-project np.asarray(a).reshape(...) instead")

    # ---- NumPy protocols ----
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        name = ufunc.__name__
        if method != "__call__":
            raise TypeError(f"{name}.{method} is not supported on BlockArray; use "
                            "np.asarray(a) for float results")
        out = kwargs.pop("out", None)
        if isinstance(out, tuple):
            out = out[0] if len(out) == 1 else out
        projection = {k: kwargs.pop(k) for k in ("rounding", "saturation", "random_bits",
                                                 "seed", "offset") if k in kwargs}
        if kwargs:
            raise TypeError(f"{name}: unsupported keyword(s) {sorted(kwargs)} on BlockArray")
        if name == "matmul":
            if out is not None:
                raise TypeError("matmul: out= is not supported on BlockArray")
            return _matmul(*inputs, **projection)
        vals = [x.values() if isinstance(x, (BlockArray, MiniArray)) else np.asarray(x)
                for x in inputs]
        if name in _VALUES:
            if out is not None:
                raise TypeError(f"{name}: out= is not supported on BlockArray")
            return ufunc(*vals)
        if name not in _ARITH:
            raise TypeError(f"ufunc {name!r} is not supported on BlockArray; use "
                            "np.asarray(a) to compute on the decoded values")
        if out is not None and not isinstance(out, BlockArray):
            raise TypeError(f"{name}: out= must be a BlockArray")
        fmt = out.format if out is not None else next(
            x.format for x in inputs if isinstance(x, BlockArray))
        with np.errstate(all="ignore"):
            r = exact_odd(name, vals)
        res = BlockArray(block_encode(r, fmt, **projection))
        if out is not None:
            if out.shape != res.shape:
                raise ValueError(f"{name}: out= has shape {out.shape}, the result {res.shape}")
            out._bc = res._bc
            return out
        return res

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in (np.matmul, np.dot):
            return _matmul(*args, **kwargs)
        if func is np.transpose:
            return args[0].transpose(*(args[1:] or [kwargs.get("axes")] if
                                       kwargs.get("axes") is not None or args[1:] else []))
        raise TypeError(f"{func.__module__}.{func.__name__} is not supported on BlockArray; "
                        "use np.asarray(a) to work on the decoded values")



def _matmul(a: Any, b: Any, **kw: Any) -> Any:
    if not (isinstance(a, BlockArray) and isinstance(b, BlockArray)):
        raise TypeError("matmul of a BlockArray needs two 2-D BlockArrays (blocks along the "
                        "reduction axis: a's last, b's first); re-project the other operand")
    try:
        impl = HANDLERS["block_matmul"]
    except KeyError:
        raise RuntimeError("no block_matmul is registered; import minifloat") from None
    return impl(a.block_codes, b.block_codes, **kw)


# ---- binary64 results rounded to odd ----
def _two_prod_err(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The exact error a*b - p of p = fl(a*b) (Dekker; |a|,|b| well inside binary64)."""
    def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = _SPLIT * x
        hi = c - (c - x)
        return hi, x - hi

    ah, al = split(a)
    bh, bl = split(b)
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _to_odd(r: np.ndarray, err: np.ndarray) -> np.ndarray:
    """``r`` (a round-to-nearest result) moved to its odd neighbour toward the exact value
    when the exact value ``r + err`` is not ``r`` and ``r``'s last significand bit is even."""
    r = np.array(r, dtype=np.float64)
    bits = r.view(np.uint64)
    fix = np.isfinite(r) & (err != 0) & ((bits & np.uint64(1)) == 0)
    if fix.any():
        r[fix] = np.nextafter(r[fix], np.where(err[fix] > 0, np.inf, -np.inf))
    return r


def exact_odd(name: str, vals: list[np.ndarray]) -> np.ndarray:
    """The exact result of ufunc ``name`` on float64 ``vals`` (exact values), rounded to odd
    in binary64 (IEEE 754 special cases as NumPy computes them)."""
    a = np.asarray(vals[0], dtype=np.float64)
    if name in ("negative", "positive", "absolute"):
        return getattr(np, name)(a)  # type: ignore[no-any-return]
    if name == "sqrt":
        s = np.sqrt(a)
        fin = np.isfinite(s) & (s > 0)
        e = np.zeros_like(s)
        e[fin] = -(_two_prod_err(s[fin], s[fin], s[fin] * s[fin]) + (s[fin] * s[fin] - a[fin]))
        return _to_odd(s, e)
    if name == "square":
        vals, name = [a, a], "multiply"
    b = np.asarray(vals[1], dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    if name in ("maximum", "minimum", "fmax", "fmin"):
        return getattr(np, name)(a, b)  # type: ignore[no-any-return]
    if name == "subtract":
        b, name = -b, "add"
    if name == "add":
        s = a + b
        bb = s - a
        err = (a - (s - bb)) + (b - bb)
        return _to_odd(s, np.where(np.isfinite(s), err, 0.0))
    if name == "multiply":
        p = a * b
        fin = np.isfinite(p) & (p != 0)
        err = np.zeros_like(p)
        err[fin] = _two_prod_err(a[fin], b[fin], p[fin])
        return _to_odd(p, err)
    # divide: the residual a - q*b (exact) has the sign of (exact - q) * sign(b)
    q = a / b
    fin = np.isfinite(q) & (q != 0)
    err = np.zeros_like(q)
    qb = q[fin] * b[fin]
    res = (a[fin] - qb) - _two_prod_err(q[fin], b[fin], qb)
    err[fin] = res * np.sign(b[fin])
    return _to_odd(q, err)


def _asarray_block(x: Any, fmt: BlockFormat, **projection: Any) -> BlockArray:
    """The asarray of a block format (registered in minifloat.array)."""
    v = x.values() if isinstance(x, (BlockArray, MiniArray)) else x
    return BlockArray(block_encode(v, fmt, **projection))


HANDLERS["block_asarray"] = _asarray_block

__all__ = ["BlockArray", "exact_odd"]
