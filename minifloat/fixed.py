"""Fixed-point formats: :class:`FixedFormat` and per-tensor precision helpers.

A code of ``FixedFormat(int_bits, frac_bits, signed=True)`` is an integer ``c`` of
``bits = signed + int_bits + frac_bits`` bits, two's complement when signed, with value

    value(c) = c * 2^-frac_bits,       c in [-2^(bits-1), 2^(bits-1) - 1]   (signed)
                                       c in [0, 2^bits - 1]                 (unsigned)

so ``int_bits`` counts the integer bits *without* the sign bit (Q-format "Qm.n" in the TI
convention: ``FixedFormat(3, 4)`` is 8 bits, range [-8, 7.9375], step 1/16).
``frac_bits`` may be negative (an LSB above 1) and ``int_bits`` may be negative (a purely
fractional range below 1/2) as long as 1 <= bits <= 32.

Projection (docs/lns_fixed.md §1) rounds ``|x| * 2^frac_bits`` to an integer with any rounding
mode of docs/semantics.md §2 (t = truncation toward zero, u = t + 1, "t is odd" = t's LSB),
then saturates (``saturation="finite"``, also what ``"none"``/``"propagate"`` mean here, since
there is no Inf or NaN) or wraps modulo 2^bits (``saturation="wrap"``). NaN has no code
(ValueError); +-Inf saturate to the extreme codes under every saturation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np

from . import _core
from .formats import _check_int

FRAC_BITS_RANGE = (-32, 64)


@dataclass(frozen=True)
class FixedFormat:
    """A binary fixed-point format (two's complement when ``signed``).

    Args:
        int_bits: integer bits, not counting the sign bit (may be negative).
        frac_bits: fraction bits F, -32..64; the LSB weighs 2^-F.
        signed: two's complement with a sign bit (total bits = signed + int_bits + frac_bits,
            1..32; codes are uint8, uint16 or uint32).
        name: a label; not part of equality.
    """

    int_bits: int
    frac_bits: int
    signed: bool = True
    name: str | None = field(default=None, compare=False)

    def __init__(self, int_bits: int, frac_bits: int, *, signed: bool = True,
                 name: str | None = None) -> None:
        i = _check_int("int_bits", int_bits, -96, 64)
        f = _check_int("frac_bits", frac_bits, *FRAC_BITS_RANGE)
        if not isinstance(signed, (bool, np.bool_)):
            raise TypeError(f"signed must be True or False, got {signed!r}")
        bits = int(signed) + i + f
        if not 1 <= bits <= 32 or i + f < 0 or (not signed and i + f < 1):
            raise ValueError(f"total bits (signed + int_bits + frac_bits) = {bits}; allowed: "
                             "1..32 with int_bits + frac_bits >= 0 (>= 1 when unsigned)")
        object.__setattr__(self, "int_bits", i)
        object.__setattr__(self, "frac_bits", f)
        object.__setattr__(self, "signed", bool(signed))
        object.__setattr__(self, "name", name)

    # ---- plumbing ----
    @property
    def spec(self) -> tuple[int, int, int]:
        """The descriptor tuple of the C++ core (fixed.h ``make_fixed_spec``)."""
        return (self.int_bits, self.frac_bits, int(self.signed))

    def __repr__(self) -> str:
        extra = "" if self.signed else ", signed=False"
        label = f", name={self.name!r}" if self.name else ""
        return f"FixedFormat(int_bits={self.int_bits}, frac_bits={self.frac_bits}{extra}{label})"

    def __str__(self) -> str:
        return self.name or (f"{'s' if self.signed else 'u'}fix{self.bits}"
                             f"_{self.int_bits}.{self.frac_bits}")

    def replace(self, **changes: Any) -> FixedFormat:
        """A copy with some parameters changed."""
        kw: dict[str, Any] = {"int_bits": self.int_bits, "frac_bits": self.frac_bits,
                              "signed": self.signed}
        kw.update(changes)
        return FixedFormat(kw.pop("int_bits"), kw.pop("frac_bits"), **kw)

    # ---- sizes and codes ----
    @property
    def bits(self) -> int:
        """Total bits of a code."""
        return int(self.signed) + self.int_bits + self.frac_bits

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of codes: uint8 (<= 8 bits), uint16 (<= 16) or uint32."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16 if self.bits <= 16
                        else np.uint32)

    @property
    def num_codes(self) -> int:
        """2**bits."""
        return 1 << self.bits

    @property
    def max_int(self) -> int:
        """Largest integer c: 2^(bits-1) - 1 signed, 2^bits - 1 unsigned."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min_int(self) -> int:
        """Smallest integer c: -2^(bits-1) signed, 0 unsigned."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    has_nan = False
    has_inf = False
    has_zero = True
    code_of_nan = None
    code_of_inf = None
    code_of_zero = 0

    @property
    def fits_float32(self) -> bool:
        """Every value is a float32 (|c| < 2^24 and the LSB within float32's range)."""
        return max(-self.min_int, self.max_int) <= 1 << 24 and -149 <= -self.frac_bits and \
            self.bits - self.frac_bits <= 127

    @property
    def code_of_max(self) -> int:
        """Code of the largest value."""
        return self.max_int

    @property
    def code_of_min(self) -> int:
        """Code of the smallest (most negative) value."""
        return self.min_int & ((1 << self.bits) - 1)

    def code_of_int(self, c: int) -> int:
        """The code of integer c (two's complement in ``bits`` bits)."""
        if not self.min_int <= c <= self.max_int:
            raise ValueError(f"integer {c} is outside {self.min_int}..{self.max_int} of {self}")
        return c & ((1 << self.bits) - 1)

    # ---- finfo-style properties ----
    @property
    def resolution(self) -> float:
        """The LSB: 2^-frac_bits (also ``eps``)."""
        return math.ldexp(1.0, -self.frac_bits)

    eps = resolution

    @property
    def max(self) -> float:
        """Largest value: max_int * 2^-frac_bits."""
        return math.ldexp(float(self.max_int), -self.frac_bits)

    @property
    def min(self) -> float:
        """Smallest value: -2^int_bits when signed, 0 unsigned."""
        return math.ldexp(float(self.min_int), -self.frac_bits)

    @property
    def smallest_subnormal(self) -> float:
        """The smallest positive value (the LSB)."""
        return self.resolution

    smallest_normal = smallest_subnormal

    @cached_property
    def _small_table(self) -> np.ndarray | None:
        if self.bits > 16:
            return None
        codes = np.arange(self.num_codes, dtype=self.dtype)
        out = np.empty(codes.shape, dtype=np.float64)
        _core.fixed_decode(codes, self.spec, out)
        out.setflags(write=False)
        return out

    def value_table(self) -> np.ndarray:
        """Exact float64 value of every code (formats up to 16 bits)."""
        t = self._small_table
        if t is None:
            raise ValueError(f"{self} has 2^{self.bits} codes; value tables stop at 16 bits")
        return t

    # ---- codec hooks (called by minifloat.codec) ----
    def _encode_into(self, x: np.ndarray, mode: int, sat: int, nbits: int, rsrc: int, seed: int,
                     offset: int, random: np.ndarray | None, out: np.ndarray) -> bool:
        return bool(_core.fixed_encode(x, self.spec, mode, sat, nbits, rsrc, seed, offset,
                                       random, out))

    def _decode_into(self, codes: np.ndarray, out: np.ndarray) -> int:
        return int(_core.fixed_decode(codes, self.spec, out))


def sakr_quantize(w: Any, bits: int) -> np.ndarray:
    """Sakr & Shanbhag (ICLR 2019) weight quantizer for weights in [-1, 1]:

        Qw(w, B) = min(1 - 2^(1-B), round(w * 2^(B-1)) * 2^(1-B))

    i.e. B-bit signed fixed point ``FixedFormat(0, B-1)`` (round to nearest, ties to even),
    clipped to [-1, 1 - 2^(1-B)]. Returns float64 values.
    """
    from .codec import quantize

    b = _check_int("bits", bits, 2, 32)
    return quantize(np.asarray(w, dtype=np.float64), cast(Any, FixedFormat(0, b - 1)),
                    rounding="nearest_even", saturation="finite")


def sakr_precision(dynamic_range: float, lsb: float) -> int:
    """Per-tensor precision rule of Sakr & Shanbhag (ICLR 2019): the bits needed to cover
    ``dynamic_range`` (largest magnitude) with step ``lsb`` plus a sign bit,

        B = ceil(log2(dynamic_range / lsb)) + 1.
    """
    if not (dynamic_range > 0 and lsb > 0 and math.isfinite(dynamic_range)
            and math.isfinite(lsb)):
        raise ValueError("dynamic_range and lsb must be finite and > 0")
    ratio = dynamic_range / lsb
    if not math.isfinite(ratio):
        raise ValueError("dynamic_range / lsb overflows float64")
    m, e = math.frexp(ratio)  # ratio = m 2^e, 0.5 <= m < 1: ceil(log2) exactly
    return max(1, (e - 1 if m == 0.5 else e) + 1)


def fixed_for_range(dynamic_range: float, lsb: float, *, signed: bool = True) -> FixedFormat:
    """The smallest FixedFormat whose LSB 2^-F is <= ``lsb`` (F = ceil(-log2 lsb)) and whose
    range [-2^I, 2^I) (or [0, 2^I) unsigned) reaches ``dynamic_range`` (I = ceil(log2 range)):
    the Sakr-Shanbhag precision rule with a power-of-two LSB."""
    if not (0 < dynamic_range < math.inf and 0 < lsb < math.inf):
        raise ValueError("dynamic_range and lsb must be finite and > 0")
    f = 1 - math.frexp(lsb)[1]
    m, e = math.frexp(dynamic_range)
    i = e - 1 if m == 0.5 else e
    i = max(i, -f if signed else 1 - f)
    return FixedFormat(i, f, signed=signed)


# ---- arithmetic on fixed-point codes (dispatched from minifloat.ops / minifloat.linalg) ----
# arith.h ArithOp numbers
_OPS = {"add": 0, "subtract": 1, "multiply": 2, "divide": 3, "fma": 4, "sqrt": 5,
        "negative": 6, "absolute": 7, "positive": 8}


def _check_alignment(name: str, fmts: list[Any], fo: FixedFormat) -> None:
    """Exact results are formed in 128-bit integers; reject the (exotic) format combinations
    whose alignment would not fit, rather than compute them wrongly."""
    fa = fmts[0]
    if name in ("add", "subtract") and abs(fa.frac_bits - fmts[1].frac_bits) > 94:
        raise ValueError(f"{name}: frac_bits {fa.frac_bits} and {fmts[1].frac_bits} differ by "
                         "more than 94; convert one operand first")
    if name == "fma":
        sab, fc = fa.frac_bits + fmts[1].frac_bits, fmts[2].frac_bits
        if sab - fc > 94 or fc - sab > 63:
            raise ValueError("fma: the product's scale 2^-(Fa+Fb) and the addend's 2^-Fc are "
                             "too far apart (allowed: -63 <= Fa+Fb-Fc <= 94)")
    if name == "sqrt" and 2 * fo.frac_bits - fa.frac_bits > 86:
        raise ValueError("sqrt: the result format has too many fraction bits for the operand "
                         "(allowed: 2*F_out - F_in <= 86)")


def elementwise(name: str, codes: list[np.ndarray], fmts: list[Any], fo: Any, p: Any,
                out: np.ndarray) -> bool:
    """``out`` = codes of op ``name`` on fixed-point operands, rounded once into ``fo``
    (projection settings ``p`` of minifloat.codec.resolve_projection). Unary copies
    (positive / negative / absolute) also convert between fixed point and float formats
    through exact float64 values. Returns False if a NaN result has no code."""
    from .codec import encode_resolved
    from .formats import FloatFormat

    if all(isinstance(f, FixedFormat) for f in [*fmts, fo]):
        _check_alignment(name, fmts, fo)
        ops = [np.ascontiguousarray(c) for c in codes]
        specs = [f.spec for f in fmts]
        while len(ops) < 3:
            ops.append(ops[0])
            specs.append(specs[0])
        return bool(_core.fixed_arith(_OPS[name], ops[0], specs[0], ops[1], specs[1], ops[2],
                                      specs[2], fo.spec, p.mode, p.sat, p.nbits, p.rsrc, p.seed,
                                      p.offset, p.random, out))
    exact_source = isinstance(fmts[0], (FixedFormat, FloatFormat))
    if name in ("positive", "negative", "absolute") and exact_source:
        from .codec import decode

        v = decode(codes[0], fmts[0])  # exact in float64 for fixed-point and float formats
        v = {"positive": np.positive, "negative": np.negative, "absolute": np.abs}[name](v)
        return encode_resolved(v, fo, p, out)
    raise ValueError(f"{name}: operands {', '.join(map(str, fmts))} -> {fo} mix fixed point "
                     "with another number system; convert operands with astype() first")


def contract(a: np.ndarray, fa: Any, b: np.ndarray | None, fb: Any, fo: Any, kind: int,
             facc: Any, order: str, block: int, projection: dict[str, Any]) -> np.ndarray:
    """Codes of ``a @ b`` (or row sums of a when b is None) for fixed-point operands:
    exact products, accumulated by ``kind`` (linalg ACC_*: 0 exact, 1 a format, 2 float32,
    3 float64) in ``order``, then projected once into ``fo`` (fixed or float)."""
    from .codec import resolve_projection
    from .formats import FloatFormat

    if not isinstance(fa, FixedFormat) or (b is not None and not isinstance(fb, FixedFormat)):
        raise ValueError(f"contraction of {fa} with {fb}: fixed-point operands must not be "
                         "mixed with other number systems; convert with astype() first")
    if kind < 0:
        raise ValueError("accumulator='float32_blas' is for float formats; use 'float32'")
    M, K = a.shape
    N = 1 if b is None else b.shape[1]
    sab = fa.frac_bits + (fb.frac_bits if b is not None else 0)
    acc, sacc = kind, cast(tuple[int, ...], fa.spec)
    if kind == 1:
        if isinstance(facc, FixedFormat):
            if sab - facc.frac_bits > 94 or facc.frac_bits - sab > 63:
                raise ValueError(f"accumulator {facc}: its frac_bits {facc.frac_bits} is too far "
                                 f"from the products' {sab} (allowed: -63 <= {sab} - F <= 94)")
            sacc = facc.spec
        elif isinstance(facc, FloatFormat):
            acc, sacc = 4, facc.spec
        else:
            raise ValueError(f"accumulator {facc} cannot accumulate fixed-point products")
    if kind == 3:
        mags = [max(-f.min_int, f.max_int).bit_length() for f in
                ([fa, fb] if b is not None else [fa])]
        if sum(mags) > 53:
            raise ValueError(f"accumulator='float64' needs float64-exact products; those of "
                             f"{fa} and {fb} have up to {sum(mags)} bits; use 'exact' or a format")
    if not isinstance(fo, (FixedFormat, FloatFormat)):
        raise ValueError(f"out_format {fo} cannot take a fixed-point sum; use astype() after")
    p = resolve_projection(cast(Any, fo), (M * N * (K + 1),), **projection)
    if p.rsrc == 2:
        raise ValueError("random= is not supported for contractions; use seed=")
    out = np.empty((M, N), dtype=fo.dtype)
    ok = _core.fixed_contract(np.ascontiguousarray(a), fa.spec,
                              None if b is None else np.ascontiguousarray(b),
                              (fb if b is not None else fa).spec, M, K, N, acc, sacc, fo.spec,
                              p.mode, p.sat, p.nbits, int(order == "pairwise"), block, p.rsrc,
                              p.seed, p.offset, out)
    if not ok:
        raise ValueError(f"a NaN result has no code in {fo} (it has no NaN)")
    return out


def ones_like_codes(shape: tuple[int, ...]) -> tuple[np.ndarray, FixedFormat]:
    """Codes and format of an array of exact 1s (the 2-bit FixedFormat(1, 0) holds 1)."""
    return np.ones(shape, dtype=np.uint8), FixedFormat(1, 0)
