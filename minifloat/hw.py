"""Hardware-designer tooling: value tables and golden test vectors.

Value tables (:func:`value_rows`, :func:`table_csv`) list every code of a format with its exact
value in the IEEE P3109 value-table CSV layout ``codepoint,value,subnormal``.

Test vectors (:func:`vectors`, :func:`write_vectors`) pair operand codes with the result code
that the package's correctly rounded operations produce (``mf.add`` ... on MiniArrays,
``mf.encode``, ``mf.decode``): the golden model an RTL implementation must match bit for bit.
Each vector also carries exception flags, each computed exactly (IEEE 754 §7 names):

    bit 0  NV  invalid: the exact result is NaN and no operand is NaN
                (inf - inf, 0 * inf, 0 / 0, inf / inf, sqrt(x < 0), fma with 0 * inf,
                x / 0 with an unsigned zero)
    bit 1  DZ  divide by zero: a finite non-zero dividend and a signed zero divisor (an
                unsigned zero divisor, as in P3109 formats, makes x / 0 NaN: NV instead)
    bit 2  OF  out of range: the exact result x is finite and its magnitude rounded to the
                result format's precision with an unbounded exponent range (P3109 §4.7.3
                step 1, same rounding mode and random bits) exceeds the largest finite value
                — i.e. the saturation step acted; for an unsigned result format also a
                negative x that does not round to zero
    bit 3  UF  underflow: NX and 0 < |x| < the smallest normal value (tininess before rounding)
    bit 4  NX  inexact: the result's value differs from x (a NaN result for a non-NaN x, an
                infinite result for a finite x, or a different finite value; +0 equals -0)

The flags are derived from the package's own exact projection, never from floating-point
approximations: x's classification (NaN / infinite / finite) follows from the operand classes;
OF, UF and NX come from projecting x, with the same exact core, into a *witness format* W that
has the result format's precision and bottom of range but one more exponent bit (so x is
rounded "with unbounded exponent" wherever it matters), once with the vector's rounding mode
and once each toward +inf and -inf (x is representable exactly when both agree).  W exists
for result formats of up to 15 bits (14 unsigned).  Wider result formats (float16, bfloat16)
decide the same things in the result format itself, the top of the range on x / 2 (operands
re-read with their bias raised by one), where rounding commutes with halving.  Where neither
applies (formats other than :class:`FloatFormat`, or 16-bit formats with fewer than three
binades) only NV and DZ are computed, and the file header says so.

See docs/hardware.md for the file layouts and how to compare an RTL dump against them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ops as _ops
from .array import from_codes
from .blocks import BlockCodes, value_table
from .blocks import decode as block_decode
from .blocks import encode as block_encode
from .codec import decode, encode, philox_words
from .formats import BlockFormat, FloatFormat, LNSFormat, format
from .formats.lns_add import Interp, parse_lns_add
from .linalg import block_matmul
from .rounding import (
    SATURATIONS,
    STOCHASTIC,
    check_rounding,
    check_saturation,
    config,
    current,
    random_bits_for,
)

# ---------------------------------------------------------------------------------------------
# Value tables
# ---------------------------------------------------------------------------------------------


def hex_value(v: float) -> str:
    """A value as a shortest hex float (``0x1.cp+8``), ``inf``/``-inf``/``nan``, ``0x0p+0``."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    h = float(v).hex()  # e.g. '0x1.c000000000000p+8'
    mant, exp = h.split("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}p{exp}"


def _num_codes(fmt: Any) -> int:
    n = getattr(fmt, "num_codes", None)
    if n is None:
        n = 1 << int(fmt.bits)
    return int(n)


def value_rows(fmt: Any) -> list[tuple[int, float, bool]]:
    """(code, value, subnormal) for every code of ``fmt``.

    ``fmt`` is any format the codec decodes (a :class:`FloatFormat`, or another kind with
    ``num_codes``/``bits``). ``subnormal`` is True for the non-zero finite codes of a float
    format's ``E == 0`` binade when the format has subnormals; always False for other kinds.
    """
    codes = np.arange(_num_codes(fmt))
    values = decode(codes, fmt)
    is_float = isinstance(fmt, FloatFormat)
    rows = []
    for c, v in zip(codes.tolist(), values.tolist()):
        sub = False
        if is_float and fmt.subnormals:
            mag = c & ((1 << (fmt.exp_bits + fmt.man_bits)) - 1)
            sub = (mag >> fmt.man_bits) == 0 and v != 0 and not math.isnan(v)
        rows.append((c, v, bool(sub)))
    return rows


def table_csv(fmt: Any) -> str:
    """The value table as CSV text: header ``codepoint,value,subnormal``; the code in hex
    (``0x`` and ceil(bits/4) upper-case digits), the value as a hex float."""
    width = (int(fmt.bits) + 3) // 4
    lines = ["codepoint,value,subnormal"]
    lines += [f"0x{c:0{width}X},{hex_value(v)},{int(s)}" for c, v, s in value_rows(fmt)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Test vectors
# ---------------------------------------------------------------------------------------------

# op name -> (number of operands, minifloat.ops function name)
ARITH_OPS: dict[str, tuple[int, str]] = {
    "add": (2, "add"), "sub": (2, "subtract"), "mul": (2, "multiply"),
    "div": (2, "divide"), "fma": (3, "fma"), "sqrt": (1, "sqrt"),
}
VECTOR_OPS: tuple[str, ...] = (*ARITH_OPS, "encode", "decode", "dot")
FLAG_NAMES: tuple[str, ...] = ("NV", "DZ", "OF", "UF", "NX")
FLAG_BITS: dict[str, int] = {n: 1 << i for i, n in enumerate(FLAG_NAMES)}
#: Operand spaces up to this many vectors are enumerated exhaustively by default
#: (every operand pair of an 8-bit format, every operand triple of an 8-bit FMA).
EXHAUSTIVE_LIMIT = 1 << 24
#: Vectors drawn when the operand space is larger and no count is given.
DEFAULT_SAMPLES = 1 << 16
FLOAT_INPUTS: dict[str, type[np.floating[Any]]] = {
    "float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class Field:
    """One column of a vector file: ``width`` bits, written as ``digits`` hex digits."""

    name: str
    width: int

    @property
    def digits(self) -> int:
        """Hex digits of the field: ceil(width / 4)."""
        return (self.width + 3) // 4


@dataclass(frozen=True)
class Vectors:
    """Golden test vectors: column ``fields[i]`` holds ``columns[i]`` (uint64 per vector).

    Attributes:
        op: operation name (a key of :data:`VECTOR_OPS`).
        in_format: operand format (for ``encode``: ``"float32"`` / ``"float64"``).
        out_format: result format (for ``decode``: ``"float32"`` / ``"float64"``).
        rounding, saturation, random_bits, seed: the projection and sampling settings.
        exhaustive: True when every operand combination is present (minus ``omitted``).
        omitted: operand combinations left out because their exact result is NaN and the
            result format has no NaN (the package raises for those; there is no faithful code).
        flags_computed: the flag names that are set exactly; other flag bits are always 0.
        fields: column layout (operands, then ``R`` for stochastic modes, result, flags).
        columns: one uint64 array per field.
    """

    op: str
    in_format: Any
    out_format: Any
    rounding: str
    saturation: str
    random_bits: int
    seed: int
    exhaustive: bool
    omitted: int
    flags_computed: tuple[str, ...]
    fields: tuple[Field, ...]
    columns: tuple[np.ndarray, ...]
    lns_add: str = ""  # the LNS addition algorithm in force (add/sub with an LNS format)

    def __len__(self) -> int:
        return int(self.columns[0].shape[0])

    def column(self, name: str) -> np.ndarray:
        """The column called ``name`` (``a``, ``b``, ``c``, ``x``, ``R``, ``result``, ``flags``)."""
        for f, c in zip(self.fields, self.columns):
            if f.name == name:
                return c
        raise KeyError(f"no field {name!r}; fields: {[f.name for f in self.fields]}")

    def header(self, comment: str = "#") -> list[str]:
        """Comment lines describing the file (settings and layout)."""
        layout = " ".join(f"{f.name}[{f.width}b:{f.digits}hex]" for f in self.fields)
        word = sum(4 * f.digits for f in self.fields)
        how = "exhaustive" if self.exhaustive else f"sampled (seed {self.seed})"
        lines = [
            f"minifloat test vectors: op={self.op} count={len(self)} {how}",
            f"operands: {_describe(self.in_format)}",
            f"result:   {_describe(self.out_format)}",
            f"rounding={self.rounding} saturation={self.saturation}"
            + (f" lns_add={self.lns_add}" if self.lns_add else "")
            + (f" random_bits={self.random_bits} philox_seed={self.seed} "
               "(R of vector j = top random_bits bits of Philox4x32-10 word j)"
               if self.random_bits else ""),
            f"fields (hex, zero-extended to whole digits): {layout}; packed word {word} bits",
            "flags: bit0 NV invalid, bit1 DZ divide-by-zero, bit2 OF out-of-range, "
            "bit3 UF underflow, bit4 NX inexact; computed: " + (
                " ".join(self.flags_computed) or "none"),
        ]
        if self.omitted:
            lines.append(f"omitted: {self.omitted} operand combinations whose exact result is "
                         "NaN (the result format has no NaN code)")
        lines.append("definitions: docs/hardware.md")
        return [f"{comment} {s}" for s in lines]


def _describe(f: Any) -> str:
    if isinstance(f, str):
        return f
    return f"{f!r} ({int(f.bits)} bits)"


def _resolve(fmt: Any, what: str) -> Any:
    """A format object: FloatFormat or preset name, or a non-float format object as is."""
    if isinstance(fmt, str) or isinstance(fmt, FloatFormat):
        return format(fmt)
    if hasattr(fmt, "bits") and (hasattr(fmt, "num_codes") or hasattr(fmt, "bits")):
        return fmt
    raise TypeError(f"{what} must be a format or a format name, got {type(fmt).__name__}")


def _operand_codes(ncodes: list[int], count: int | None, seed: int
                   ) -> tuple[list[np.ndarray], bool]:
    """Every operand combination (first operand slowest) or ``count`` uniform random ones."""
    space = math.prod(ncodes)
    if count is None:
        exhaustive = space <= EXHAUSTIVE_LIMIT
        count = space if exhaustive else DEFAULT_SAMPLES
    else:
        exhaustive = count >= space
    if exhaustive:
        grids = np.indices(ncodes, dtype=np.uint32).reshape(len(ncodes), -1)
        return [g.astype(np.uint16) for g in grids], True
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, size=count, dtype=np.uint16) for n in ncodes], False


def _class_representatives(v: np.ndarray) -> np.ndarray:
    """±1 for finite non-zero values, others (±0, ±inf, NaN) unchanged: float64 arithmetic on
    these gives NaN / ±inf / finite exactly when the exact operation does (no rounding can
    make ±1, ±2 or 0 overflow or cancel into NaN)."""
    return np.where(np.isfinite(v) & (v != 0), np.sign(v), v)


def _exact_class(op: str, vals: list[np.ndarray], divisor_zero_unsigned: bool = False
                 ) -> np.ndarray:
    """float64 class representative of the exact result (NaN, ±inf, or finite).

    ``divisor_zero_unsigned``: the divisor's format has one, unsigned zero, so ``x / 0`` is
    NaN for every x (P3109's Divide; docs/semantics.md §3)."""
    r = [_class_representatives(v) for v in vals]
    if op == "div" and divisor_zero_unsigned:
        return np.where(r[1] == 0, np.nan, _exact_class(op, vals))
    with np.errstate(all="ignore"):
        if op == "add":
            return r[0] + r[1]
        if op == "sub":
            return r[0] - r[1]
        if op == "mul":
            return r[0] * r[1]
        if op == "div":
            return r[0] / r[1]
        if op == "fma":
            return r[0] * r[1] + r[2]
        if op == "sqrt":
            return np.sqrt(r[0])
    return r[0]  # encode: the input itself


def witness_format(f: Any) -> FloatFormat | None:
    """The witness format W of result format ``f`` (see the module docstring), or None.

    W has f's precision (man_bits), one more exponent bit, a sign, subnormals and zero, no Inf
    and a NaN; its bias puts f's lowest binade at the same place, so every value of ``f`` is a
    value of W and W's ladder continues f's ladder upward far beyond f's largest value.  W's
    magnitude index of each value of f has the parity of f's own (ties to even and round-to-odd
    decide on it): for f without subnormals and without mantissa bits (E8M0), where the index
    is the exponent itself, f's lowest binade is W's second normal one (bias + 2), so W has one
    more value below f's smallest besides zero."""
    if not isinstance(f, FloatFormat):
        return None
    shift = 0 if f.subnormals else (2 if f.man_bits == 0 else 1)
    try:
        return FloatFormat(f.exp_bits + 1, f.man_bits, bias=f.bias + shift,
                           signed=True, subnormals=True, infinities=False, nan="max")
    except ValueError:
        return None


def _random_array(n: int, nbits: int, seed: int) -> np.ndarray:
    """R of vector j: the top ``nbits`` bits of Philox4x32-10 word j of ``seed``."""
    return (philox_words(seed, 0, n) >> np.uint32(32 - nbits)).astype(np.uint32)


def _project_op(op: str, inputs: list[np.ndarray], fin: Any, fout: Any, **proj: Any
                ) -> np.ndarray:
    """Result codes of ``op`` in ``fout`` by the package's golden model.  ``fin`` is the
    operand format, or a list with one format per operand."""
    if op == "encode":
        return encode(inputs[0], fout, **proj)
    fins = fin if isinstance(fin, list) else [fin] * len(inputs)
    arrays = [from_codes(c, f) for c, f in zip(inputs, fins)]
    fn = getattr(_ops, ARITH_OPS[op][1])
    return fn(*arrays, out_format=fout, **proj).codes


# Operands whose scaling by 2^-s scales the exact result by 2^-s (sqrt: its operand by 2^-2s).
_SCALED_OPERANDS = {"add": (0, 1), "sub": (0, 1), "mul": (0,), "div": (0,), "fma": (0, 2),
                    "sqrt": (0,), "encode": (0,)}


def _halved(op: str, inputs: list[np.ndarray], fin: Any) -> tuple[list[np.ndarray], Any] | None:
    """Operands (same codes, formats with a larger bias) whose exact result is x / 2, or None
    when the operand format cannot be rescaled."""
    if op == "encode":
        return [inputs[0].astype(np.float64) / 2], fin
    if not isinstance(fin, FloatFormat):
        return None
    shift = 2 if op == "sqrt" else 1
    try:
        scaled = fin.replace(bias=fin.bias + shift)
    except ValueError:
        return None
    return inputs, [scaled if i in _SCALED_OPERANDS[op] else fin for i in range(len(inputs))]


def _range_flags(op: str, inputs: list[np.ndarray], fin: Any, fout: Any, result: np.ndarray,
                 rounding: str, nbits: int, random: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """OF, UF, NX of vectors whose exact result x is finite (module docstring), or None when
    they cannot be computed exactly for this result format."""
    kw: dict[str, Any] = {"saturation": "finite"}
    rkw: dict[str, Any] = {"rounding": rounding, **kw}
    if nbits:
        rkw.update(random_bits=nbits, random=random)
    res = decode(result, fout)
    w = witness_format(fout)
    if w is not None:
        # x's neighbours in W (W holds every value of fout, the same ladder below max and its
        # continuation above): x is exact when both directed roundings agree.
        up = decode(_project_op(op, inputs, fin, w, rounding="toward_positive", **kw), w)
        down = decode(_project_op(op, inputs, fin, w, rounding="toward_negative", **kw), w)
        rnd = decode(_project_op(op, inputs, fin, w, **rkw), w)
        huge = (np.abs(up) >= w.max) | (np.abs(down) >= w.max)  # |x| >= max_W > max
        of = huge | (np.abs(rnd) > fout.max)
        if not fout.signed:  # a negative x that does not round to zero (or no zero at all)
            of |= (rnd < 0) if fout.has_zero else (down < 0)
        exact = (up == down) & ~huge
        nx = ~(exact & np.isfinite(res) & (res == up))
        tiny = (np.minimum(np.abs(up), np.abs(down)) < fout.smallest_normal) & ~huge
        uf = nx & ~((up == 0) & (down == 0)) & tiny
        return of, uf, nx
    # Wide formats (no witness): directed roundings in fout itself decide exactness and
    # tininess for |x| <= max; the top is decided on x / 2, which lies in fout's normal range,
    # where rounding commutes with halving.  Needs a zero and max / 2 >= smallest normal.
    if not (isinstance(fout, FloatFormat) and fout.subnormals and fout.signed
            and fout.max / 2 >= fout.smallest_normal):
        return None
    half = _halved(op, inputs, fin)
    if half is None:
        return None
    hin, hfin = half
    pkw = {"saturation": "propagate"}
    up = decode(_project_op(op, inputs, fin, fout, rounding="toward_positive", **pkw), fout)
    down = decode(_project_op(op, inputs, fin, fout, rounding="toward_negative", **pkw), fout)
    hup = decode(_project_op(op, hin, hfin, fout, rounding="toward_positive", **pkw), fout)
    hdown = decode(_project_op(op, hin, hfin, fout, rounding="toward_negative", **pkw), fout)
    hrnd = decode(_project_op(op, hin, hfin, fout, **rkw), fout)
    half_max = fout.max / 2
    of = np.abs(hrnd) > half_max  # also when x / 2 overflows fout (then it is max)
    beyond = (hup > half_max) | (hdown < -half_max)  # |x| > max
    exact_top = (hup == hdown) & (np.abs(hup) == half_max)  # |x| == max
    exact = np.where(np.abs(res) == fout.max, exact_top, (up == down) & ~beyond)
    nx = ~(exact & np.isfinite(res) & (res == np.where(np.abs(res) == fout.max, 2 * hup, up)))
    tiny = (np.minimum(np.abs(up), np.abs(down)) < fout.smallest_normal) & ~beyond
    uf = nx & ~((up == 0) & (down == 0)) & tiny
    return of, uf, nx


def _flags(op: str, inputs: list[np.ndarray], fin: Any, fout: Any, result: np.ndarray,
           in_values: list[np.ndarray], xcls: np.ndarray, rounding: str, nbits: int,
           random: np.ndarray | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Exact flags (module docstring) of each vector, and the names of the flags computed."""
    n = result.shape[0]
    flags = np.zeros(n, dtype=np.uint64)
    any_nan = np.zeros(n, dtype=bool)
    for v in in_values:
        any_nan |= np.isnan(v)
    flags |= np.where(np.isnan(xcls) & ~any_nan, FLAG_BITS["NV"], 0).astype(np.uint64)
    if op == "div":
        a, b = in_values
        dz = np.isfinite(a) & (a != 0) & (b == 0) & ~np.isnan(xcls)  # unsigned 0: NV
        flags |= np.where(dz, FLAG_BITS["DZ"], 0).astype(np.uint64)
    idx = np.flatnonzero(np.isfinite(xcls))
    got = _range_flags(op, [c[idx] for c in inputs], fin, fout, result[idx], rounding, nbits,
                       None if random is None else random[idx])
    if got is None:
        return flags, ("NV", "DZ")
    of, uf, nx = got
    flags[idx] |= (np.where(of, FLAG_BITS["OF"], 0) | np.where(uf, FLAG_BITS["UF"], 0)
                   | np.where(nx, FLAG_BITS["NX"], 0)).astype(np.uint64)
    # Non-finite exact results: NX when the result is not that very value (NaN stays NaN).
    other = ~np.isfinite(xcls)
    if other.any():
        res = decode(result[other], fout)
        xc = xcls[other]
        same = (np.isnan(xc) & np.isnan(res)) | (np.isinf(xc) & (res == xc))
        flags[other] |= np.where(same, 0, FLAG_BITS["NX"]).astype(np.uint64)
    return flags, FLAG_NAMES


def _encode_inputs(fout: Any, dtype: type, count: int | None, seed: int) -> np.ndarray:
    """Inputs for encode vectors: every value of the result format, every midpoint between
    neighbouring values and the input type's neighbours of each midpoint (the rounding
    boundaries), ±0, ±inf, NaN and values beyond the range, then ``count`` random values
    (default 65536) with uniform random sign, exponent over the format's range +-4 and
    random significand bits of the input type."""
    vals = decode(np.arange(_num_codes(fout)), fout)
    fin = np.unique(np.abs(vals[np.isfinite(vals)]))
    mids = (fin[:-1] + fin[1:]) / 2  # exact in float64: neighbours differ in few bits
    big = np.array([fin[-1] * 1.5, fin[-1] * 2, fin[-1] * 4, fin[fin > 0][0] / 2,
                    fin[fin > 0][0] / 4])
    with np.errstate(over="ignore"):  # float32 input: values beyond its range become inf
        base: np.ndarray = np.concatenate([fin, mids, big]).astype(dtype)
    up = np.nextafter(base, dtype(np.inf))
    down = np.nextafter(base, dtype(0))
    probes = np.concatenate([base, up, down])
    probes = np.concatenate([probes, -probes, np.array([0, -0.0, np.inf, -np.inf, np.nan],
                                                       dtype=dtype)]).astype(dtype)
    rng = np.random.default_rng(seed)
    n = DEFAULT_SAMPLES if count is None else count
    lo = math.frexp(float(fin[fin > 0][0]))[1] - 5
    hi = math.frexp(float(fin[-1]))[1] + 4
    ex = rng.integers(lo, hi + 1, size=n)
    mant = 1 + rng.random(size=n)
    sign = np.where(rng.integers(0, 2, size=n) == 1, -1.0, 1.0)
    with np.errstate(over="ignore"):
        rand: np.ndarray = (sign * np.ldexp(mant, ex)).astype(dtype)
    return np.concatenate([probes, rand]) if count is None else rand


def vectors(
    op: str,
    fmt: Any,
    *,
    out_format: Any = None,
    rounding: str = "nearest_even",
    saturation: str = "none",
    random_bits: int | None = None,
    seed: int = 0,
    count: int | None = None,
    input_dtype: str = "float32",
) -> Vectors:
    """Golden test vectors of ``op`` (one of :data:`VECTOR_OPS`).

    Args:
        op: ``add sub mul div fma sqrt`` (operands and result are codes), ``encode`` (input:
            float32/float64 bit patterns, result: codes of ``fmt``), ``decode`` (input: codes
            of ``fmt``, result: float64 or float32 bit patterns).
        fmt: operand format (for ``encode``: the result format).
        out_format: result format of arithmetic ops (default ``fmt``, mixed formats allowed);
            for ``decode`` ``"float64"`` (default) or ``"float32"``.
        rounding, saturation, random_bits: projection settings (docs/semantics.md).
        seed: seeds operand sampling (NumPy PCG64) and, for stochastic modes, the random bits:
            vector j uses R = top ``random_bits`` bits of Philox4x32-10 word j of ``seed``.
        count: ``None``: every operand combination when there are at most
            :data:`EXHAUSTIVE_LIMIT` (every pair of an 8-bit format, every triple of an 8-bit
            FMA), else :data:`DEFAULT_SAMPLES` random ones; an int: that many random ones
            (exhaustive if it covers the space). ``encode``: ``None`` gives the boundary probes
            of the format plus 65536 random inputs; an int gives that many random inputs.
        input_dtype: ``"float32"`` or ``"float64"``: the input type of ``encode`` vectors.

    Raises:
        ValueError / TypeError: unknown op, format, rounding or saturation, bad count/seed, or
            a combination the package rejects (e.g. ``saturation="nan"`` without a NaN code).
    """
    if op not in VECTOR_OPS:
        raise ValueError(f"op={op!r} is not a vector operation; allowed: {', '.join(VECTOR_OPS)}")
    rounding = check_rounding(rounding)
    saturation = check_saturation(saturation)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"seed={seed!r}; allowed: an int in 0..2**64-1")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 1):
        raise ValueError(f"count={count!r}; allowed: None or an int >= 1")
    nbits = random_bits_for(rounding, random_bits)
    fin = _resolve(fmt, "fmt")
    if isinstance(fin, BlockFormat):
        if out_format is not None and op == "encode":
            raise ValueError("encode vectors have one format (the result); do not give "
                             "out_format")
        return block_vectors(op, fin, rounding=rounding, saturation=saturation,
                             random_bits=nbits, seed=seed, count=count,
                             input_dtype=input_dtype if op == "encode" else
                             (out_format or "float64"))
    if op == "dot":
        raise ValueError(f"op='dot' is the block dot product: fmt must be a block format "
                         f"(mxfp8_e4m3, nvfp4, a BlockFormat), got {fin}")
    if op == "decode":
        return _decode_vectors(fin, out_format, count, seed)
    if op == "encode":
        if input_dtype not in FLOAT_INPUTS:
            raise ValueError(f"input_dtype={input_dtype!r}; allowed: float32, float64")
        if out_format is not None and _resolve(out_format, "out_format") != fin:
            raise ValueError("encode vectors have one format (the result); do not give "
                             "out_format")
        fout = fin
        x = _encode_inputs(fout, FLOAT_INPUTS[input_dtype], count, seed)
        if not getattr(fout, "has_nan", True):
            x = x[~np.isnan(x)]
        exhaustive = False
        inputs = [x]
        in_values = [x.astype(np.float64)]
        in_fields = [Field("x", 32 if input_dtype == "float32" else 64)]
        omitted = 0
    else:
        fout = fin if out_format is None else _resolve(out_format, "out_format")
        arity = ARITH_OPS[op][0]
        inputs, exhaustive = _operand_codes([_num_codes(fin)] * arity, count, seed)
        in_values = [decode(c, fin) for c in inputs]
        in_fields = [Field(n, int(fin.bits)) for n in "abc"[:arity]]
    xcls = _exact_class(op, in_values, bool(getattr(fin, "zero_is_unsigned", False)))
    keep = ~np.isnan(xcls) if not getattr(fout, "has_nan", True) else np.ones(xcls.shape, bool)
    omitted = int(keep.size - keep.sum())
    if omitted:
        inputs = [c[keep] for c in inputs]
        in_values = [v[keep] for v in in_values]
        xcls = xcls[keep]
    n = inputs[0].shape[0]
    proj: dict[str, Any] = {"rounding": rounding, "saturation": saturation}
    random = None
    if nbits:
        random = _random_array(n, nbits, seed)
        proj.update(random_bits=nbits, random=random)
    result = _project_op(op, inputs, fin, fout, **proj)
    flags, computed = _flags(op, inputs, fin, fout, result, in_values, xcls, rounding, nbits,
                             random)
    if op == "encode":
        bits_dtype = np.uint32 if input_dtype == "float32" else np.uint64
        cols = [inputs[0].view(bits_dtype).astype(np.uint64)]
    else:
        cols = [c.astype(np.uint64) for c in inputs]
    fields = list(in_fields)
    if nbits:
        assert random is not None
        fields.append(Field("R", nbits))
        cols.append(random.astype(np.uint64))
    fields += [Field("result", int(fout.bits)), Field("flags", len(FLAG_NAMES))]
    cols += [result.astype(np.uint64), flags]
    lns = op in ("add", "sub", "fma") and any(isinstance(f, LNSFormat) for f in (fin, fout))
    return Vectors(op, input_dtype if op == "encode" else fin, fout, rounding, saturation,
                   nbits, seed, exhaustive, omitted, computed, tuple(fields), tuple(cols),
                   lns_add=_describe_lns_add(fout if isinstance(fout, LNSFormat) else fin)
                   if lns else "")


def _block_inputs(bf: BlockFormat, dtype: type, count: int, seed: int) -> np.ndarray:
    """``count`` blocks (rows of ``block_size``) for block encode vectors: element-grid values
    and midpoints times 2^j (ties at every element binade relative to the block's scale),
    blocks whose amax sits at the scale rules' boundaries, random normal blocks over a wide
    exponent range with some zeros, an all-zero block, and NaN / Inf blocks when the scale
    format has NaN.  Deterministic for a seed (NumPy PCG64)."""
    k = bf.block_size[0]
    rng = np.random.default_rng(seed)
    e = bf.element
    vals = decode(np.arange(e.num_codes, dtype=e.dtype), e)
    vals = np.unique(vals[np.isfinite(vals)])
    mids = (vals[1:] + vals[:-1]) / 2
    grid = np.concatenate([vals, mids, -vals, -mids])
    rows = []
    top = 2.0 ** bf.emax_elem
    for j in (0, 3, -5, -40):
        for i0 in range(0, len(grid), k - 1):
            chunk = grid[i0:i0 + k - 1]
            rows.append(np.ldexp(np.concatenate([[top], chunk, np.zeros(k - 1 - len(chunk))]), j))
    for a in (1.0, 2.0 - 2.0 ** -4, float(e.max), 1.5 * float(e.max)):
        for j in (-3, 0, 7):
            rows.append(np.concatenate([[np.ldexp(a, j)], rng.uniform(-1, 1, k - 1)
                                        * np.ldexp(a, j)]))
    rows.append(np.zeros(k))
    if bf.scale.has_nan:
        r = rng.standard_normal(k)
        r[rng.integers(k)] = np.nan
        rows.append(r)
        r = rng.standard_normal(k)
        r[rng.integers(k)] = -np.inf
        rows.append(r)
    fixed = np.stack(rows)[:count]
    rest = max(0, count - fixed.shape[0])
    rnd = rng.standard_normal((rest, k)) * np.exp2(rng.integers(-30, 30, (rest, 1)))
    rnd[rng.random(rnd.shape) < 0.05] = 0.0
    with np.errstate(over="ignore"):
        return np.concatenate([fixed, rnd]).astype(dtype)


def block_vectors(op: str, bf: BlockFormat, *, rounding: str = "nearest_even",
                  saturation: str = "finite", random_bits: int = 0, seed: int = 0,
                  count: int | None = None, input_dtype: str = "float32") -> Vectors:
    """Golden vectors of a block-scaled format (docs/semantics.md §8), one block per vector.

    ``encode``: fields ``x0..x{k-1}`` (float32/float64 bit patterns), ``R0..`` (stochastic
    modes: the top ``random_bits`` bits of Philox4x32-10 word ``j*k + i`` of ``seed`` for
    element i of vector j), ``T`` (the per-tensor scale as float32 bits, when the format has
    one: computed over the whole vector set), then ``scale`` (the block's scale code) and
    ``e0..e{k-1}`` (element codes).  ``decode``: fields ``scale``, ``e0..``, ``T`` (if any),
    then ``r0..`` (float64 or float32 bit patterns of the values).  ``count`` blocks (default
    4096, the boundary blocks first).  1-D blocks only."""
    if len(bf.block_size) != 1:
        raise ValueError(f"vectors of block formats take 1-D blocks; {bf} has 2-D tiles")
    if op not in ("encode", "decode", "dot"):
        raise ValueError(f"op={op!r} for a block format; allowed: encode, decode, dot")
    if op == "dot":
        return _block_dot_vectors(bf, rounding, random_bits, seed, count)
    if input_dtype not in FLOAT_INPUTS:
        raise ValueError(f"input/output type {input_dtype!r}; allowed: float32, float64")
    k = bf.block_size[0]
    n = 4096 if count is None else count
    flat = bf.replace(axis=-1, padding=None)
    width = 32 if input_dtype == "float32" else 64
    udt = np.uint32 if width == 32 else np.uint64
    has_t = bf.tensor_scale is not None
    fields: list[Field] = []
    cols: list[np.ndarray] = []
    if op == "encode":
        x = _block_inputs(flat, FLOAT_INPUTS[input_dtype], n, seed)
        proj: dict[str, Any] = {"rounding": rounding, "saturation": saturation}
        R = None
        if random_bits:
            R = _random_array(x.size, random_bits, seed).reshape(x.shape)
            proj.update(random_bits=random_bits, random=R)
        bc = block_encode(x, flat, **proj)
        xb = x.view(udt).astype(np.uint64)
        fields += [Field(f"x{i}", width) for i in range(k)]
        cols += [xb[:, i] for i in range(k)]
        if R is not None:
            fields += [Field(f"R{i}", random_bits) for i in range(k)]
            cols += [R[:, i].astype(np.uint64) for i in range(k)]
        if has_t:
            t = np.full(x.shape[0], np.float32(bc.tensor_scale)).view(np.uint32)
            fields.append(Field("T", 32))
            cols.append(t.astype(np.uint64))
        fields.append(Field("scale", int(bf.scale.bits)))
        cols.append(bc.scales[:, 0].astype(np.uint64))
        fields += [Field(f"e{i}", int(bf.bits)) for i in range(k)]
        cols += [bc.codes[:, i].astype(np.uint64) for i in range(k)]
        in_fmt: Any = input_dtype
        out_fmt: Any = bf
    else:
        rng = np.random.default_rng(seed)
        ns = bf.scale.num_codes
        scales = np.concatenate([np.arange(ns), rng.integers(0, ns, max(0, n - ns))])[:n]
        codes = rng.integers(0, bf.num_codes, (len(scales), k))
        T = float(np.float32(0.75)) if has_t else 1.0
        with np.errstate(over="ignore"):
            vals = block_decode((codes.astype(bf.dtype), scales[:, None].astype(bf.scale_dtype),
                                 T), flat, dtype=FLOAT_INPUTS[input_dtype])
        fields.append(Field("scale", int(bf.scale.bits)))
        cols.append(scales.astype(np.uint64))
        fields += [Field(f"e{i}", int(bf.bits)) for i in range(k)]
        cols += [codes[:, i].astype(np.uint64) for i in range(k)]
        if has_t:
            fields.append(Field("T", 32))
            cols.append(np.full(len(scales), np.float32(T)).view(np.uint32).astype(np.uint64))
        vb = vals.view(udt).astype(np.uint64)
        fields += [Field(f"r{i}", width) for i in range(k)]
        cols += [vb[:, i] for i in range(k)]
        in_fmt, out_fmt = bf, input_dtype
    return Vectors(op, in_fmt, out_fmt, rounding, saturation, random_bits, seed, False, 0, (),
                   tuple(fields), tuple(cols))


def _block_dot_vectors(bf: BlockFormat, rounding: str, random_bits: int, seed: int,
                       count: int | None) -> Vectors:
    """One MX dot product per vector (docs/semantics.md §8.5): block A (scale ``sa``, elements
    ``a0..``) times block B (``sb``, ``b0..``), times ``TA * TB`` for a two-level format,
    with the binary32 result (float32 bits) of ``mf.block_matmul`` (the exact block partial
    dot times both scales, rounded once to binary32).  A block of 2 elements: every pair of
    element codes (a0, b0), the other elements and the scales drawn with ``seed``; otherwise
    ``count`` (default 4096) random blocks, the first ones at the boundaries (largest
    elements and scales: overflow; all-zero blocks; the smallest scales)."""
    if rounding != "nearest_even" or random_bits:
        raise ValueError("dot vectors round once to binary32 (nearest_even): rounding and "
                         "random_bits do not apply")
    k = bf.block_size[0]
    ne, ns = bf.num_codes, bf.scale.num_codes
    rng = np.random.default_rng(seed)
    exhaustive = k == 2 and count is None and ne * ne <= EXHAUSTIVE_LIMIT
    if exhaustive:
        g = np.indices((ne, ne)).reshape(2, -1)
        n = g.shape[1]
        A = np.stack([g[0], rng.integers(0, ne, n)], axis=1)
        B = np.stack([g[1], rng.integers(0, ne, n)], axis=1)
    else:
        n = 4096 if count is None else count
        A, B = rng.integers(0, ne, (n, k)), rng.integers(0, ne, (n, k))
    one = int(np.argmin(np.abs(np.nan_to_num(value_table(bf.scale), nan=np.inf) - 1.0)))
    near = np.clip(one + rng.integers(-12, 13, (2, n)), 0, ns - 1)
    wide = rng.integers(0, ns, (2, n))
    S = np.where(rng.random((2, n)) < 0.5, near, wide)
    if not exhaustive:  # boundary blocks first
        ev, sv = value_table(bf.element), value_table(bf.scale)
        top = int(np.argmax(np.where(np.isfinite(ev), ev, -np.inf)))
        smax = int(np.argmax(np.where(np.isfinite(sv), sv, -np.inf)))
        bound = [(top, smax, top, smax), (0, one, 0, one), (top, 0, top, 0),
                 (top, smax, 0, one)]
        for i, (ea, sa, eb, sb) in enumerate(bound[:n]):
            A[i], S[0, i], B[i], S[1, i] = ea, sa, eb, sb
    has_t = bf.tensor_scale is not None
    ta, tb = (float(np.float32(0.75)), 1.0) if has_t else (1.0, 1.0)
    fa = bf.replace(axis=-1, padding=None, tensor_scale=None)
    fb = bf.replace(axis=0, padding=None, tensor_scale=None)
    res = np.empty(n, dtype=np.float32)
    for j in range(0, n, 64):  # 64 vectors per product; the diagonal holds their dots
        sl = slice(j, min(n, j + 64))
        a = BlockCodes(A[sl].astype(bf.dtype), S[0, sl, None].astype(bf.scale_dtype), ta, fa)
        b = BlockCodes(B[sl].T.astype(bf.dtype), S[1, None, sl].astype(bf.scale_dtype), tb,
                       fb)
        with np.errstate(all="ignore"):
            res[sl] = np.diagonal(block_matmul(a, b))
    fields = [Field("sa", int(bf.scale.bits))] + [Field(f"a{i}", int(bf.bits)) for i in range(k)]
    fields += [Field("sb", int(bf.scale.bits))] + [Field(f"b{i}", int(bf.bits)) for i in range(k)]
    cols = [S[0].astype(np.uint64)] + [A[:, i].astype(np.uint64) for i in range(k)]
    cols += [S[1].astype(np.uint64)] + [B[:, i].astype(np.uint64) for i in range(k)]
    if has_t:
        fields += [Field("TA", 32), Field("TB", 32)]
        cols += [np.full(n, np.float32(t)).view(np.uint32).astype(np.uint64) for t in (ta, tb)]
    fields.append(Field("result", 32))
    cols.append(res.view(np.uint32).astype(np.uint64))
    return Vectors("dot", bf, "float32", "nearest_even", "none", 0, seed, exhaustive, 0, (),
                   tuple(fields), tuple(cols))


def _describe_lns_add(fmt: Any) -> str:
    """The LNS addition algorithm in force, as recorded in a vectors header (interp: with
    every parameter resolved for the format's frac_bits)."""
    algo = current().lns_add
    if algo == "interp" or isinstance(algo, Interp):
        return (Interp() if algo == "interp" else algo).describe(fmt.frac_bits)
    return algo if isinstance(algo, str) else "user table"


def _decode_vectors(fin: Any, out_format: Any, count: int | None, seed: int) -> Vectors:
    """Every code (or ``count`` random ones) with the bit pattern of its float value."""
    out = "float64" if out_format is None else out_format
    if out not in FLOAT_INPUTS:
        raise ValueError(f"decode vectors give float bit patterns; out_format={out_format!r}; "
                         "allowed: float64, float32")
    (codes,), exhaustive = _operand_codes([_num_codes(fin)], count, seed)
    exact = decode(codes, fin)  # float64 is exact for every format
    got = exact.astype(FLOAT_INPUTS[out])
    back = got.astype(np.float64)
    finite = np.isfinite(exact)
    nx = finite & (back != exact)
    of = finite & np.isinf(back)
    uf = nx & (exact != 0) & (np.abs(exact) < np.finfo(FLOAT_INPUTS[out]).tiny)
    flags = (np.where(of, FLAG_BITS["OF"], 0) | np.where(uf, FLAG_BITS["UF"], 0)
             | np.where(nx, FLAG_BITS["NX"], 0)).astype(np.uint64)
    width = 64 if out == "float64" else 32
    bits = got.view(np.uint64 if width == 64 else np.uint32).astype(np.uint64)
    return Vectors("decode", fin, out, "nearest_even", "none", 0, seed, exhaustive, 0,
                   ("OF", "UF", "NX"),
                   (Field("a", int(fin.bits)), Field("result", width),
                    Field("flags", len(FLAG_NAMES))),
                   (codes.astype(np.uint64), bits, flags))


_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def _chunks(vec: Vectors, hex_word: bool, rows: int = 1 << 20) -> Iterator[bytes]:
    """The vector lines as bytes, ``rows`` at a time (vectorised hex formatting)."""
    sep = 0 if hex_word else 1
    for start in range(0, len(vec), rows):
        stop = min(start + rows, len(vec))
        parts = []
        for i, (f, col) in enumerate(zip(vec.fields, vec.columns)):
            c = col[start:stop]
            shifts = np.arange(4 * (f.digits - 1), -1, -4, dtype=np.uint64)
            parts.append(_HEX[((c[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)])
            if sep and i < len(vec.fields) - 1:
                parts.append(np.full((stop - start, 1), ord(" "), dtype=np.uint8))
        parts.append(np.full((stop - start, 1), ord("\n"), dtype=np.uint8))
        yield np.ascontiguousarray(np.hstack(parts)).tobytes()


def iter_lines(vec: Vectors, hex_word: bool = False) -> Iterator[str]:
    """The data lines (without header) as written by :func:`write_vectors`."""
    for chunk in _chunks(vec, hex_word):
        yield from chunk.decode("ascii").splitlines()


def write_vectors(vec: Vectors, path: str | os.PathLike[str], hex_word: bool = False) -> None:
    """Write ``vec`` to ``path`` atomically (a temporary file in the same folder, renamed when
    complete: a failure leaves nothing half-written).

    Default layout: a ``#`` comment header, then one vector per line, fields as upper-case hex
    separated by single spaces. ``hex_word=True``: a ``//`` comment header and one packed word
    per line (the fields' hex digits concatenated), readable by Verilog ``$readmemh``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".minifloat-", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(("\n".join(vec.header("//" if hex_word else "#")) + "\n").encode())
            for chunk in _chunks(vec, hex_word):
                fh.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# The `minifloat vectors` command
# ---------------------------------------------------------------------------------------------

_VECTORS_HELP = "golden test vectors of an operation (exhaustive for <= 8-bit formats)"


def add_vectors_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``vectors`` subcommand to an argparse subparsers object."""
    sp = subparsers.add_parser("vectors", help=_VECTORS_HELP, description=_VECTORS_HELP
                               + "; layout and flag definitions: docs/hardware.md")
    sp.add_argument("--format", required=True, dest="vformat",
                    help="operand format: preset or alias (e4m3, bf16, ...) or P3109 name")
    sp.add_argument("--bias", type=int, default=None, help="override the operand format's bias")
    sp.add_argument("--op", default="add", help=f"one of {', '.join(VECTOR_OPS)} (default add)")
    sp.add_argument("--out-format", default=None,
                    help="result format (default: --format); for decode float64 or float32")
    sp.add_argument("--out-bias", type=int, default=None, help="override the result's bias")
    sp.add_argument("--rounding", default="nearest_even", help="rounding mode (semantics.md)")
    sp.add_argument("--saturation", default=None,
                    help=f"one of {', '.join(SATURATIONS)} (default none; finite for block "
                         "formats)")
    sp.add_argument("--random-bits", type=int, default=None,
                    help="N random bits for stochastic roundings (1..32)")
    sp.add_argument("--seed", type=int, default=0, help="sampling and Philox seed (default 0)")
    sp.add_argument("--count", type=int, default=None,
                    help="number of sampled vectors (default: exhaustive when <= 2^24)")
    sp.add_argument("--input", default="float32", choices=sorted(FLOAT_INPUTS),
                    help="input type of encode vectors")
    sp.add_argument("--lns-add", default=None,
                    help="LNS addition algorithm for add/sub/fma vectors of LNS formats: "
                         "exact, table, interp, mitchell, or interp(step_bits=S,guard_bits=G,"
                         "critical_bits=C,cotrans_bits=K) (docs/lns_fixed.md; default exact)")
    sp.add_argument("--out", required=True, help="output file (written atomically)")
    sp.add_argument("--hex", action="store_true",
                    help="one packed hex word per line for Verilog $readmemh")
    sp.set_defaults(run=run_vectors)
    return sp


def _with_bias(f: Any, bias: int, option: str) -> FloatFormat:
    if not isinstance(f, FloatFormat):
        raise ValueError(f"{option} applies to float formats; {f} is not one")
    return f.replace(bias=bias)


def run_vectors(args: argparse.Namespace) -> int:
    """Run ``minifloat vectors``; returns 0, 2 for bad arguments, 1 for I/O errors."""
    try:
        fin = format(args.vformat)
        if args.bias is not None:
            fin = _with_bias(fin, args.bias, "--bias")
        fout: Any = args.out_format
        if args.op != "decode" and fout is not None:
            fout = format(fout)
        if args.out_bias is not None:
            fout = _with_bias(fin if fout is None else fout, args.out_bias, "--out-bias")
        if args.op == "encode" and fout == fin:
            fout = None
        if args.rounding in STOCHASTIC and args.op == "decode":
            raise ValueError("decode vectors are exact; a rounding mode does not apply")
        sat = args.saturation or (fin.saturation if isinstance(fin, BlockFormat) else "none")
        with config(lns_add=parse_lns_add(args.lns_add or "exact")):
            vec = vectors(args.op, fin, out_format=fout, rounding=args.rounding,
                          saturation=sat, random_bits=args.random_bits,
                          seed=args.seed, count=args.count, input_dtype=args.input)
    except (ValueError, TypeError) as e:
        print(f"minifloat vectors: error: {e}", file=sys.stderr)
        return 2
    try:
        write_vectors(vec, args.out, hex_word=args.hex)
    except OSError as e:
        print(f"minifloat vectors: error: cannot write {args.out}: {e}", file=sys.stderr)
        return 1
    how = "exhaustive" if vec.exhaustive else "sampled"
    print(f"wrote {len(vec)} {how} {vec.op} vectors to {args.out}"
          + (f" ({vec.omitted} NaN-result combinations omitted)" if vec.omitted else ""),
          file=sys.stderr)
    return 0


__all__ = [
    "ARITH_OPS", "DEFAULT_SAMPLES", "EXHAUSTIVE_LIMIT", "FLAG_BITS", "FLAG_NAMES", "Field",
    "VECTOR_OPS", "Vectors", "add_vectors_parser", "hex_value", "iter_lines", "run_vectors",
    "table_csv", "value_rows", "vectors", "witness_format", "write_vectors",
]
