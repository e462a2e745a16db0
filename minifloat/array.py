"""MiniArray: codes of a number format with NumPy's array protocols.

A MiniArray stores only codes (uint8 for <= 8-bit formats, else uint16) and its format, so
``a.nbytes`` is the true storage. Arithmetic through NumPy ufuncs and functions gives exactly
what hardware implementing the format and rounding would produce (:mod:`minifloat.ops`,
:mod:`minifloat.linalg`); views (slicing, reshape, transpose) never re-round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .backends import cuda as _cuda
from .codec import decode, encode
from .formats import BlockFormat, FloatFormat, FormatLike, format

# What computes on MiniArrays lives in the layers above this module, which register it here
# when they are imported (NEP 18's HANDLED_FUNCTIONS pattern), so that this module never
# imports them:
#   HANDLERS["ufunc"](name, inputs, out, where)     arithmetic ufuncs      (minifloat.ops)
#   HANDLERS["astype"](a, fmt, **projection)        projection             (minifloat.ops)
#   HANDLERS["matmul"|"sum"|"mean"|"dot"](...)      accumulation           (minifloat.linalg)
#   HANDLERS["extreme"](a, "maximum"|"minimum", axis=, keepdims=)          (minifloat.linalg)
#   HANDLERS["block_asarray"](x, BlockFormat, **projection)  BlockArray  (minifloat.block_array)
#   HANDLERS["block_matmul"](BlockCodes, BlockCodes, **kw)   MX products  (minifloat.linalg)
#   FUNCTIONS[np.func]                              __array_function__     (minifloat.linalg)
HANDLERS: dict[str, Callable[..., Any]] = {}
FUNCTIONS: dict[Any, Callable[..., Any]] = {}

# ufuncs computed by HANDLERS["ufunc"] (minifloat.ops), and the ones decided on exact values.
ARITH_UFUNCS = frozenset({
    "add", "subtract", "multiply", "divide", "true_divide", "negative", "positive",
    "absolute", "sqrt", "square", "reciprocal", "maximum", "minimum", "fmax", "fmin",
})
_VALUE_UFUNCS = {  # exact on decoded values, bool results
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "isnan", "isinf",
    "isfinite", "signbit",
}


def device_of(codes: Any) -> str:
    """``"cpu"`` for NumPy codes, ``"cuda:N"`` for CuPy codes on GPU N (decided without
    importing CuPy)."""
    return f"cuda:{int(codes.device.id)}" if _cuda.is_cupy_array(codes) else "cpu"


def parse_device(device: Any) -> tuple[str, int]:
    """``("cpu", 0)`` or ``("cuda", N)`` for a device name: ``"cpu"``, ``"cuda"`` (the current
    GPU) or ``"cuda:N"``; ValueError naming the allowed values otherwise."""
    if isinstance(device, str):
        if device == "cpu":
            return "cpu", 0
        if device == "cuda":
            return "cuda", -1
        head, _, num = device.partition(":")
        if head == "cuda" and num.isdigit():
            return "cuda", int(num)
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N' (N a GPU number), got "
                     f"{device!r}")


def same_device(arrays: list[Any], what: str) -> str:
    """The device all MiniArrays in ``arrays`` are on; ValueError naming two of them when they
    differ (NumPy and CuPy arrays are never mixed implicitly)."""
    devices = list(dict.fromkeys(a.device for a in arrays if isinstance(a, MiniArray)))
    if len(devices) > 1:
        raise ValueError(f"{what}: operands are on different devices ({devices[0]} and "
                         f"{devices[1]}); move them with .to_device(...) first")
    return devices[0] if devices else "cpu"


def host_only(what: str, *arrays: Any) -> None:
    """TypeError when a MiniArray among ``arrays`` is on a GPU: ``what`` has no GPU kernel."""
    for a in arrays:
        if isinstance(a, MiniArray) and a.device != "cpu":
            raise TypeError(f"{what} of a MiniArray on {a.device} has no GPU kernel yet; "
                            "move it with a.get() (or a.to_device('cpu')) first")


def _handler(name: str) -> Callable[..., Any]:
    try:
        return HANDLERS[name]
    except KeyError:  # only when minifloat.array is used without the package __init__
        raise RuntimeError(f"no MiniArray implementation of {name!r} is registered; "
                           "import minifloat") from None


class ArrayOperators:
    """Python's operators as the NumPy ufuncs (MiniArray and BlockArray implement those)."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise NotImplementedError  # the array classes give their decoded values

    def __add__(self, o: Any) -> Any: return np.add(self, o)
    def __radd__(self, o: Any) -> Any: return np.add(o, self)
    def __sub__(self, o: Any) -> Any: return np.subtract(self, o)
    def __rsub__(self, o: Any) -> Any: return np.subtract(o, self)
    def __mul__(self, o: Any) -> Any: return np.multiply(self, o)
    def __rmul__(self, o: Any) -> Any: return np.multiply(o, self)
    def __truediv__(self, o: Any) -> Any: return np.divide(self, o)
    def __rtruediv__(self, o: Any) -> Any: return np.divide(o, self)
    def __neg__(self) -> Any: return np.negative(self)
    def __pos__(self) -> Any: return np.positive(self)
    def __abs__(self) -> Any: return np.absolute(self)
    def __matmul__(self, o: Any) -> Any: return np.matmul(self, o)
    def __rmatmul__(self, o: Any) -> Any: return np.matmul(o, self)
    def __eq__(self, o: Any) -> Any: return np.equal(self, o)  # type: ignore[override]
    def __ne__(self, o: Any) -> Any: return np.not_equal(self, o)  # type: ignore[override]
    def __lt__(self, o: Any) -> Any: return np.less(self, o)
    def __le__(self, o: Any) -> Any: return np.less_equal(self, o)
    def __gt__(self, o: Any) -> Any: return np.greater(self, o)
    def __ge__(self, o: Any) -> Any: return np.greater_equal(self, o)

    __hash__ = None  # type: ignore[assignment]


class MiniArray(ArrayOperators):
    """An array of values of one number format, stored as codes.

    Create with :func:`asarray` (projects), :func:`from_codes` (no rounding), :func:`zeros`,
    :func:`ones`, :func:`full`. ``np.asarray(a)`` gives the decoded values.
    """

    __array_priority__ = 50

    def __init__(self, codes: np.ndarray, fmt: FloatFormat) -> None:
        self._codes = codes
        self._format = fmt

    # ---- storage ----
    @property
    def codes(self) -> np.ndarray:
        """The codes (a view: writing to it changes the array)."""
        return self._codes

    @property
    def format(self) -> FloatFormat:
        """The number format."""
        return self._format

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape, as NumPy."""
        return self._codes.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._codes.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._codes.size

    @property
    def nbytes(self) -> int:
        """Bytes of code storage (1 per element up to 8 bits, else 2)."""
        return int(self._codes.nbytes)

    # ---- device placement ----
    @property
    def device(self) -> str:
        """Where the codes are: ``"cpu"`` (a NumPy array) or ``"cuda:N"`` (a CuPy array on
        GPU N)."""
        return device_of(self._codes)

    def to_device(self, device: str) -> MiniArray:
        """The same values on ``device`` (``"cpu"``, ``"cuda"`` for the current GPU, or
        ``"cuda:N"``): the codes are copied, never re-rounded; ``self`` when already there.

        Raises:
            ValueError: an unknown device name.
            ImportError / RuntimeError: a GPU device without CuPy or without a GPU.
        """
        kind, num = parse_device(device)
        if kind == "cpu":
            if self.device == "cpu":
                return self
            host: np.ndarray = self._codes.get()  # type: ignore[attr-defined]
            return MiniArray(host, self._format)
        cp = _cuda.require()
        target = int(cp.cuda.runtime.getDevice()) if num < 0 else num
        if self.device == f"cuda:{target}":
            return self
        with cp.cuda.Device(target):
            return MiniArray(cp.asarray(self._codes), self._format)

    def get(self) -> MiniArray:
        """This array on the CPU (as CuPy's ``ndarray.get``): ``self.to_device("cpu")``."""
        return self.to_device("cpu")

    @property
    def T(self) -> MiniArray:  # noqa: N802 - NumPy's name
        """Transpose (a view)."""
        return MiniArray(self._codes.T, self._format)

    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[MiniArray]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, key: Any) -> MiniArray:
        return MiniArray(self._codes[_index(key)], self._format)

    def __setitem__(self, key: Any, value: Any) -> None:
        """Assign; values that are not MiniArrays of this format are projected into it
        (with the context's projection settings)."""
        if isinstance(value, MiniArray):
            same_device([self, value], "assignment")
            if value.format != self._format:
                value = value.astype(self._format)
            self._codes[_index(key)] = value.codes
            return
        codes = encode(value, self._format)
        if device_of(codes) != self.device:
            if self.device == "cpu" or np.ndim(codes) != 0:
                raise ValueError(f"assignment: the value is on {device_of(codes)}, the array "
                                 f"on {self.device}; move it with .to_device(...) first")
            codes = _cuda.require().asarray(codes)  # a scalar's code moves to the GPU
        self._codes[_index(key)] = codes

    # ---- views and copies ----
    def reshape(self, *shape: Any, order: Any = "C") -> MiniArray:
        """Reshaped view (as ndarray.reshape)."""
        return MiniArray(self._codes.reshape(*shape, order=order), self._format)

    def transpose(self, *axes: Any) -> MiniArray:
        """Transposed view."""
        return MiniArray(self._codes.transpose(*axes), self._format)

    def ravel(self, order: Any = "C") -> MiniArray:
        """Flattened (view when possible)."""
        return MiniArray(self._codes.ravel(order=order), self._format)

    def copy(self) -> MiniArray:
        """A copy (codes copied)."""
        return MiniArray(self._codes.copy(), self._format)

    def astype(self, fmt: FormatLike, **projection: Any) -> MiniArray:
        """Projection into another format (exact values rounded once)."""
        return _handler("astype")(self, format(fmt), **projection)

    def values(self, dtype: Any = None) -> np.ndarray:
        """Decoded values: float32 when every value of the format is a float32, else float64."""
        if dtype is None:
            dtype = np.float32 if _fits_float32(self._format) else np.float64
        return decode(self._codes, self._format, dtype=dtype)

    def tolist(self) -> Any:
        """Values as (nested) Python floats."""
        return self.values(np.float64).tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.device != "cpu":
            raise TypeError(f"this MiniArray is on {self.device}: implicit conversion to a "
                            "NumPy array is not allowed (as in CuPy); use a.get() or "
                            "a.values() (a CuPy array)")
        v = self.values()
        return v if dtype is None else v.astype(dtype)

    def __repr__(self) -> str:
        host = self.get()
        where = "" if self.device == "cpu" else f", device='{self.device}'"
        return f"MiniArray({np.array2string(host.values(np.float64), separator=', ')}, " \
               f"format={self._format}{where})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (MiniArray, (self._codes, self._format))

    # ---- NumPy protocols ----
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        name = ufunc.__name__
        out = kwargs.pop("out", None)
        if isinstance(out, tuple):
            out = out[0] if len(out) == 1 else out
        where = kwargs.pop("where", True)
        same_device([*inputs, out], ufunc.__name__)
        if method == "reduce":
            if name not in ("add", "maximum", "minimum"):
                raise TypeError(f"{name}.reduce is not supported on MiniArray; "
                                "use np.asarray(a) for float results")
            axis = kwargs.pop("axis", 0)
            keepdims = kwargs.pop("keepdims", False)
            if kwargs or out is not None or where is not True:
                raise TypeError(f"{name}.reduce supports axis= and keepdims= only")
            if name == "add":
                return _handler("sum")(inputs[0], axis=axis, keepdims=keepdims)
            return _handler("extreme")(inputs[0], name, axis=axis, keepdims=keepdims)
        if method != "__call__":
            raise TypeError(f"{name}.{method} is not supported on MiniArray")
        if kwargs.pop("dtype", None) is not None or kwargs.pop("casting", "same_kind") \
                != "same_kind" or kwargs.get("subok", True) is not True:
            raise TypeError(f"{name}: dtype=/casting=/subok= are not supported on MiniArray")
        kwargs.pop("subok", None)
        if kwargs:
            raise TypeError(f"{name}: unsupported keyword(s) {sorted(kwargs)}")
        if name == "matmul":
            if out is not None or where is not True:
                raise TypeError("matmul: out= and where= are not supported on MiniArray")
            return _handler("matmul")(*inputs)
        if name in _VALUE_UFUNCS:
            vals = [decode(x.codes, x.format) if isinstance(x, MiniArray) else x
                    for x in inputs]
            return ufunc(*vals, out=out, where=where) if out is not None else \
                ufunc(*vals, where=where) if where is not True else ufunc(*vals)
        if name not in ARITH_UFUNCS:
            raise TypeError(f"ufunc {name!r} is not supported on MiniArray; use np.asarray(a) "
                            "to compute on the decoded float values")
        if out is not None and not isinstance(out, MiniArray):
            raise TypeError(f"{name}: out= must be a MiniArray")
        return _handler("ufunc")(name, inputs, out, where)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        impl = FUNCTIONS.get(func)
        host_only(f"{func.__module__}.{func.__name__}", *args, *kwargs.values())
        if impl is None:
            raise TypeError(f"{func.__module__}.{func.__name__} is not supported on MiniArray; "
                            "use np.asarray(a) to work on the decoded float values")
        return impl(*args, **kwargs)


    def sum(self, axis: Any = None, **kw: Any) -> MiniArray:
        """Sum with the accumulation rules of :func:`minifloat.linalg.sum`."""
        return _handler("sum")(self, axis=axis, **kw)  # type: ignore[no-any-return]

    def mean(self, axis: Any = None, **kw: Any) -> MiniArray:
        """Mean: the accumulated sum divided by the count, rounded once."""
        return _handler("mean")(self, axis=axis, **kw)  # type: ignore[no-any-return]

    def max(self, axis: Any = None, keepdims: bool = False) -> MiniArray:
        """Largest value (NaN propagates), on the array's device."""
        return _handler("extreme")(self, "maximum", axis=axis,  # type: ignore[no-any-return]
                                   keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> MiniArray:
        """Smallest value (NaN propagates), on the array's device."""
        return _handler("extreme")(self, "minimum", axis=axis,  # type: ignore[no-any-return]
                                   keepdims=keepdims)

    def dot(self, other: Any, **kw: Any) -> MiniArray:
        """Dot product (see :func:`minifloat.linalg.dot`)."""
        return _handler("dot")(self, other, **kw)  # type: ignore[no-any-return]

    def to_ml_dtypes(self) -> np.ndarray:
        """Zero-copy view as the ml_dtypes array type of the same format."""
        import ml_dtypes

        host_only("to_ml_dtypes", self)
        name = self._format.name
        if name not in _ML_DTYPES_VIEWABLE or self._format != format(name):
            raise ValueError(f"{self._format} is not an ml_dtypes type")
        return self._codes.view(getattr(ml_dtypes, name) if name != "float16" else np.float16)

    def __dlpack__(self, **kw: Any) -> Any:
        """DLPack export of the codes (uint8/uint16)."""
        return self._codes.__dlpack__(**kw)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._codes.__dlpack_device__()


_ML_DTYPES_VIEWABLE = {"float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                       "float8_e4m3b11fnuz", "float8_e3m4", "float8_e4m3", "float8_e8m0fnu",
                       "float16", "bfloat16"}


def _index(key: Any) -> Any:
    if isinstance(key, MiniArray):
        raise TypeError("a MiniArray cannot be used as an index")
    return key


def _fits_float32(f: FloatFormat) -> bool:
    if not isinstance(f, FloatFormat):  # fixed point, LNS
        return bool(getattr(f, "fits_float32", False))
    low = f.minexp - (f.man_bits if f.subnormals else 0)
    return f.man_bits <= 23 and low >= -149 and f.maxexp <= 128


def asarray(x: Any, fmt: FormatLike | None = None, **projection: Any) -> MiniArray:
    """``x`` projected into ``fmt`` (a MiniArray of another format is projected exactly once;
    one of the same format is returned as is)."""
    if isinstance(x, MiniArray):
        if fmt is None or format(fmt) == x.format:
            return x
        if isinstance(format(fmt), BlockFormat):
            return _handler("block_asarray")(x, format(fmt), **projection)  # type: ignore[no-any-return]
        return x.astype(fmt, **projection)
    if fmt is None:
        raise TypeError("asarray needs a format for non-MiniArray input")
    f = format(fmt)
    if isinstance(f, BlockFormat):  # a BlockArray (minifloat.block_array)
        return _handler("block_asarray")(x, f, **projection)  # type: ignore[no-any-return]
    return MiniArray(encode(x, f, **projection), f)


def from_codes(codes: Any, fmt: FormatLike) -> MiniArray:
    """A MiniArray over existing codes (no rounding; codes are checked to be in range)."""
    f = format(fmt)
    c = codes if _cuda.is_cupy_array(codes) else np.asarray(codes)  # CuPy codes stay there
    if c.dtype.kind not in "iu":
        raise TypeError(f"codes must be integers, got dtype {c.dtype}")
    if c.size and (int(c.min()) < 0 or int(c.max()) >= f.num_codes):
        raise ValueError(f"codes must be in 0..{f.num_codes - 1} for {f}")
    if c.dtype != f.dtype:
        c = c.astype(f.dtype)
    return MiniArray(c, f)


def full(shape: Any, value: Any, fmt: FormatLike, **projection: Any) -> MiniArray:
    """An array filled with ``value`` projected into ``fmt``."""
    f = format(fmt)
    code = encode(np.asarray(value), f, **projection)
    return MiniArray(np.full(shape, code, dtype=f.dtype), f)


def zeros(shape: Any, fmt: FormatLike) -> MiniArray:
    """Zeros (ValueError for formats without zero)."""
    f = format(fmt)
    if not f.has_zero:
        raise ValueError(f"{f} has no zero")
    return full(shape, 0.0, f)


def ones(shape: Any, fmt: FormatLike) -> MiniArray:
    """Ones (1 projected: exact when the format holds 1)."""
    return full(shape, 1.0, fmt)
