"""Rounding and saturation names, projection settings and the thread-local context.

Each rounding mode only decides whether |x| moves from t (truncated toward zero) to the next
value u away from zero, given the fraction nu = (|x|-t)/(u-t) (docs/semantics.md §2):

    nearest_even     nu > 1/2, or nu = 1/2 and t is odd
    nearest_away     nu >= 1/2
    nearest_zero     nu > 1/2
    toward_zero      never
    toward_positive  nu > 0 and x > 0
    toward_negative  nu > 0 and x < 0
    odd              nu > 0 and t is even
    stochastic_a     floor(nu 2^N) + R >= 2^N                 (P3109 StochasticA)
    stochastic_b     floor(nu 2^(N+1)) + 2R + 1 >= 2^(N+1)    (P3109 StochasticB)
    stochastic_c     roundTiesToEven(nu 2^N) + R >= 2^N       (P3109 StochasticC)
    stochastic       stochastic_a with N = 32
    stochastic_equal nu > 0 and R >= 2^(N-1)                  (N defaults to 1)
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from .formats.lns_add import check_lns_add

# Values are the Rounding enum of csrc/include/minifloat/project.h.
ROUNDINGS: dict[str, int] = {
    "nearest_even": 0, "nearest_away": 1, "nearest_zero": 2, "toward_zero": 3,
    "toward_positive": 4, "toward_negative": 5, "odd": 6, "stochastic_a": 7,
    "stochastic_b": 8, "stochastic_c": 9, "stochastic": 7, "stochastic_equal": 10,
}
STOCHASTIC = frozenset({"stochastic_a", "stochastic_b", "stochastic_c", "stochastic",
                        "stochastic_equal"})
# Values are the Saturation enum of project.h.
SATURATIONS: dict[str, int] = {"none": 0, "finite": 1, "propagate": 2, "nan": 3,
                               "wrap": 4}  # wrap: fixed point only (fixed.h SAT_WRAP)


def check_rounding(name: Any) -> str:
    """Validate a rounding-mode name."""
    if name not in ROUNDINGS:
        raise ValueError(f"rounding={name!r} is not a rounding mode; allowed: "
                         f"{', '.join(ROUNDINGS)}")
    return str(name)


def check_saturation(name: Any) -> str:
    """Validate a saturation name."""
    if name not in SATURATIONS:
        raise ValueError(f"saturation={name!r} is not a saturation mode; allowed: "
                         f"{', '.join(SATURATIONS)}")
    return str(name)


def random_bits_for(rounding: str, random_bits: int | None) -> int:
    """N, the number of random bits a stochastic mode uses (0 for deterministic modes)."""
    if rounding not in STOCHASTIC:
        return 0
    if rounding == "stochastic":
        if random_bits not in (None, 32):
            raise ValueError("rounding='stochastic' is stochastic_a with random_bits=32; "
                             f"got random_bits={random_bits}; use stochastic_a for other N")
        return 32
    if random_bits is None:
        if rounding == "stochastic_equal":
            return 1
        raise ValueError(f"rounding={rounding!r} needs random_bits=N (1..32): the number of "
                         "random bits is a hardware parameter")
    if isinstance(random_bits, bool) or not isinstance(random_bits, int) or \
            not 1 <= random_bits <= 32:
        raise ValueError(f"random_bits={random_bits!r}; allowed: an int in 1..32")
    return random_bits


@dataclass(frozen=True)
class Settings:
    """Projection settings in force (the context, overridden per call)."""

    rounding: str = "nearest_even"
    saturation: str = "none"
    random_bits: int | None = None
    seed: int | None = None
    flush_subnormals: bool = False
    accumulator: Any = "float32"  # "float32" | "float64" | "exact" | "float32_blas" | format
    order: str = "sequential"  # or "pairwise"
    block: int = 32  # terms summed sequentially per block in pairwise order
    out_format: Any = None  # result format of mixed-format operations
    lns_add: Any = "exact"  # LNS addition algorithm (minifloat.lns: exact, table, mitchell)


class _SeedStream:
    """A context seed: successive calls draw successive stretches of one Philox stream."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.offset = 0

    def take(self, n: int) -> tuple[int, int]:
        start = self.offset
        self.offset += n
        return self.seed, start


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[tuple[Settings, _SeedStream | None]] = [(Settings(), None)]


_state = _State()


def current() -> Settings:
    """The settings of the innermost ``config`` block of this thread."""
    return _state.stack[-1][0]


def check_seed(seed: Any) -> int:
    """Validate a seed: an int in 0 .. 2**64-1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"seed={seed!r}; allowed: an int in 0..2**64-1")
    return seed


@contextlib.contextmanager
def config(**settings: Any) -> Iterator[Settings]:
    """Set projection defaults for this thread inside a ``with`` block.

    Keys: ``rounding``, ``saturation``, ``random_bits``, ``seed``, ``flush_subnormals``,
    ``accumulator``, ``order``, ``block`` (see :mod:`minifloat.linalg`), ``out_format`` and
    ``lns_add`` (see :mod:`minifloat.lns`).
    A seed set here starts a Philox stream whose offset advances by the element count of each
    stochastic call, so successive calls draw fresh bits and the whole block is reproducible.
    """
    allowed = {f for f in Settings.__dataclass_fields__}
    unknown = set(settings) - allowed
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    if "rounding" in settings:
        check_rounding(settings["rounding"])
    if "saturation" in settings:
        check_saturation(settings["saturation"])
    if "lns_add" in settings:
        settings["lns_add"] = check_lns_add(settings["lns_add"])
    stream = _state.stack[-1][1]
    if settings.get("seed") is not None:
        stream = _SeedStream(check_seed(settings["seed"]))
    new = replace(current(), **settings)
    _state.stack.append((new, stream))
    try:
        yield new
    finally:
        _state.stack.pop()


def draw_seed(n: int, seed: int | None, offset: int) -> tuple[int, int]:
    """(seed, offset) for a stochastic call of n elements: the call's own seed (at ``offset``),
    else the context stream, else fresh entropy."""
    if seed is not None:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset={offset!r}; allowed: an int >= 0")
        return check_seed(seed), offset
    stream = _state.stack[-1][1]
    if stream is not None:
        return stream.take(n)
    return secrets.randbits(64), 0
