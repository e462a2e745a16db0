"""Run-time quantisation: one :class:`TensorQuantizer` per tensor slot (a layer's activations,
errors, weights...), sharing a :class:`QuantContext` (seeded random-bit stream, step counter,
recorded offsets).

Values are carried as float32 (or float64 in gradient checks) arrays that lie exactly on the
role's format grid ("fake quantisation"): ``decode(encode(x))``. Stored tensors (parameters,
saved inputs) are kept as codes.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any

import numpy as np

from .. import _core, blocks
from .. import rounding as rnd
from ..backends.cpu import padded_table
from ..codec import decode, encode
from ..projection import resolve_projection
from .formats import FLOAT32, format_max, select_offset, uses_bias, with_offset
from .policy import QuantPolicy, RoleSpec


class QuantContext:
    """State shared by the quantizers of one run.

    Args:
        policy: the QuantPolicy.
        seed: seed of the Philox stream used by stochastic roundings; successive stochastic
            projections take successive stretches of it, so a run is reproducible.
        record: record each quantizer's offset at every training step.
        streams: ``"sequential"`` (the NumPy trainer: successive stochastic projections take
            successive stretches of one Philox stream) or ``"keyed"`` (each projection gets a
            stream of its own, derived from (seed, role, slot, step, rank, call): see
            :func:`stream_seed`; the order in which slots are projected then does not matter,
            which is what data-parallel and compiled runs need).
        rank: the process's rank in data-parallel training (keyed streams only).
    """

    def __init__(self, policy: QuantPolicy, seed: int = 0, record: bool = True, *,
                 streams: str = "sequential", rank: int = 0) -> None:
        if streams not in STREAMS:
            raise ValueError(f"streams={streams!r}; allowed: {', '.join(STREAMS)}")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise ValueError(f"rank={rank!r}; allowed: an int >= 0")
        self.policy = policy
        self.seed = int(seed) % (1 << 63)
        self.streams = streams
        self.rank = rank
        self.stream = 0
        self.step = 0
        self.training = True
        self.record = record
        self.offsets: dict[str, list[int]] = {}
        self.quantizers: dict[str, TensorQuantizer] = {}

    def take(self, n: int) -> int:
        """Reserve ``n`` stream positions for a stochastic projection; returns the first."""
        start = self.stream
        self.stream += n
        return start

    def random_source(self, q: TensorQuantizer, n: int) -> tuple[int, int]:
        """(seed, first stream position) for a stochastic projection of ``n`` elements by
        ``q``: a stretch of the run's stream (sequential) or a keyed stream of its own."""
        if self.streams == "sequential":
            return self.seed, self.take(n)
        if q._call_step != self.step:
            q._call_step, q._calls = self.step, 0
        call = q._calls
        q._calls += 1
        rank = self.rank if q.role in PER_RANK_ROLES else 0
        return stream_seed(self.seed, q.role, q.name, self.step, rank, call), 0

    def quantizer(self, name: str, role: str) -> TensorQuantizer:
        """The quantizer of slot ``name`` (created on first use) for ``role``."""
        q = self.quantizers.get(name)
        if q is None:
            q = TensorQuantizer(name, role, self.policy.role(role), self)
            self.quantizers[name] = q
        return q

    def offsets_view(self) -> dict[str, dict[str, Any]]:
        """Per slot: role, format label, mode, and the offset per recorded step, with the
        equivalent exponent bias (FloatFormat) and power-of-two scale exponent."""
        out: dict[str, dict[str, Any]] = {}
        for name, q in self.quantizers.items():
            if not q.spec.quantized:
                continue
            hist = self.offsets.get(name, [])
            base_bias = getattr(q.spec.format, "bias", None)
            out[name] = {
                "role": q.role, "mode": q.spec.offset.mode, "offset": list(hist),
                "current": q.offset, "base_bias": base_bias,
                "bias": None if base_bias is None else [base_bias + k for k in hist],
                "scale_exp": [-k for k in hist],
            }
        return out


STREAMS = ("sequential", "keyed")
_CORE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Roles whose tensors differ between data-parallel ranks (they come from each rank's own
# examples); the others (weights, biases, updates, optimizer_state, master_weights) are
# projected after the gradient all-reduce and must round identically on every rank.
PER_RANK_ROLES = frozenset({"activations", "errors", "saved_inputs", "weight_grads"})


def stream_seed(seed: int, role: str, slot: str, step: int, rank: int, call: int) -> int:
    """The Philox seed of one keyed stochastic projection (docs/torch.md, "Random streams"):
    the first 8 bytes (little-endian, top bit cleared) of BLAKE2b-64 of
    ``"minifloat-stream-v1|{seed}|{role}|{slot}|{step}|{rank}|{call}"``; element i of the
    tensor (C order) uses stream position i. ``rank`` is 0 for the replicated roles, ``call``
    counts the slot's projections within the step (0, 1, ...)."""
    key = f"minifloat-stream-v1|{seed}|{role}|{slot}|{step}|{rank}|{call}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & ((1 << 63) - 1)


class TensorQuantizer:
    """Projects tensors of one slot into its role's format with the current exponent offset.

    ``offset`` k: the grid is the format's with bias ``bias + k`` (equivalently the values are
    ``2**-k`` times the base format's). ``scale_exp = -k`` is the power-of-two scale view.
    """

    def __init__(self, name: str, role: str, spec: RoleSpec, ctx: QuantContext) -> None:
        self.name = name
        self.role = role
        self.spec = spec
        self.ctx = ctx
        self.offset = spec.offset.value
        self._history: deque[float] = deque(maxlen=spec.offset.history)
        self._fmax = format_max(spec.format) if spec.quantized else float("inf")
        self._last_step = -1
        self._frozen = False  # "init" mode: offset fixed by the first tensor
        self._call_step = -1  # keyed streams: projections counted per step
        self._calls = 0
        # Resolved core arguments per (offset, flush): FloatFormat slots skip the codec's
        # per-call argument checks (the settings were checked once, by resolve_projection).
        self._resolved: dict[tuple[int, bool], tuple[Any, ...]] = {}
        self._direct = spec.quantized and uses_bias(spec.format)
        self._block_formats: dict[Any, Any] = {}

    @property
    def blocked(self) -> bool:
        """Whether the slot's format is block-scaled: it then projects matmul operands
        (:meth:`block`), and calling the quantizer on a layer output returns it unchanged."""
        return self.spec.blocked

    def block_format(self, axis: int) -> Any:
        """The role's BlockFormat with blocks along ``axis`` (a 2-D tile format keeps its
        tile over the last two axes) and a partial last block (padding "zeros")."""
        bf = self._block_formats.get(axis)
        if bf is None:
            f = self.spec.format
            ax = (-2, -1) if len(f.block_size) == 2 else axis
            bf = f.replace(axis=ax, padding="zeros")
            self._block_formats[axis] = bf
        return bf

    def block_codes(self, x: np.ndarray, axis: int) -> Any:
        """BlockCodes of ``x`` in the role's block format, blocks along ``axis``."""
        return blocks.encode(x, self.block_format(axis), **self._projection(x.size))

    def block(self, x: np.ndarray, axis: int) -> np.ndarray:
        """``x`` projected onto the role's block format with blocks along ``axis`` (the
        reduction axis of the matmul it enters), same dtype; a block holding NaN or Inf
        decodes to NaN (the NaN scale), which dynamic loss scaling sees as overflow."""
        bc = self.block_codes(x, axis)
        return blocks.decode(bc, bc.format, x.dtype)

    @property
    def quantized(self) -> bool:
        """Whether the slot's role is projected at all."""
        return self.spec.quantized

    def format(self) -> Any:
        """The effective format at the current offset (a FloatFormat with shifted bias), or
        the base format for scale-offset formats."""
        f = self.spec.format
        return with_offset(f, self.offset) if uses_bias(f) else f

    @property
    def scale_exp(self) -> int:
        """The offset as a power-of-two scale: values are ``2**scale_exp * base_value``."""
        return -self.offset

    def _choose_offset(self, x: np.ndarray) -> None:
        o = self.spec.offset
        if o.mode in ("static", "param") or self._frozen:
            return  # "param": set by the optimizer (follow)
        amax = float(np.max(np.abs(x))) if x.size else 0.0
        finite = amax > 0 and np.isfinite(amax)
        ref = amax if finite else 0.0
        if o.mode == "init":
            self._frozen = True
        elif o.mode == "delayed":  # the history of previous amaxes, then this one joins it
            if self._history:
                ref = max(self._history)
            if finite and self.ctx.training:  # evaluation tensors do not enter the history
                self._history.append(amax)
        if ref > 0:
            self.offset = min(max(select_offset(ref, self._fmax, o.margin), o.min), o.max)

    def follow(self, other: TensorQuantizer | None) -> None:
        """Offset mode "param": take ``other``'s current offset (the tensor this slot's values
        are added to); the role's ``value`` when ``other`` is None or not quantised."""
        self.offset = (other.offset if other is not None and other.spec.quantized
                       else self.spec.offset.value)

    def _record(self) -> None:
        ctx = self.ctx
        if ctx.record and ctx.training and self._last_step != ctx.step:
            self._last_step = ctx.step
            ctx.offsets.setdefault(self.name, []).append(self.offset)

    def _projection(self, n: int) -> dict[str, Any]:
        s = self.spec
        kw: dict[str, Any] = {"rounding": s.rounding, "saturation": s.saturation}
        if s.flush_subnormals:
            kw["flush_subnormals"] = True
        if s.rounding.startswith("stochastic"):
            kw["random_bits"] = s.random_bits
            kw["seed"], kw["offset"] = self.ctx.random_source(self, n)
        return kw

    def _resolve(self, key: tuple[int, bool]) -> tuple[Any, ...]:
        """(format at the offset, its spec, mode, sat, N, flush, float32 and float64 value
        tables) for the core, checked once by the codec's own resolve_projection."""
        s = self.spec
        fe = with_offset(s.format, key[0])
        stochastic = s.rounding.startswith("stochastic")
        p = resolve_projection(fe, (0,), rounding=s.rounding, saturation=s.saturation,
                               random_bits=s.random_bits if stochastic else None,
                               seed=0 if stochastic else None, flush_subnormals=key[1])
        r = (fe, fe.spec, p.mode, p.sat, p.nbits, int(p.flush),
             padded_table(fe, np.dtype(np.float32)), padded_table(fe, np.dtype(np.float64)))
        self._resolved[key] = r
        return r

    def _direct_codes(self, x: np.ndarray) -> tuple[np.ndarray, Any, tuple[Any, ...]]:
        """encode()'s codes for a C-contiguous float32/float64 ``x`` and a FloatFormat slot,
        straight through the core (same arguments as mf.encode would pass it)."""
        s = self.spec
        flush = True if s.flush_subnormals else rnd.current().flush_subnormals
        key = (self.offset, bool(flush))
        r = self._resolved.get(key) or self._resolve(key)
        seed = off = rsrc = 0
        if r[4]:
            seed, off = self.ctx.random_source(self, x.size)
            rsrc = 1
        codes = np.empty(x.shape, dtype=r[0].dtype)
        if not _core.encode(x, r[1], r[2], r[3], r[4], r[5], rsrc, seed, off, None, codes):
            if not np.isnan(x).any():  # pragma: no cover - the core fails only on NaN
                raise ValueError(f"x cannot be encoded in {r[0]}")
            _core.encode(np.nan_to_num(x, nan=0.0), r[1], r[2], r[3], r[4], r[5], rsrc, seed,
                         off, None, codes)
        return codes, r[0], r

    def _fast(self, x: np.ndarray) -> bool:
        return self._direct and type(x) is np.ndarray and x.flags.c_contiguous and \
            x.dtype in _CORE_FLOATS

    def encode(self, x: np.ndarray, *, choose: bool = True) -> tuple[np.ndarray, Any, int]:
        """Codes of ``x`` in the slot's format: ``(codes, format, scale_exp)``; the values are
        ``decode(codes, format) * 2**scale_exp`` (scale_exp is 0 for FloatFormats, whose
        offset is in the returned format's bias). NaNs in ``x`` are encoded as NaN where the
        format has one, else as 0 (the caller keeps NaN in float values to signal overflow)."""
        if choose:
            self._choose_offset(x)
        self._record()
        if self._fast(x):
            codes, fe, _ = self._direct_codes(x)
            return codes, fe, 0
        f = self.spec.format
        kw = self._projection(x.size)
        if uses_bias(f):
            fe = with_offset(f, self.offset)
            try:
                return encode(x, fe, **kw), fe, 0
            except ValueError:
                if not np.isnan(x).any():
                    raise
                return encode(np.nan_to_num(x, nan=0.0), fe, **kw), fe, 0
        xs = np.ldexp(x.astype(np.float64), self.offset)
        try:
            return encode(xs, f, **kw), f, -self.offset
        except ValueError:
            if not np.isnan(xs).any():
                raise
            return encode(np.nan_to_num(xs, nan=0.0), f, **kw), f, -self.offset

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x`` projected onto the slot's grid, same dtype (identity for float32 roles, and
        for block formats, which project matmul operands instead: :meth:`block`).
        NaNs stay NaN (they signal overflow to dynamic loss scaling)."""
        if not self.spec.quantized or self.spec.blocked:
            return x
        if self._fast(x):
            self._choose_offset(x)
            self._record()
            codes, fe, r = self._direct_codes(x)
            out = np.empty(x.shape, dtype=x.dtype)
            _core.decode(codes, r[6] if x.dtype == np.float32 else r[7], out)
            if not fe.has_nan:
                nan = np.isnan(x)
                if nan.any():
                    out[nan] = np.nan
            return out
        codes, fe, sexp = self.encode(x)
        out = decode_values(codes, fe, sexp, x.dtype)
        if not getattr(fe, "has_nan", False) or not uses_bias(self.spec.format):
            nan = np.isnan(x)
            if nan.any():
                out[nan] = np.nan
        return out


def decode_values(codes: np.ndarray, fmt: Any, scale_exp: int, dtype: Any) -> np.ndarray:
    """Values of ``codes`` (in ``fmt``, scaled by ``2**scale_exp``) as ``dtype``."""
    if scale_exp == 0:
        return decode(codes, fmt, dtype)
    return np.ldexp(decode(codes, fmt), scale_exp).astype(dtype)


class Stored:
    """A tensor kept between forward and backward or across steps: a float array (role
    float32), codes with their format and scale, or the BlockCodes of a block format (of
    the tensor reshaped to ``codes.codes.shape``). ``nbytes`` is what it occupies."""

    __slots__ = ("array", "codes", "fmt", "scale_exp", "dtype", "shape")

    def __init__(self, array: np.ndarray | None = None, codes: Any = None,
                 fmt: Any = None, scale_exp: int = 0, dtype: Any = np.float32,
                 shape: tuple[int, ...] | None = None) -> None:
        self.array = array
        self.codes = codes
        self.fmt = fmt
        self.scale_exp = scale_exp
        self.dtype = np.dtype(dtype)
        if shape is None:
            shape = array.shape if array is not None else self._codes().shape
        self.shape = tuple(shape)

    def _codes(self) -> np.ndarray:
        c = self.codes
        return c.codes if isinstance(c, blocks.BlockCodes) else c

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes held (codes: 1 or 2 per element; floats: their itemsize; block codes:
        packed as the format lays them out, element bits per value plus one scale code per
        block actually held, a partial block counted whole)."""
        if self.array is not None:
            return int(self.array.nbytes)
        bc = self.codes
        if isinstance(bc, blocks.BlockCodes):
            f: Any = bc.format
            return (self.size * f.element.bits + 7) // 8 + (bc.scales.size * f.scale.bits
                                                           + 7) // 8
        return int(self.codes.nbytes)

    def values(self) -> np.ndarray:
        """The stored tensor as floats."""
        if self.array is not None:
            return self.array
        if isinstance(self.codes, blocks.BlockCodes):
            return blocks.decode(self.codes, self.fmt, self.dtype).reshape(self.shape)
        return decode_values(self.codes, self.fmt, self.scale_exp, self.dtype)


def store(q: TensorQuantizer | None, x: np.ndarray, axis: int = 1) -> Stored:
    """Keep ``x`` through quantizer ``q``: as codes when its role is quantised, else as is.
    A block format blocks ``x`` along ``axis`` (a 1-D ``x``: along its only axis)."""
    if q is None or not q.spec.quantized:
        return Stored(array=x, dtype=x.dtype)
    if q.spec.blocked:
        x2 = x.reshape(1, -1) if x.ndim < 2 else x
        bc = q.block_codes(x2, axis if x.ndim >= 2 else 1)
        return Stored(codes=bc, fmt=bc.format, dtype=x.dtype, shape=x.shape)
    codes, fe, sexp = q.encode(x)
    return Stored(codes=codes, fmt=fe, scale_exp=sexp, dtype=x.dtype)


__all__ = ["FLOAT32", "PER_RANK_ROLES", "STREAMS", "QuantContext", "Stored", "TensorQuantizer",
           "decode_values", "store", "stream_seed"]
