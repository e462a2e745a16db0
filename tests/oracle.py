"""Independent exact reference for minifloat formats, projection and random bits.

Written from docs/semantics.md alone, with exact rationals (``fractions.Fraction``).
It deliberately uses a different method from the implementation: the finite values of a
format are enumerated into a sorted "ladder" of magnitudes, and the two neighbours t <= |x| < u
of a value are found by bisection.  Nothing here imports the package under test; a format
object of the package is only read through its public attributes
(exp_bits, man_bits, bias, signed, subnormals, infinities, nan, negative_zero).

Decoded values are ``Fraction`` (finite non-zero), ``('zero', sign)`` (sign 0 or 1),
``UZERO`` (the only zero of a format without -0: P3109 and unsigned formats), ``'nan'``,
``'+inf'`` or ``'-inf'``.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction
from functools import cache, lru_cache

import numpy as np

NAN = "nan"
PINF = "+inf"
NINF = "-inf"
UZERO = ("zero", 0, "unsigned")  # an unsigned zero: x / UZERO is NaN (P3109 Divide)

NAN_KINDS = ("ieee", "max", "negzero", "none")

ROUNDINGS = (
    "nearest_even",
    "nearest_away",
    "nearest_zero",
    "toward_zero",
    "toward_positive",
    "toward_negative",
    "odd",
    "stochastic_a",
    "stochastic_b",
    "stochastic_c",
    "stochastic",
    "stochastic_equal",
)
DETERMINISTIC = ROUNDINGS[:7]
STOCHASTIC = ROUNDINGS[7:]
SATURATIONS = ("none", "finite", "propagate", "nan")


# --------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------


class OFormat:
    """A float format described by plain parameters (semantics.md §1)."""

    def __init__(
        self,
        exp_bits,
        man_bits,
        bias=None,
        signed=True,
        subnormals=True,
        infinities=True,
        nan="ieee",
        negative_zero=True,
    ):
        e, m = int(exp_bits), int(man_bits)
        if e < 0 or m < 0:
            raise ValueError("oracle: negative field width")
        if bias is None:
            if e == 0:
                raise ValueError("oracle: exp_bits=0 needs an explicit bias")
            bias = 2 ** (e - 1) - 1
        if nan not in NAN_KINDS:
            raise ValueError(f"oracle: unknown nan kind {nan!r}")
        if nan == "negzero" and not signed:
            raise ValueError("oracle: nan='negzero' needs a signed format")
        self.exp_bits = e
        self.man_bits = m
        self.bias = int(bias)
        self.signed = bool(signed)
        self.subnormals = bool(subnormals)
        self.infinities = bool(infinities)
        self.nan = nan
        # negative zero only exists for signed formats whose -0 code is not the NaN
        self.negative_zero = bool(negative_zero) and self.signed and nan != "negzero"
        self.bits = int(self.signed) + e + m
        self.nmag = 1 << (e + m)  # number of magnitude indices
        self.sign_bit = (1 << (e + m)) if self.signed else 0
        self.num_codes = 1 << self.bits
        self.key = (
            e,
            m,
            self.bias,
            self.signed,
            self.subnormals,
            self.infinities,
            self.nan,
            self.negative_zero,
        )
        self._build()

    # -- construction from the package's format object -------------------------------
    @classmethod
    def of(cls, f):
        if isinstance(f, OFormat):
            return f
        key = (
            int(f.exp_bits),
            int(f.man_bits),
            int(f.bias),
            bool(f.signed),
            bool(f.subnormals),
            bool(f.infinities),
            str(f.nan),
            bool(f.negative_zero),
        )
        return _cached_format(key)

    def __repr__(self):
        return (
            f"OFormat(e={self.exp_bits}, m={self.man_bits}, bias={self.bias}, "
            f"signed={self.signed}, subnormals={self.subnormals}, "
            f"infinities={self.infinities}, nan={self.nan!r}, "
            f"negative_zero={self.negative_zero})"
        )

    def __eq__(self, other):
        return isinstance(other, OFormat) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    # -- magnitude indices ------------------------------------------------------------
    def mag_kind(self, k):
        """'nan', 'inf' or 'finite' for magnitude index k (of a non-negzero code)."""
        e, m = self.exp_bits, self.man_bits
        top = self.nmag - 1
        if self.nan == "ieee":
            if e > 0 and (k >> m) == (1 << e) - 1:
                if k & ((1 << m) - 1):
                    return "nan"
                if self.infinities:
                    return "inf"
            return "finite"
        if self.nan == "max":
            if k == top:
                return "nan"
            if self.infinities and k == top - 1:
                return "inf"
            return "finite"
        # "negzero" and "none": infinities take the all-ones magnitude
        if self.infinities and k == top:
            return "inf"
        return "finite"

    def mag_value(self, k):
        """Exact value of magnitude index k; k may lie above the format (unbounded range)."""
        m = self.man_bits
        E, M = k >> m, k & ((1 << m) - 1)
        if self.subnormals and E == 0:
            return Fraction(M) * _pow2(1 - self.bias - m)
        return Fraction((1 << m) + M) * _pow2(E - self.bias - m)

    def _build(self):
        ks = [k for k in range(self.nmag) if self.mag_kind(k) == "finite"]
        if not ks:
            raise ValueError("oracle: format has no finite values")
        self.ladder_k = ks
        self.ladder = [self.mag_value(k) for k in ks]
        for a, b in zip(self.ladder, self.ladder[1:]):
            assert a < b
        self.index_of = {k: i for i, k in enumerate(ks)}
        self.max_k = ks[-1]
        self.max = self.ladder[-1]
        # the next value of the format's precision above max (unbounded exponent range)
        self.max_next = self.mag_value(self.max_k + 1)
        self.has_zero = self.subnormals
        self.smallest = self.ladder[0]  # smallest magnitude (0 if the format has zero)
        self.has_nan = self.nan_code(False) is not None
        self.has_inf = self.inf_code(False) is not None
        # smallest normal (for flush): 2^(1-b) with subnormals, else there is none
        self.smallest_normal = _pow2(1 - self.bias) if self.subnormals else _pow2(-self.bias)

    # -- special codes ------------------------------------------------------------
    def _sign(self, neg):
        return self.sign_bit if (neg and self.signed) else 0

    def nan_code(self, neg=False):
        """Canonical NaN code produced by projection, or None."""
        e, m = self.exp_bits, self.man_bits
        if self.nan == "ieee":
            if e == 0 or m == 0:
                return None
            return self._sign(neg) | (((1 << e) - 1) << m) | (1 << (m - 1))
        if self.nan == "max":
            return self._sign(neg) | (self.nmag - 1)
        if self.nan == "negzero":
            return self.sign_bit
        return None

    def inf_code(self, neg=False):
        if not self.infinities:
            return None
        if neg and not self.signed:
            return None
        e, m = self.exp_bits, self.man_bits
        if self.nan == "ieee":
            if e == 0:
                return None
            return self._sign(neg) | (((1 << e) - 1) << m)
        if self.nan == "max":
            return self._sign(neg) | (self.nmag - 2)
        return self._sign(neg) | (self.nmag - 1)

    def max_code(self, neg=False):
        return self._sign(neg) | self.max_k

    def zero_code(self, neg=False):
        if not self.has_zero:
            return None
        if neg and self.negative_zero:
            return self.sign_bit
        return 0

    def code_of_mag(self, k, neg):
        if k == 0 and self.has_zero:
            return self.zero_code(neg)
        return self._sign(neg) | k

    # -- finfo-like quantities ---------------------------------------------------
    def finite_values(self):
        """Sorted list of all distinct finite values (Fractions; zero once)."""
        pos = list(self.ladder)
        if self.signed:
            neg = [-v for v in reversed(pos) if v != 0]
            return neg + pos
        return pos

    def smallest_subnormal(self):
        nz = [v for v in self.ladder if v != 0]
        return nz[0]

    def representable_in_float64(self):
        """Every finite value is exactly a float64 (semantics.md §1)."""
        for v in (self.smallest_subnormal(), self.max):
            if not _exact_float(v):
                return False
        # all values are n * 2^q with n < 2^(m+1) <= 2^17 and q >= that of the smallest
        return True


def _exact_float(v):
    try:
        f = float(v)
    except OverflowError:
        return False
    return math.isfinite(f) and Fraction(f) == v


@cache
def _cached_format(key):
    e, m, bias, signed, sub, inf, nan, nz = key
    return OFormat(e, m, bias, signed, sub, inf, nan, nz)


@lru_cache(maxsize=4096)
def _pow2(n):
    return Fraction(2) ** n


def p3109(k, p, signed=True, extended=True):
    """OFormat for IEEE P3109 binary{k}p{p} (interim report v4.0)."""
    if signed:
        return OFormat(
            k - p,
            p - 1,
            bias=2 ** (k - p - 1),
            signed=True,
            subnormals=True,
            infinities=extended,
            nan="negzero",
            negative_zero=False,
        )
    # unsigned: NaN at 2^k - 1 (all-ones), +Inf at 2^k - 2 -> the "max" layout
    return OFormat(
        k - p + 1,
        p - 1,
        bias=2 ** (k - p),
        signed=False,
        subnormals=True,
        infinities=extended,
        nan="max",
        negative_zero=False,
    )


# The ml_dtypes types (and IEEE ones) described in the oracle's own terms.
ML_DTYPES_FORMATS = {
    "float8_e4m3fn": dict(exp_bits=4, man_bits=3, bias=7, nan="max", infinities=False),
    "float8_e5m2": dict(exp_bits=5, man_bits=2, bias=15),
    "float8_e4m3fnuz": dict(
        exp_bits=4, man_bits=3, bias=8, nan="negzero", infinities=False, negative_zero=False
    ),
    "float8_e5m2fnuz": dict(
        exp_bits=5, man_bits=2, bias=16, nan="negzero", infinities=False, negative_zero=False
    ),
    "float8_e4m3b11fnuz": dict(
        exp_bits=4, man_bits=3, bias=11, nan="negzero", infinities=False, negative_zero=False
    ),
    "float8_e3m4": dict(exp_bits=3, man_bits=4, bias=3),
    "float8_e4m3": dict(exp_bits=4, man_bits=3, bias=7),
    "float8_e8m0fnu": dict(
        exp_bits=8,
        man_bits=0,
        bias=127,
        signed=False,
        subnormals=False,
        infinities=False,
        nan="max",
        negative_zero=False,
    ),
    "float6_e2m3fn": dict(exp_bits=2, man_bits=3, bias=1, nan="none", infinities=False),
    "float6_e3m2fn": dict(exp_bits=3, man_bits=2, bias=3, nan="none", infinities=False),
    "float4_e2m1fn": dict(exp_bits=2, man_bits=1, bias=1, nan="none", infinities=False),
    "float16": dict(exp_bits=5, man_bits=10, bias=15),
    "bfloat16": dict(exp_bits=8, man_bits=7, bias=127),
}


def preset(name):
    return OFormat(**ML_DTYPES_FORMATS[name])


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------


def decode(fmt, code):
    """Exact meaning of a code: Fraction, ('zero', sign), 'nan', '+inf' or '-inf'."""
    f = OFormat.of(fmt)
    code = int(code)
    if not 0 <= code < f.num_codes:
        raise ValueError(f"code {code} out of range for a {f.bits}-bit format")
    neg = bool(f.signed and (code & f.sign_bit))
    k = code & (f.nmag - 1)
    if f.nan == "negzero" and code == f.sign_bit:
        return NAN
    kind = f.mag_kind(k)
    if kind == "nan":
        return NAN
    if kind == "inf":
        return NINF if neg else PINF
    if k == 0 and f.subnormals:
        if not f.signed or f.nan == "negzero":
            return UZERO  # the format's only zero (P3109; unsigned formats)
        return ("zero", 1 if neg else 0)
    v = f.mag_value(k)
    return -v if neg else v


def to_float(d):
    """float for a decode() result (exact: the formats are float64-representable)."""
    if d == NAN:
        return math.nan
    if d == PINF:
        return math.inf
    if d == NINF:
        return -math.inf
    if isinstance(d, tuple):
        return -0.0 if d[1] else 0.0
    r = float(d)
    assert Fraction(r) == d, "value not exact in float64"
    return r


def decode_float(fmt, code):
    return to_float(decode(fmt, code))


def decode_table(fmt):
    """float64 array of the value of every code."""
    f = OFormat.of(fmt)
    return np.array([decode_float(f, c) for c in range(f.num_codes)], dtype=np.float64)


# --------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------


def _as_exact(x):
    """(kind, negative, Fraction|None) for an input value.  kind: 'nan','inf','num'."""
    if isinstance(x, Fraction):
        return ("num", x < 0, abs(x))
    if isinstance(x, (bool, np.bool_)):
        return ("num", False, Fraction(int(x)))
    if isinstance(x, (int, np.integer)):
        x = int(x)
        return ("num", x < 0, Fraction(abs(x)))
    if isinstance(x, np.floating) and x.dtype.itemsize > 8:
        # long double: exact through its integer ratio
        if np.isnan(x):
            return ("nan", bool(np.signbit(x)), None)
        if np.isinf(x):
            return ("inf", bool(x < 0), None)
        n, d = x.as_integer_ratio()
        fr = Fraction(n, d)
        return ("num", bool(np.signbit(x)), abs(fr))
    x = float(x)  # float16/32/64 -> float64 is exact
    neg = math.copysign(1.0, x) < 0
    if math.isnan(x):
        return ("nan", neg, None)
    if math.isinf(x):
        return ("inf", neg, None)
    return ("num", neg, abs(Fraction(x)))


@lru_cache(maxsize=1 << 20)
def _locate(f, a):
    """Neighbours of a magnitude a > 0.

    Returns (kind, t_k, nu, cmp_half):
      kind 'under': a is below the smallest magnitude of a zero-less format
      kind 'exact': a == ladder value with index t_k
      kind 'between': t < a < u, t = value of index t_k, u the next ladder value
                      (u may be max_next, one step above max -> overflow)
      kind 'over': a >= max_next: every rounding overflows
    nu = (a - t) / (u - t), cmp_half = sign(nu - 1/2).
    """
    lad = f.ladder
    if a < lad[0]:
        return ("under", None, None, None)
    if a >= f.max_next:
        return ("over", None, None, None)
    i = bisect.bisect_right(lad, a) - 1
    t = lad[i]
    if t == a:
        return ("exact", f.ladder_k[i], Fraction(0), -1)
    u = lad[i + 1] if i + 1 < len(lad) else f.max_next
    nu = (a - t) / (u - t)
    half = Fraction(1, 2)
    cmp_half = (nu > half) - (nu < half)
    return ("between", f.ladder_k[i], nu, cmp_half)


def _rte_int(q):
    """roundTiesToEven of a non-negative Fraction to an integer."""
    fl = q.numerator // q.denominator
    rem = q - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


def rounds_away(nu, cmp_half, t_odd, neg, rounding, N=None, R=None):
    """Whether the magnitude goes to u (semantics.md §2 table); nu in (0, 1)."""
    if rounding == "nearest_even":
        return cmp_half > 0 or (cmp_half == 0 and t_odd)
    if rounding == "nearest_away":
        return cmp_half >= 0
    if rounding == "nearest_zero":
        return cmp_half > 0
    if rounding == "toward_zero":
        return False
    if rounding == "toward_positive":
        return nu > 0 and not neg
    if rounding == "toward_negative":
        return nu > 0 and neg
    if rounding == "odd":
        return nu > 0 and not t_odd
    if rounding == "stochastic":
        rounding, N = "stochastic_a", 32
    if rounding == "stochastic_equal":
        N = 1 if N is None else N
        if R is None:
            raise ValueError("oracle: stochastic mode needs R")
        return nu > 0 and R >= (1 << (N - 1))
    if rounding in ("stochastic_a", "stochastic_b", "stochastic_c"):
        if N is None or R is None:
            raise ValueError("oracle: stochastic mode needs N and R")
        if not 0 <= R < (1 << N):
            raise ValueError("oracle: R out of range")
        if rounding == "stochastic_a":
            s = nu * (1 << N)
            return s.numerator // s.denominator + R >= (1 << N)
        if rounding == "stochastic_b":
            s = nu * (1 << (N + 1))
            return s.numerator // s.denominator + 2 * R + 1 >= (1 << (N + 1))
        return _rte_int(nu * (1 << N)) + R >= (1 << N)
    raise ValueError(f"oracle: unknown rounding {rounding!r}")


def project(
    fmt,
    x,
    rounding="nearest_even",
    saturation="none",
    random_bits=None,
    R=None,
    flush_subnormals=False,
):
    """Code of the projection of x (semantics.md §2-3)."""
    f = OFormat.of(fmt)
    if rounding not in ROUNDINGS:
        raise ValueError(f"oracle: unknown rounding {rounding!r}")
    if saturation not in SATURATIONS:
        raise ValueError(f"oracle: unknown saturation {saturation!r}")
    if saturation == "nan" and not f.has_nan:
        raise ValueError("oracle: saturation='nan' needs a format with NaN")
    kind, neg, a = _as_exact(x)

    def nan_or(alt):
        c = f.nan_code(neg)
        return alt if c is None else c

    if kind == "nan":
        if not f.has_nan:
            raise ValueError("oracle: NaN input into a format without NaN")
        return f.nan_code(neg)

    if not f.signed and neg and not (kind == "num" and a == 0):
        # unsigned format, x < 0 (including -Inf)
        if kind == "num":
            r_k = _round_mag(f, a, neg, rounding, random_bits, R, flush_subnormals)
            if r_k == 0 and f.has_zero:
                return 0
        # below the range
        if saturation in ("finite", "propagate"):
            return 0  # the smallest value: magnitude index 0 (zero where it exists)
        return nan_or(0)

    if kind == "inf":
        if saturation == "finite":
            return f.max_code(neg)
        if saturation == "nan":
            return f.nan_code(neg)
        c = f.inf_code(neg)
        if c is not None:
            return c
        return nan_or(f.max_code(neg))

    if a == 0:
        if not f.has_zero:
            c = f.nan_code(neg)
            if c is None:
                raise ValueError("oracle: zero into a format without zero and NaN")
            return c
        return f.zero_code(neg)

    r_k = _round_mag(f, a, neg, rounding, random_bits, R, flush_subnormals)
    if r_k is None:  # overflow: rounded magnitude above max
        if saturation in ("finite", "propagate"):
            return f.max_code(neg)
        if saturation == "nan":
            return f.nan_code(neg)
        inward = rounding == "toward_zero" or (
            (rounding == "toward_positive" and neg) or (rounding == "toward_negative" and not neg)
        )
        if inward:
            return f.max_code(neg)
        c = f.inf_code(neg)
        if c is not None:
            return c
        return nan_or(f.max_code(neg))
    return f.code_of_mag(r_k, neg)


def _round_mag(f, a, neg, rounding, N, R, flush):
    """Magnitude index of the rounded |x| (a > 0), or None for overflow."""
    kind, t_k, nu, cmp_half = _locate(f, a)
    if kind == "under":
        return f.ladder_k[0]
    if kind == "over":
        return None
    if kind == "exact":
        r_k = t_k
    else:
        if rounds_away(nu, cmp_half, t_k & 1, neg, rounding, N, R):
            i = f.index_of[t_k] + 1
            if i >= len(f.ladder_k):
                return None
            r_k = f.ladder_k[i]
        else:
            r_k = t_k
    if flush and f.subnormals and r_k != 0 and f.mag_value(r_k) < f.smallest_normal:
        r_k = 0
    return r_k


def project_many(fmt, xs, rounding="nearest_even", saturation="none", **kw):
    """project() over an iterable (flat); returns a list of ints."""
    return [project(fmt, x, rounding, saturation, **kw) for x in xs]


def neighbours(fmt, x, saturation="none"):
    """Codes that a stochastic projection of a finite x may give: those of t and u."""
    f = OFormat.of(fmt)
    kind, neg, _ = _as_exact(x)
    away = "toward_negative" if neg else "toward_positive"
    return {project(f, x, "toward_zero", saturation), project(f, x, away, saturation)}


# --------------------------------------------------------------------------------------
# Philox4x32-10 (Random123) and the random stream of semantics.md §4
# --------------------------------------------------------------------------------------

_M0 = 0xD2511F53
_M1 = 0xCD9E8D57
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK = 0xFFFFFFFF


def philox4x32_10(counter, key):
    """Philox4x32 with 10 rounds: 4 counter words, 2 key words -> 4 output words."""
    c0, c1, c2, c3 = (int(w) & _MASK for w in counter)
    k0, k1 = (int(w) & _MASK for w in key)
    for rnd in range(10):
        if rnd:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0, lo0 = p0 >> 32, p0 & _MASK
        hi1, lo1 = p1 >> 32, p1 & _MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return (c0, c1, c2, c3)


def philox_word(seed, j):
    seed = int(seed)
    q = j // 4
    w = philox4x32_10((q & _MASK, (q >> 32) & _MASK, 0, 0), (seed & _MASK, (seed >> 32) & _MASK))
    return w[j % 4]


def philox_words(seed, offset, n):
    """Raw 32-bit words for elements offset .. offset+n-1 (uint64 array of values)."""
    out = []
    cache_q, cache_w = None, None
    seed = int(seed)
    key = (seed & _MASK, (seed >> 32) & _MASK)
    for j in range(int(offset), int(offset) + int(n)):
        q = j // 4
        if q != cache_q:
            cache_q = q
            cache_w = philox4x32_10((q & _MASK, (q >> 32) & _MASK, 0, 0), key)
        out.append(cache_w[j % 4])
    return np.array(out, dtype=np.uint64)


def random_stream(seed, offset, n, N):
    """R values (top N bits of each word) for elements offset .. offset+n-1."""
    w = philox_words(seed, offset, n)
    return (w >> np.uint64(32 - int(N))).astype(np.int64)


# --------------------------------------------------------------------------------------
# Probe sets (design.md §5): values at which every rounding decision changes
# --------------------------------------------------------------------------------------


def _to_float_or_none(v):
    try:
        r = float(v)
    except OverflowError:
        return None
    return r if math.isfinite(r) else None


def probe_values(fmt, dtype=np.float64, include_nan=None, intervals=None, rng=None):
    """Probe inputs for a format as an array of `dtype` (float32 or float64).

    Every finite value, every midpoint between neighbours (including max and the next value
    of the format's precision above it), those points +- 1 ulp of float64 and of float32,
    zeros, infinities, NaN (if include_nan), fractions of the smallest subnormal, large
    values, and the negatives of everything.  Every element is exactly a `dtype` value.
    `intervals`: if given, only that many randomly chosen ladder intervals are probed
    (for 16-bit formats).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return _probe_values(fmt, dtype, include_nan, intervals, rng)


def _probe_values(fmt, dtype, include_nan, intervals, rng):
    f = OFormat.of(fmt)
    dt = np.dtype(dtype)
    if include_nan is None:
        include_nan = f.has_nan
    lad = list(f.ladder) + [f.max_next]
    idx = range(len(lad) - 1)
    if intervals is not None and intervals < len(lad) - 1:
        rng = rng or np.random.default_rng(12345)
        pick = set(rng.choice(len(lad) - 1, size=intervals, replace=False).tolist())
        pick.update({0, 1, len(lad) - 2, len(lad) - 3})
        sn = bisect.bisect_left(lad, f.smallest_normal)
        pick.update(range(max(sn - 3, 0), min(sn + 3, len(lad) - 1)))
        pick.update({2, 3})
        idx = sorted(i for i in pick if 0 <= i < len(lad) - 1)
    base = []
    for i in idx:
        a, b = lad[i], lad[i + 1]
        base += [a, b, (a + b) / 2, a + (b - a) / 4, a + 3 * (b - a) / 4]
    s = f.smallest_subnormal()
    base += [s / 2, s / 4, 3 * s / 4, s * Fraction(3, 2)]
    base += [f.max_next * 2, f.max * 4 + f.max_next]
    pts = set()
    for v in base:
        r = _to_float_or_none(v)
        if r is None:
            continue
        pts.add(r)
        for d in (np.float64, np.float32):
            rv = d(r)
            if not np.isfinite(rv):
                continue
            pts.add(float(rv))
            pts.add(float(np.nextafter(rv, d(np.inf))))
            pts.add(float(np.nextafter(rv, d(-np.inf))))
    pts.update(
        [
            5e-324,
            1e-300,
            1e-40,
            1e-30,
            1e30,
            3.4028234663852886e38,
            1e300,
            1.0,
            0.5,
            1.7976931348623157e308,
        ]
    )
    vals = []
    for p in pts:
        if not math.isfinite(p):
            continue
        if dt == np.float32:
            if float(np.float32(p)) != p:
                continue
        vals.append(p)
        vals.append(-p)
    vals += [0.0, -0.0, math.inf, -math.inf]
    arr = np.array(sorted(vals), dtype=np.float64).astype(dt)
    if include_nan:
        arr = np.concatenate([arr, np.array([np.nan, -np.nan], dtype=dt)])
    return arr


def project_array(fmt, xs, rounding="nearest_even", saturation="none", **kw):
    """Oracle codes for a float array (flattened), as int64 array."""
    f = OFormat.of(fmt)
    flat = np.asarray(xs).reshape(-1)
    if flat.dtype.kind == "f" and flat.dtype.itemsize <= 8:
        items = flat.astype(np.float64).tolist()
    else:
        items = list(flat)
    return np.array([project(f, x, rounding, saturation, **kw) for x in items], dtype=np.int64)


# --------------------------------------------------------------------------------------
# Catalogue of test formats (plain FloatFormat keyword arguments)
# --------------------------------------------------------------------------------------

#: ml_dtypes preset names (mf.format / mf.PRESETS)
PRESET_NAMES = tuple(ML_DTYPES_FORMATS)

#: Unusual formats: id -> FloatFormat(**kwargs)
UNUSUAL = {
    "e4m3_b11": dict(exp_bits=4, man_bits=3, bias=11),
    "e5m2_b20": dict(exp_bits=5, man_bits=2, bias=20),
    "e3m4_b0": dict(exp_bits=3, man_bits=4, bias=0),
    "e2m5": dict(exp_bits=2, man_bits=5),
    "e6m1": dict(exp_bits=6, man_bits=1),
    "e5m2_nosub": dict(exp_bits=5, man_bits=2, subnormals=False),
    "e1m6_u": dict(exp_bits=1, man_bits=6, signed=False),
    "e1m6_u_max": dict(exp_bits=1, man_bits=6, signed=False, nan="max"),
    "e0m7_none": dict(exp_bits=0, man_bits=7, bias=1, nan="none", infinities=False),
    "e4m3_maxnan_inf": dict(exp_bits=4, man_bits=3, nan="max", infinities=True),
    "e3m2_nonan_noinf": dict(exp_bits=3, man_bits=2, nan="none", infinities=False),
    "e5m2_negzero_inf": dict(
        exp_bits=5, man_bits=2, nan="negzero", infinities=True, negative_zero=False
    ),
    "e2m1_u_none": dict(exp_bits=2, man_bits=1, signed=False, nan="none", infinities=False),
    "e3m3_nosub_max": dict(exp_bits=3, man_bits=3, subnormals=False, nan="max", infinities=False),
    "e5m2_ieee_noinf": dict(exp_bits=5, man_bits=2, infinities=False),
    "e8m7": dict(exp_bits=8, man_bits=7),
}


def p3109_params(kmax=12, kmin=3):
    """(k, p, signed, extended) of every P3109 format with kmin <= k <= kmax."""
    out = []
    for k in range(kmin, kmax + 1):
        for signed in (True, False):
            for p in range(1, (k - 1 if signed else k) + 1):
                for ext in (True, False):
                    out.append((k, p, signed, ext))
    return out


def p3109_name(k, p, signed=True, extended=True):
    return f"binary{k}p{p}" + ("s" if signed else "u") + ("e" if extended else "f")


# --------------------------------------------------------------------------------------
# Test helper
# --------------------------------------------------------------------------------------


def assert_codes_equal(got, expected, xs, fmt, what=""):
    """Compare code arrays; on failure show the first few mismatches with decoded values."""
    got = np.asarray(got).reshape(-1).astype(np.int64)
    expected = np.asarray(expected).reshape(-1).astype(np.int64)
    assert got.shape == expected.shape
    bad = np.nonzero(got != expected)[0]
    if bad.size:
        f = OFormat.of(fmt)
        xs = np.asarray(xs).reshape(-1)
        lines = [
            f"x={xs[i]!r} ({float(xs[i]).hex() if xs.dtype.kind == 'f' else ''}): "
            f"expected {expected[i]:#x} ({decode_float(f, expected[i])!r}) "
            f"got {got[i]:#x} ({decode_float(f, got[i]) if 0 <= got[i] < f.num_codes else '?'})"
            for i in bad[:8]
        ]
        import pytest

        pytest.fail(
            f"{what}: {bad.size} of {got.size} codes differ for {f}\n" + "\n".join(lines),
            pytrace=False,
        )


# --------------------------------------------------------------------------------------
# Arithmetic (docs/arithmetic.md, design.md §4): exact results on decoded values
# --------------------------------------------------------------------------------------
#
# Values are in the decode() representation: Fraction (finite non-zero), ('zero', sign),
# NAN, PINF, NINF.  An operation first forms the exact real result (IEEE 754 rules for the
# special cases), which is then projected once (project_value / project_sqrt).


def _is_zero(v):
    return isinstance(v, tuple)


def _is_inf(v):
    return isinstance(v, str) and v != NAN


def _is_nan(v):
    return isinstance(v, str) and v == NAN


def value_negative(v):
    """Sign bit of a decoded value (NaN: False)."""
    if _is_zero(v):
        return bool(v[1])
    if isinstance(v, Fraction):
        return v < 0
    return isinstance(v, str) and v == NINF


def negate(v):
    if _is_nan(v):
        return NAN
    if v == UZERO:
        return UZERO
    if _is_zero(v):
        return ("zero", 1 - v[1])
    if isinstance(v, str):
        return NINF if v == PINF else PINF
    return -v


def _inf(neg):
    return NINF if neg else PINF


def exact_add(a, b, rounding="nearest_even"):
    """a + b exactly.  An exact zero sum of operands that are not both -0 is +0, or -0 under
    toward_negative; (-0) + (-0) = -0."""
    if _is_nan(a) or _is_nan(b):
        return NAN
    if _is_inf(a) or _is_inf(b):
        if _is_inf(a) and _is_inf(b) and a != b:
            return NAN
        return a if _is_inf(a) else b
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        s = a + b
        if s == 0:
            return ("zero", 1 if rounding == "toward_negative" else 0)
        return s
    if _is_zero(a) and _is_zero(b):
        if a[1] and b[1]:
            return ("zero", 1)
        if a[1] or b[1]:
            return ("zero", 1 if rounding == "toward_negative" else 0)
        return ("zero", 0)
    if _is_zero(a):
        return b
    if _is_zero(b):
        return a
    s = a + b
    if s == 0:
        return ("zero", 1 if rounding == "toward_negative" else 0)
    return s


def exact_sub(a, b, rounding="nearest_even"):
    return exact_add(a, negate(b), rounding)


def exact_mul(a, b):
    if _is_nan(a) or _is_nan(b):
        return NAN
    neg = value_negative(a) != value_negative(b)
    if _is_inf(a) or _is_inf(b):
        if _is_zero(a) or _is_zero(b):
            return NAN
        return _inf(neg)
    if _is_zero(a) or _is_zero(b):
        return ("zero", int(neg))
    return a * b


def exact_div(a, b):
    """a / b.  IEEE 754 for signed zeros (x/+-0 = +-Inf, 0/0 = NaN); a divisor that is the
    only zero of its format (UZERO) has no sign, and P3109's Divide gives NaN for any a."""
    if _is_nan(a) or _is_nan(b) or b == UZERO:
        return NAN
    neg = value_negative(a) != value_negative(b)
    if _is_inf(a):
        return NAN if _is_inf(b) else _inf(neg)
    if _is_inf(b):
        return ("zero", int(neg))
    if _is_zero(b):
        return NAN if _is_zero(a) else _inf(neg)
    if _is_zero(a):
        return ("zero", int(neg))
    return a / b


def exact_fma(a, b, c, rounding="nearest_even"):
    """a*b + c with the exact product (zero-sum sign rules as for addition)."""
    return exact_add(exact_mul(a, b), c, rounding)


def exact_op(op, *vals, rounding="nearest_even"):
    """Exact result of an elementwise op ('add', 'subtract', 'multiply', 'divide', 'fma')."""
    if op == "add":
        return exact_add(vals[0], vals[1], rounding)
    if op == "subtract":
        return exact_sub(vals[0], vals[1], rounding)
    if op == "multiply":
        return exact_mul(vals[0], vals[1])
    if op == "divide":
        return exact_div(vals[0], vals[1])
    if op == "fma":
        return exact_fma(vals[0], vals[1], vals[2], rounding)
    raise ValueError(f"oracle: unknown op {op!r}")


def value_as_input(v):
    """A project() input for a decoded value (signed zeros and specials as floats)."""
    if isinstance(v, str):
        return {NAN: math.nan, PINF: math.inf, NINF: -math.inf}[v]
    if _is_zero(v):
        return -0.0 if v[1] else 0.0
    return v


def project_value(fmt, v, rounding="nearest_even", saturation="none", random_bits=None, R=None,
                  flush_subnormals=False):
    """Code of the projection of a decoded/exact value (raises ValueError like project())."""
    return project(fmt, value_as_input(v), rounding, saturation, random_bits=random_bits, R=R,
                   flush_subnormals=flush_subnormals)


def _sqrt_exact(q):
    """Exact square root of a Fraction q > 0, or None if it is irrational."""
    n, d = q.numerator, q.denominator
    rn, rd = math.isqrt(n), math.isqrt(d)
    if rn * rn == n and rd * rd == d:
        return Fraction(rn, rd)
    return None


def sqrt_value(fmt, q):
    """A rational stand-in for sqrt(q) (q a decoded value) that every rounding mode, including
    the stochastic ones with up to 32 random bits, rounds exactly like sqrt(q) in ``fmt``.

    sqrt of a non-square rational is irrational, so it lies strictly inside one interval
    (t + j w 2^-G, t + (j+1) w 2^-G) between neighbours t < sqrt(q) < u = t + w, G = 40;
    its midpoint has the same ⌊ν 2^k⌋ for every k <= G and is never a tie.  The neighbours
    are found on the ladder by comparing squares; ⌊ν 2^G⌋ with an integer square root and
    checked by squaring."""
    if _is_nan(q) or q == NINF:
        return NAN
    if q == PINF:
        return PINF
    if _is_zero(q):
        return q  # sqrt(-0) = -0
    if q < 0:
        return NAN
    r = _sqrt_exact(q)
    if r is not None:
        return r
    f = OFormat.of(fmt)
    lad = f.ladder + [f.max_next]
    if q >= lad[-1] ** 2:
        return lad[-1] * 2  # overflows in every mode
    if q < lad[0] ** 2:
        return lad[0] / 2  # below the smallest magnitude of a zero-less format
    lo, hi = 0, len(lad) - 1  # lad[lo]^2 <= q < lad[hi]^2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if lad[mid] ** 2 <= q:
            lo = mid
        else:
            hi = mid
    t, u = lad[lo], lad[hi]
    w = u - t
    G = 40
    scale = Fraction(1 << G) / w
    # floor(sqrt(q) * scale) = isqrt(floor(q * scale^2)), minus t * scale
    z = q * scale * scale
    j = math.isqrt(z.numerator // z.denominator) - t * scale
    assert j.denominator == 1
    j = int(j)
    step = w / (1 << G)
    assert (t + j * step) ** 2 < q < (t + (j + 1) * step) ** 2 and 0 <= j < (1 << G)
    return t + (j + Fraction(1, 2)) * step


def project_sqrt(fmt, q, rounding="nearest_even", saturation="none", random_bits=None, R=None,
                 flush_subnormals=False):
    """Code of the correctly rounded sqrt(q) in ``fmt`` (q a decoded value)."""
    return project_value(fmt, sqrt_value(fmt, q), rounding, saturation, random_bits, R,
                         flush_subnormals)


def arith_code(op, out_fmt, vals, rounding="nearest_even", saturation="none", random_bits=None,
               R=None, flush_subnormals=False):
    """Expected code of an elementwise op on decoded operand values, or NAN_NO_CODE when the
    result is NaN in a format without NaN (the operation must raise ValueError)."""
    if op == "sqrt":
        v = sqrt_value(out_fmt, vals[0])
    else:
        v = exact_op(op, *vals, rounding=rounding)
    if _is_nan(v) and not OFormat.of(out_fmt).has_nan:
        return NAN_NO_CODE
    return project_value(out_fmt, v, rounding, saturation, random_bits, R, flush_subnormals)


NAN_NO_CODE = -1


def nan_codes(fmt):
    """The canonical NaN codes of a format (either sign); empty set without NaN."""
    f = OFormat.of(fmt)
    return {c for c in (f.nan_code(False), f.nan_code(True)) if c is not None}


# --------------------------------------------------------------------------------------
# Binary IEEE rounding for accumulators (float32 / float64), independent of the ladder
# --------------------------------------------------------------------------------------


def round_ieee(v, precision, emin, emax):
    """Round a decoded value to nearest-even in a binary IEEE format with ``precision``
    significand bits (24 for binary32), normal exponents emin..emax, subnormals and Inf.
    Used to simulate float32/float64 accumulators; zeros keep their sign."""
    if not isinstance(v, Fraction):
        return v
    neg = v < 0
    a = -v if neg else v
    # exponent e with 2^e <= a < 2^(e+1)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if _pow2(e) > a:
        e -= 1
    assert _pow2(e) <= a < _pow2(e + 1)
    quantum = _pow2(max(e, emin) - (precision - 1))
    n = _rte_int(a / quantum)
    r = n * quantum
    if r >= _pow2(emax + 1):
        return _inf(neg)
    if r == 0:
        return ("zero", int(neg))
    return -r if neg else r


def round_binary32(v):
    return round_ieee(v, 24, -126, 127)


def round_binary64(v):
    return round_ieee(v, 53, -1022, 1023)


# --------------------------------------------------------------------------------------
# Accumulation (minifloat/linalg.py docstring, docs/arithmetic.md)
# --------------------------------------------------------------------------------------


def accumulate(terms, accumulator="exact", order="sequential", block=32, rounding="nearest_even",
               saturation="none", Rs=None, random_bits=None):
    """Sum of exact terms (decoded values) as the accumulator forms it; returns a value.

    accumulator: 'exact' (one exact sum), 'float32'/'float64' (round to nearest even after
    every addition), or an OFormat/format object (project every addition with ``rounding``,
    ``saturation``; Rs[t] is the random integer of step t, sequential order only).
    Sequential: ((+0 + t0) + t1) + ...; pairwise: sequential inside blocks of ``block`` terms,
    then the block sums combined as a balanced binary tree, pairs (0,1), (2,3), ... at each
    level, an odd last sum carried up."""
    if accumulator == "exact":
        s = ("zero", 0)
        for t in terms:
            s = exact_add(s, t, rounding)
        return s
    if accumulator == "float32":
        def step(x, y, _t):
            return round_binary32(exact_add(x, y))
    elif accumulator == "float64":
        def step(x, y, _t):
            return round_binary64(exact_add(x, y))
    else:
        f = OFormat.of(accumulator)

        def step(x, y, t):
            R = None if Rs is None else int(Rs[t])
            c = project_value(f, exact_add(x, y, rounding), rounding, saturation,
                              random_bits, R)
            return decode(f, c)

    def seq(ts, t0):
        s = ("zero", 0)
        for i, t in enumerate(ts):
            s = step(s, t, t0 + i)
        return s

    if order == "sequential":
        return seq(list(terms), 0)
    terms = list(terms)
    sums = [seq(terms[i:i + block], i) for i in range(0, len(terms), block)] or [("zero", 0)]
    while len(sums) > 1:
        nxt = [step(sums[i], sums[i + 1], None) for i in range(0, len(sums) - 1, 2)]
        if len(sums) % 2:
            nxt.append(sums[-1])
        sums = nxt
    return sums[0]


# --------------------------------------------------------------------------------------
# Vectorised projection of exact float64 values (deterministic modes), for large samples
# --------------------------------------------------------------------------------------


def breakpoints(fmt):
    """Sorted float64 array of the magnitudes where some deterministic rounding decision
    changes: every ladder value, every midpoint, max_next and the midpoint below it."""
    return _breakpoints(OFormat.of(fmt))


@lru_cache(maxsize=64)
def _breakpoints(f):
    lad = f.ladder + [f.max_next]
    pts = set(lad)
    pts.update((a + b) / 2 for a, b in zip(lad, lad[1:]))
    out = np.array(sorted(float(p) for p in pts), dtype=np.float64)
    assert all(Fraction(float(p)) == p for p in pts)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def _ladder_f64(f):
    lad = np.array([float(v) for v in f.ladder] + [float(f.max_next)], dtype=np.float64)
    ks = np.array(f.ladder_k, dtype=np.int64)
    lad.setflags(write=False)
    ks.setflags(write=False)
    return lad, ks


def f64_equivalent(fmt, hi, lo_sign):
    """float64 values that every deterministic mode rounds exactly like the exact values
    hi + lo, where hi = fl64(hi + lo) (round to nearest) and lo_sign = sign(lo).

    Breakpoints (ladder values and midpoints) are float64 numbers and fl64 is monotone, so
    when hi is not a breakpoint the exact value lies in the same open cell as hi; when hi is
    a breakpoint and lo != 0, the neighbouring float64 on lo's side lies in the same cell as
    the exact value (cells are far wider than one float64 ulp)."""
    hi = np.asarray(hi, dtype=np.float64)
    lo_sign = np.asarray(lo_sign)
    bp = breakpoints(fmt)
    a = np.abs(hi)
    i = np.clip(np.searchsorted(bp, a), 0, len(bp) - 1)
    on_bp = bp[i] == a
    move = on_bp & (lo_sign != 0) & np.isfinite(hi)
    nudged = np.nextafter(hi, np.where(lo_sign > 0, np.inf, -np.inf))
    return np.where(move, nudged, hi)


def project_f64(fmt, xs, rounding="nearest_even", saturation="none"):
    """Oracle codes (int64 array) of exact float64 values, deterministic modes only.

    Same definition as project(), vectorised: t is found by searchsorted on the ladder,
    ν compared with 1/2 through 2(|x| - t) vs (u - t), both exact in float64 (Sterbenz).
    Overflows, zeros, specials, negative inputs of unsigned formats and values below a
    zero-less format's range go through the scalar project() (one call per distinct
    value, or per sign for overflows)."""
    if rounding not in DETERMINISTIC:
        raise ValueError("oracle: project_f64 is for deterministic modes")
    f = OFormat.of(fmt)
    x = np.asarray(xs, dtype=np.float64).reshape(-1)
    out = np.full(x.shape, -1, dtype=np.int64)
    lad, ks = _ladder_f64(f)
    a = np.abs(x)
    neg = np.signbit(x)
    with np.errstate(invalid="ignore"):
        regular = np.isfinite(x) & (a > 0) & (a >= lad[0])
    if not f.signed:
        regular &= ~neg
    ar = a[regular]
    nr = neg[regular]
    beyond = ar >= lad[-1]  # at or above max_next: overflows in every mode
    i = np.minimum(np.searchsorted(lad, ar, side="right") - 1, len(lad) - 2)
    t, u = lad[i], lad[i + 1]
    with np.errstate(over="ignore", invalid="ignore"):
        d2 = 2 * (ar - t)
    w = u - t
    exact = ar == t
    gt, eq = d2 > w, d2 == w
    t_odd = (ks[i] & 1) == 1
    if rounding == "nearest_even":
        away = gt | (eq & t_odd)
    elif rounding == "nearest_away":
        away = gt | eq
    elif rounding == "nearest_zero":
        away = gt
    elif rounding == "toward_zero":
        away = np.zeros_like(gt)
    elif rounding == "toward_positive":
        away = ~exact & ~nr
    elif rounding == "toward_negative":
        away = ~exact & nr
    else:  # odd
        away = ~exact & ~t_odd
    away &= ~exact
    r = i + away.astype(np.int64)
    over = (r >= len(ks)) | beyond
    rk = ks[np.minimum(r, len(ks) - 1)]
    sign = np.where(nr, f.sign_bit, 0).astype(np.int64)
    codes = sign | rk
    if f.has_zero:
        z = rk == 0
        codes[z] = np.where(nr[z], f.zero_code(True), f.zero_code(False))
    for s in (False, True):
        m = over & (nr == s)
        if m.any():
            big = f.max_next * 2
            codes[m] = project(f, -big if s else big, rounding, saturation)
    out[regular] = codes
    rest = np.nonzero(~regular)[0]
    if rest.size:
        bits = x[rest].view(np.int64)
        ub, inv = np.unique(bits, return_inverse=True)
        vals = ub.view(np.float64)
        res = np.array([project(f, float(v), rounding, saturation) for v in vals],
                       dtype=np.int64)
        out[rest] = res[inv]
    return out


# --------------------------------------------------------------------------------------
# Fixed point (docs/lns_fixed.md §1), from the definitions, with exact rationals.
# A format object is read through int_bits, frac_bits, signed only.
# --------------------------------------------------------------------------------------


def fixed_params(fmt):
    """(bits, F, signed, min_int, max_int) of a fixed-point format."""
    s = bool(fmt.signed)
    bits = int(s) + int(fmt.int_bits) + int(fmt.frac_bits)
    lo = -(1 << (bits - 1)) if s else 0
    hi = (1 << (bits - 1)) - 1 if s else (1 << bits) - 1
    return bits, int(fmt.frac_bits), s, lo, hi


def fixed_decode(fmt, code):
    """Exact value (Fraction) of a fixed-point code: two's-complement integer * 2^-F."""
    bits, F, s, _, _ = fixed_params(fmt)
    code = int(code)
    c = code - (1 << bits) if s and code >> (bits - 1) & 1 else code
    return Fraction(c) / Fraction(2) ** F


def fixed_project(fmt, x, rounding="nearest_even", saturation="finite", random_bits=None, R=None):
    """Oracle code of x in a fixed-point format, or NAN_NO_CODE for NaN.

    |x| * 2^F = t + nu (t integer, 0 <= nu < 1) rounds to t or t + 1 by the mode (t odd: the
    LSB of t); the signed integer is then clamped to [min, max] ("finite", "none",
    "propagate") or reduced modulo 2^bits ("wrap"). +-Inf give the extreme codes."""
    bits, F, s, lo, hi = fixed_params(fmt)
    kind, neg, a = _as_exact(x)
    if kind == "nan":
        return NAN_NO_CODE
    if kind == "inf":
        return (lo if neg else hi) & ((1 << bits) - 1)
    q = a * Fraction(2) ** F
    t = q.numerator // q.denominator
    nu = q - t
    if nu == 0:
        n = t
    else:
        half = Fraction(1, 2)
        cmp_half = (nu > half) - (nu < half)
        n = t + int(bool(rounds_away(nu, cmp_half, t % 2 == 1, neg, rounding, random_bits, R)))
    v = -n if neg else n
    if saturation == "wrap":
        return v % (1 << bits)
    v = min(max(v, lo), hi)
    return v % (1 << bits)


def fixed_round_ratio(fmt, num, den, rounding="nearest_even", saturation="finite",
                      random_bits=None, R=None):
    """Oracle codes for the exact values num/den * 2^-F (integer arrays, den > 0, any size
    of Python int: object arrays are fine): round |num/den| to an integer by the mode, then
    saturate or wrap.  Vectorised over numpy arrays of ints."""
    bits, F, s, lo, hi = fixed_params(fmt)
    num = np.asarray(num, dtype=object)
    den = np.asarray(den, dtype=object)
    neg = num < 0
    a = np.where(neg, -num, num)
    t = a // den
    r = a - t * den
    inexact = r != 0
    cmp2 = 2 * r - den  # sign of nu - 1/2
    odd = (t % 2) == 1
    if rounding == "nearest_even":
        up = (cmp2 > 0) | ((cmp2 == 0) & odd)
    elif rounding == "nearest_away":
        up = cmp2 >= 0
    elif rounding == "nearest_zero":
        up = cmp2 > 0
    elif rounding == "toward_zero":
        up = np.zeros(t.shape, dtype=bool)
    elif rounding == "toward_positive":
        up = inexact & ~neg
    elif rounding == "toward_negative":
        up = inexact & neg
    elif rounding == "odd":
        up = inexact & ~odd
    else:  # stochastic: the scalar predicate per element, nu exact as a Fraction
        flat_up = []
        Rb = np.broadcast_to(np.asarray(R, dtype=object), t.shape)
        for rr, dd, ng, tt, rv in zip(r.ravel(), np.broadcast_to(den, t.shape).ravel(),
                                      neg.ravel(), t.ravel(), Rb.ravel()):
            nu = Fraction(int(rr), int(dd))
            half = Fraction(1, 2)
            flat_up.append(bool(nu > 0 and rounds_away(nu, (nu > half) - (nu < half),
                                                       tt % 2 == 1, bool(ng), rounding,
                                                       random_bits, int(rv))))
        up = np.array(flat_up, dtype=bool).reshape(t.shape)
    n = t + up.astype(object)
    v = np.where(neg, -n, n)
    if saturation != "wrap":
        v = np.minimum(np.maximum(v, lo), hi)
    return (v % (1 << bits)).astype(np.int64)


def fixed_ints(fmt, codes):
    """Two's-complement integers of fixed-point codes (object array of Python ints)."""
    bits, F, s, lo, hi = fixed_params(fmt)
    c = np.asarray(codes, dtype=object)
    return np.where(s & ((c >> (bits - 1)) % 2 == 1), c - (1 << bits), c) if s else c


def fixed_exact_ratio(op, out_fmt, ops):
    """(num, den) with op's exact result * 2^F_out = num/den, for fixed-point operands given
    as (format, codes) pairs; op in add, subtract, multiply, divide, fma (den > 0;
    division by zero is the caller's to exclude)."""
    F = int(out_fmt.frac_bits)
    vals = [(fixed_ints(f, c), int(f.frac_bits)) for f, c in ops]

    def scaled(num, S):  # num * 2^-S * 2^F
        return (num * (1 << (F - S)), 1) if F >= S else (num, 1 << (S - F))

    (A, Fa) = vals[0]
    if op in ("add", "subtract"):
        B, Fb = vals[1]
        S = max(Fa, Fb)
        sgn = 1 if op == "add" else -1
        return scaled(A * (1 << (S - Fa)) + sgn * B * (1 << (S - Fb)), S)
    if op == "multiply":
        B, Fb = vals[1]
        return scaled(A * B, Fa + Fb)
    if op == "fma":
        (B, Fb), (C, Fc) = vals[1], vals[2]
        S = max(Fa + Fb, Fc)
        return scaled(A * B * (1 << (S - Fa - Fb)) + C * (1 << (S - Fc)), S)
    if op == "divide":
        B, Fb = vals[1]
        num, den = scaled(A, Fa - Fb)  # (A / B) * 2^(Fb - Fa) * 2^F
        den = den * B
        num = np.where(den < 0, -num, num)
        return num, np.where(den < 0, -den, den)
    raise ValueError(op)


def fixed_sqrt_code(fmt_in, code, out_fmt, rounding="nearest_even", saturation="finite"):
    """Oracle code of sqrt of a non-negative fixed-point value (deterministic modes):
    t = floor(sqrt(q) 2^F) = isqrt(floor(q 4^F)); nu vs 1/2 by comparing q 4^F with
    (t + 1/2)^2 exactly."""
    q = fixed_decode(fmt_in, code)
    assert q >= 0
    bits, F, s, lo, hi = fixed_params(out_fmt)
    y = q * Fraction(4) ** F
    t = math.isqrt(y.numerator // y.denominator)
    exact = Fraction(t * t) == y
    mid = Fraction(2 * t + 1, 2) ** 2
    cmp_half = (y > mid) - (y < mid)
    nu = Fraction(0) if exact else Fraction(1, 3)  # only nu > 0 and cmp_half are used
    n = t + (0 if exact else int(bool(rounds_away(nu, cmp_half, t % 2 == 1, False, rounding))))
    v = n if saturation == "wrap" else min(n, hi)
    return v % (1 << bits)


# --------------------------------------------------------------------------------------
# LNS (docs/lns_fixed.md §2), from the definitions.  A format object is read through
# int_bits, frac_bits, signed, infinities.  Rounding sides are decided by exact integer
# comparisons: for m = p/q > 0 and a candidate log k/2^(F+1),
#     m > 2^(k / 2^(F+1))   <=>   p^(2^(F+1)) > 2^k q^(2^(F+1)).
# --------------------------------------------------------------------------------------


def lns_params(fmt):
    W = int(fmt.int_bits) + int(fmt.frac_bits)
    F = int(fmt.frac_bits)
    inf = bool(getattr(fmt, "infinities", False))
    log_min = -(1 << (W - 1)) + 1
    log_max = (1 << (W - 1)) - 1 - int(inf)
    return W, F, bool(fmt.signed), inf, log_min, log_max


def lns_code_of(fmt, neg, L):
    W = lns_params(fmt)[0]
    return (int(neg) << W) | (L & ((1 << W) - 1))


def lns_log_floor2(a, F):
    """floor(2^(F+1) log2 a) for a Fraction a > 0, by exact integer comparisons."""
    n = 1 << (F + 1)
    p, q = a.numerator, a.denominator
    guess = math.floor(n * (math.log2(p) - math.log2(q)))  # float estimate, then corrected

    def above(k):  # a >= 2^(k/n)  <=>  p^n >= 2^k q^n
        lhs, rhs = p ** n, q ** n
        return lhs >= (rhs << k) if k >= 0 else (lhs << -k) >= rhs

    k = guess
    while not above(k):
        k -= 1
    while above(k + 1):
        k += 1
    return k


def lns_project(fmt, x, rounding="nearest_even", saturation="none"):
    """Oracle LNS code of x for deterministic modes (NAN_NO_CODE: NaN into an unsigned
    format).  Log-domain rounding: t = floor(2^F log2|x|); the fraction is > 1/2 iff
    floor(2^(F+1) log2|x|) is odd; exact iff |x| is 2^(t/2^F)."""
    W, F, signed, inf, lo, hi = lns_params(fmt)
    zero = 1 << (W - 1)
    nan = ((1 << W) | zero) if signed else NAN_NO_CODE
    kind, neg, a = _as_exact(x)
    if kind == "nan":
        return nan
    if kind == "num" and a == 0:
        return zero
    if neg and not signed:
        return zero
    inward = rounding == "toward_zero" or (rounding == "toward_positive" and neg) or \
        (rounding == "toward_negative" and not neg)
    if kind == "inf":
        if saturation == "nan":
            return nan
        return lns_code_of(fmt, neg, hi + 1 if inf and saturation != "finite" else hi)
    h = lns_log_floor2_fast(a, F)
    t = h >> 1
    exact = h % 2 == 0 and t % (1 << F) == 0 and a == Fraction(2) ** (t >> F)
    if exact:
        L = t
    else:
        above = h % 2 == 1
        nu = Fraction(3, 4) if above else Fraction(1, 4)
        L = t + int(bool(rounds_away(nu, 1 if above else -1, t % 2 == 1, neg, rounding)))
    if L > hi:
        if saturation == "nan":
            return nan
        return lns_code_of(fmt, neg, hi + 1 if inf and saturation == "none" and not inward else hi)
    if L < lo:
        away = (rounding == "toward_positive" and not neg) or (rounding == "toward_negative" and neg)
        return lns_code_of(fmt, neg, lo) if away else zero
    return lns_code_of(fmt, neg, L)


def lns_decode_log(fmt, code):
    """('zero'|'nan'|'inf'|'num', neg, L) of an LNS code."""
    W, F, signed, inf, lo, hi = lns_params(fmt)
    code = int(code)
    neg = bool(signed and code >> W & 1)
    f = code & ((1 << W) - 1)
    L = f - (1 << W) if f >> (W - 1) else f
    if f == 1 << (W - 1):
        return ("nan" if neg else "zero", neg, None)
    if inf and L == hi + 1:
        return ("inf", neg, None)
    return ("num", neg, L)


@lru_cache(maxsize=1 << 16)
def _lns_mant_floor2(m, F):
    return lns_log_floor2(m, F)


def lns_log_floor2_fast(a, F):
    """lns_log_floor2 through a = m 2^e, m in [1, 2) (memoised on the significand m)."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if a < Fraction(2) ** e:
        e -= 1
    m = a / Fraction(2) ** e
    return (e << (F + 1)) + _lns_mant_floor2(m, F)


def lns_value_rn53(L, F):
    """2^(L/2^F) rounded to nearest float64, decided by exact comparisons of candidates."""
    n = 1 << F
    d = 2.0 ** (L / n)
    # the true value lies strictly inside (lo, hi) around some double; pick by midpoints
    for _ in range(3):
        lo_mid = (Fraction(d) + Fraction(np.nextafter(d, -np.inf))) / 2
        hi_mid = (Fraction(d) + Fraction(np.nextafter(d, np.inf))) / 2

        def gt(v):  # 2^(L/n) > v  <=>  2^L > v^n
            p, q = v.numerator, v.denominator
            return (q ** n << L) > p ** n if L >= 0 else q ** n > (p ** n << -L)

        if not gt(lo_mid):
            d = float(np.nextafter(d, -np.inf))
        elif gt(hi_mid):
            d = float(np.nextafter(d, np.inf))
        else:
            return d
    raise AssertionError("oracle: RN53 did not converge")


# --------------------------------------------------------------------------------------
# Block-scaled formats (semantics.md §8), written from the rule texts:
#   OCP Microscaling v1.0 §6.3 (Algorithm 1): shared_exp = floor(log2(max|V_i|)) - emax_elem,
#     X = 2^shared_exp, P_i = quantize(V_i / X) clamping to the element's largest normal;
#   torchao ScaleCalculationMode CEIL / EVEN / RCEIL; NVFP4: scale = amax / 6 in E4M3 with a
#   float32 tensor scale amax / (448 * 6).
# A block is a list of inputs (floats); elements are rounded once from v / (s * T).
# --------------------------------------------------------------------------------------


def floor_log2(q):
    """floor(log2 q) of a positive rational (Fraction, int or float), exactly."""
    q = Fraction(q)
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    return e


def _ceil_log2(q):
    e = floor_log2(q)
    return e if Fraction(2) ** e == q else e + 1


def _element_max(elem):
    """Largest finite element value (Fraction) of an OFormat or a fixed-point format."""
    if isinstance(elem, OFormat):
        return elem.max
    _, F, _, _, hi = fixed_params(elem)
    return Fraction(hi) / Fraction(2) ** F


@lru_cache(maxsize=64)
def _pow2_range(sf):
    """(pmin, pmax): exponents of the smallest and largest powers of two in the ladder."""
    pows = [floor_log2(x) for x in sf.ladder if x > 0 and x == Fraction(2) ** floor_log2(x)]
    return min(pows), max(pows)


def block_scale(bf, vals, T=Fraction(1)):
    """(scale code, scale value or NAN) of a block: `bf` is a dict with 'element' (OFormat or
    fixed format), 'scale' (OFormat), 'rule', 'prec' (element fraction bits for 'even');
    `vals` the block's inputs; T the per-tensor scale (Fraction)."""
    elem, sf, rule = bf["element"], OFormat.of(bf["scale"]), bf["rule"]
    kinds = [_as_exact(v) for v in vals]
    has_nan = any(k == "nan" for k, _, _ in kinds)
    has_inf = any(k == "inf" for k, _, _ in kinds)
    A = max([a for k, _, a in kinds if k == "num"], default=Fraction(0))
    emax = _element_max(elem)
    emax_e = floor_log2(emax)

    def nan():
        c = sf.nan_code(False)
        return (None, NAN) if c is None else (c, NAN)

    if has_nan:
        return nan()
    if rule == "amax":
        if has_inf:
            code = sf.max_code(False)
        elif A == 0:
            code = sf.code_of_mag(0, False)  # zero for now: replaced just below
        else:
            code = project(sf, A / (emax * T), "nearest_even", "finite")
        v = decode(sf, code)
        if _is_zero(v) or A == 0:  # a zero scale becomes the smallest positive one
            code = sf.code_of_mag(sf.ladder_k[1] if sf.has_zero else sf.ladder_k[0], False)
            v = decode(sf, code)
        return code, v
    if has_inf:
        return nan()
    # the powers of two that are scale values
    pmin, pmax = _pow2_range(sf)
    if A == 0:
        E = pmin
    elif rule == "floor":
        E = floor_log2(A) - emax_e
    elif rule == "ceil":
        E = _ceil_log2(A) - emax_e
    elif rule == "even":
        # A rounded to `prec` fraction bits, ties away from zero, then floor(log2)
        e = floor_log2(A)
        q = A / Fraction(2) ** (e - bf["prec"])
        fl = q.numerator // q.denominator
        r = fl + (1 if q - fl >= Fraction(1, 2) else 0)
        E = floor_log2(Fraction(r) * Fraction(2) ** (e - bf["prec"])) - emax_e
    elif rule == "rceil":
        E = _ceil_log2(A / emax)
    else:
        raise ValueError(f"oracle: unknown scale rule {rule!r}")
    if E > pmax:
        return nan()
    E = max(E, pmin)
    code = project(sf, Fraction(2) ** E)
    return code, Fraction(2) ** E


def block_encode(bf, vals, T=Fraction(1), rounding="nearest_even", saturation="finite",
                 random_bits=None, Rs=None):
    """(scale code, element codes) of one block; Rs: the random values of its elements."""
    scode, s = block_scale(bf, vals, T)
    if s == NAN:
        return scode, [0] * len(vals)
    elem = bf["element"]
    d = s * T
    out = []
    for i, v in enumerate(vals):
        kind, neg, a = _as_exact(v)
        x = v if kind != "num" else (-a / d if neg else a / d)
        if kind == "num" and a == 0:
            x = v  # keeps the sign of zero
        R = None if Rs is None else int(Rs[i])
        if isinstance(elem, OFormat):
            out.append(project(elem, x, rounding, saturation, random_bits=random_bits, R=R))
        else:
            out.append(fixed_project(elem, x, rounding, saturation, random_bits=random_bits,
                                     R=R))
    return scode, out


def _ieee_product(a, b):
    """IEEE 754 product of two decoded values (Fraction, ('zero', sign), NAN, +-inf)."""
    if a == NAN or b == NAN:
        return NAN

    def sign(v):
        if isinstance(v, str):
            return v == NINF
        if _is_zero(v):
            return bool(v[1])
        return v < 0

    neg = sign(a) != sign(b)
    inf_a, inf_b = isinstance(a, str), isinstance(b, str)
    zero_a, zero_b = _is_zero(a), _is_zero(b)
    if (inf_a and zero_b) or (inf_b and zero_a):
        return NAN
    if inf_a or inf_b:
        return _inf(neg)
    if zero_a or zero_b:
        return ("zero", int(neg))
    return a * b


def block_value(bf, code, scode, T=Fraction(1)):
    """Exact value of element `code` under scale code `scode`: element value * scale value
    * T with IEEE 754 rules for zeros, infinities and NaN (a NaN scale gives NaN)."""
    sv = decode(OFormat.of(bf["scale"]), scode)
    elem = bf["element"]
    if isinstance(elem, OFormat):
        ev = decode(elem, code)
    else:
        ev = fixed_decode(elem, code)
        if ev == 0:
            ev = ("zero", 0)
    return _ieee_product(_ieee_product(ev, sv), T)


def block_dot(a_elems, a_scales, b_elems, b_scales, kb, T=Fraction(1), accumulator="float32",
              order="sequential", block=32, rounding="nearest_even", saturation="none",
              Rs=None, random_bits=None):
    """One output of a block-scaled dot product (OCP MX v1.0 §6.2; semantics.md §8.7) before
    its output rounding: the exact block terms t_b = (sum_k a_k b_k) * sA_b * sB_b (a_elems,
    b_elems: decoded elements of the row and the column; a_scales, b_scales: decoded scale of
    each block of kb elements), summed by the accumulator as accumulate() does (zeros of the
    partial sums by IEEE 754 in the accumulator's mode), times T = TA * TB exactly."""
    amode = rounding if accumulator not in ("float32", "float64") else "nearest_even"
    terms = []
    for b in range(-(-len(a_elems) // kb)):
        P = ("zero", 0)
        for k in range(b * kb, min(len(a_elems), (b + 1) * kb)):
            P = exact_add(P, _ieee_product(a_elems[k], b_elems[k]), amode)
        terms.append(_ieee_product(_ieee_product(P, a_scales[b]), b_scales[b]))
    S = accumulate(terms, accumulator, order, block, rounding, saturation, Rs, random_bits)
    return _ieee_product(S, T)


def tensor_scale_amax(bf, xs):
    """NVFP4's T = RN_binary32(amax / (scale max * element max)) over the finite inputs
    (1 when amax is 0)."""
    fin = [abs(Fraction(float(v))) for v in xs if math.isfinite(float(v))]
    A = max(fin, default=Fraction(0))
    if A == 0:
        return Fraction(1)
    q = A / (OFormat.of(bf["scale"]).max * _element_max(bf["element"]))
    v = round_binary32(q)
    return Fraction(1) if _is_zero(v) else v
