"""Parameters (stored as codes in their role's format) and the matrix product with the
policy's accumulator."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..formats import FloatFormat
from .formats import FLOAT32
from .quant import QuantContext, Stored, TensorQuantizer, store


class Parameter:
    """A learnable tensor.

    ``data`` holds its working values (float32, exactly on the grid of its role's format);
    ``stored`` is what is kept in memory between steps: the codes in that format (or the float
    array for a float32 role). ``grad`` is set by the backward pass.

    Args:
        value: initial values (projected when the parameter is attached to a policy).
        role: "weights" or "biases".
        name: dotted name inside the model (set by the model).
    """

    def __init__(self, value: np.ndarray, role: str = "weights", name: str = "") -> None:
        if role not in ("weights", "biases"):
            raise ValueError(f"role={role!r}; allowed: 'weights', 'biases'")
        self.role = role
        self.name = name
        self.init_value = np.array(value)
        self.data = np.array(value)
        self.grad: np.ndarray | None = None
        self.stored = Stored(array=self.data, dtype=self.data.dtype)
        self.quantizer: TensorQuantizer | None = None
        self._source: np.ndarray | None = None  # block weights: the value before projection
        self._dgrad: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the tensor."""
        return tuple(self.data.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(self.data.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the stored representation (codes, or floats for a float32 role)."""
        return self.stored.nbytes

    def attach(self, ctx: QuantContext | None) -> None:
        """Bind to a run's quantisation context and project the initial value into the
        role's format (SQPU: parameters are quantised at initialisation)."""
        self.quantizer = None if ctx is None else ctx.quantizer(f"{self.name}", self.role)
        self.assign(self.init_value.astype(self.data.dtype))

    def assign(self, value: np.ndarray) -> None:
        """Project ``value`` into the parameter's format, store the codes and refresh ``data``.

        A block-format weights role stores the tensor as a matrix ``(shape[0], -1)`` (a
        Linear/Conv weight as its forward matmul reads it) with blocks along its rows' axis
        1, the forward reduction axis; ``value`` is kept (it is the optimizer's master copy)
        for the backward operand, see :meth:`dgrad_operand`."""
        value = np.ascontiguousarray(value, dtype=self.data.dtype)
        q = self.quantizer
        self._dgrad = None
        if q is not None and q.spec.blocked and value.ndim >= 2:
            self._source = value
            self.stored = store(q, value.reshape(value.shape[0], -1), axis=1)
            self.stored.shape = value.shape
        else:
            self._source = None
            self.stored = store(q, value)
        self.data = self.stored.values()

    def dgrad_operand(self) -> np.ndarray:
        """The weight as the input-gradient matmul (``dx = dy W``, reduction over the output
        axis) reads it, as a matrix ``(shape[0], -1)``: ``data`` itself, except for a block
        format with 1-D blocks, where it is the value the optimizer assigned projected again
        with blocks along axis 0 (the MX training recipe: each matmul's operands blocked
        along its own reduction axis); a 2-D tile format uses the same ``data`` both ways."""
        w2 = self.data.reshape(self.data.shape[0], -1)
        q = self.quantizer
        if self._source is None or q is None or len(q.spec.format.block_size) == 2:
            return w2
        if self._dgrad is None:
            self._dgrad = q.block(self._source.reshape(w2.shape), 0)
        return self._dgrad

    def astype(self, dtype: Any) -> None:
        """Convert working values (e.g. to float64 for gradient checks; float32 roles only)."""
        self.data = self.data.astype(dtype)
        self.init_value = self.init_value.astype(dtype)
        self.stored = Stored(array=self.data, dtype=dtype)


def carrier_format(mant_bits: int) -> FloatFormat:
    """A FloatFormat holding every value of the <= 8-significant-bit role formats exactly
    (8 exponent bits, bias 127: the range of binary32), for emulated accumulation."""
    return FloatFormat(8, max(mant_bits, 1))


def significand_bits(fmt: Any) -> int:
    """Fraction bits a value of ``fmt`` can need (fixed point: all but the sign)."""
    if fmt == FLOAT32:
        return 23
    if hasattr(fmt, "block_size"):  # a block format: its elements (scales are powers of 2
        return significand_bits(fmt.element)  # or E4M3 values; see docs/nn.md)
    if isinstance(fmt, FloatFormat):
        return fmt.man_bits
    return int(fmt.bits) - 1


def matmul(a: np.ndarray, b: np.ndarray, ctx: QuantContext | None) -> np.ndarray:
    """``a @ b`` with the policy's accumulator.

    - ``"float32_blas"`` (or no context): NumPy/BLAS matmul in the arrays' dtype. Products of
      operands with <= 12 significant bits are exact in float32; BLAS's summation order is
      unspecified, so last-bit results may differ across BLAS builds and thread counts.
    - ``"float32"``: sequential binary32 accumulation k = 0, 1, ... (bit-specified; the
      register-blocked core kernel of ``mf.matmul(..., accumulator="float32")``).
    - a FloatFormat F: ``mf.matmul(..., accumulator=F, out_format=F)``: every addition rounded
      into F. The operands are carried exactly in an 8-exponent-bit format, so every role in
      the policy must have <= 7 fraction bits.
    """
    acc = "float32_blas" if ctx is None else ctx.policy.accumulator
    if acc == "float32_blas" or a.dtype != np.float32:
        return a @ b
    if acc == "float32":
        from .. import _core

        a32 = np.ascontiguousarray(a, dtype=np.float32)
        b32 = np.ascontiguousarray(b, dtype=np.float32)
        m, k = a32.shape
        n = b32.shape[1]
        out = np.empty((m, n), dtype=np.float32)
        _core.matmul_f32_seq(a32, b32, out, m, k, n)
        return out
    from ..array import from_codes
    from ..codec import encode
    from ..linalg import matmul as mf_matmul

    assert ctx is not None
    pol = ctx.policy
    bits = max(significand_bits(pol.role(r).format)
               for r in ("weights", "activations", "errors", "saved_inputs"))
    if bits > 7:
        raise ValueError(f"accumulator={acc}: emulated accumulation needs every operand role in "
                         "a format with <= 7 fraction bits (float32 roles are not allowed)")
    carrier = carrier_format(bits)
    ca, cb = encode(a, carrier), encode(b, carrier)
    res = mf_matmul(from_codes(ca, carrier), from_codes(cb, carrier), accumulator=acc,
                    out_format=acc)
    return res.values(np.float32)
