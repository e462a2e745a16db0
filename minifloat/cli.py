"""The ``minifloat`` command: ``info`` (properties and code layout of a format; ``info --build``:
how the compiled core was built and which ISA level runs, docs/build.md) and ``table`` (every
code with its exact value, IEEE P3109 value-table CSV layout)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

from .formats import BlockFormat, FloatFormat, format
from .hw import hex_value, table_csv
from .hw import value_rows as value_rows  # re-exported (moved to minifloat.hw)


def block_info_text(bf: BlockFormat) -> str:
    """Human-readable parameters of a block-scaled format (docs/semantics.md §8)."""
    lo, hi = bf.scale_pow2_range
    items = [
        ("format", str(bf)),
        ("element", f"{bf.element} ({bf.bits} bits, max {bf.element.max!r}, "
                    f"emax_elem {bf.emax_elem})"),
        ("scale", f"{bf.scale} ({bf.scale.bits} bits; powers of two 2^{lo} .. 2^{hi})"),
        ("block", f"{' x '.join(map(str, bf.block_size))} along axis "
                  f"{', '.join(map(str, bf.axis))}"),
        ("scale_rule", bf.scale_rule),
        ("tensor_scale", str(bf.tensor_scale)),
        ("padding", str(bf.padding)),
        ("saturation", bf.saturation),
        ("bits/element", f"{bf.bits_per_element:g}"),
        ("max", repr(bf.max)),
    ]
    w = max(len(k) for k, _ in items)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in items) + "\n"


def info_text(fmt: FloatFormat) -> str:
    """Human-readable properties and bit layout."""
    if isinstance(fmt, BlockFormat):  # type: ignore[unreachable]
        return block_info_text(fmt)  # type: ignore[unreachable]
    sign = "1 sign bit | " if fmt.signed else "no sign bit | "
    layout = f"{sign}{fmt.exp_bits} exponent bits | {fmt.man_bits} mantissa bits"
    opt = lambda c: "none" if c is None else f"0x{c:0{(fmt.bits + 3) // 4}X}"  # noqa: E731
    items = [
        ("format", repr(fmt)),
        ("layout", f"{layout}  ({fmt.bits} bits, {fmt.num_codes} codes, dtype {fmt.dtype})"),
        ("bias", str(fmt.bias)),
        ("max", f"{fmt.max!r} ({hex_value(fmt.max)})"),
        ("min", repr(fmt.min)),
        ("smallest_normal", f"{fmt.smallest_normal!r} ({hex_value(fmt.smallest_normal)})"),
        ("smallest_subnormal",
         f"{fmt.smallest_subnormal!r} ({hex_value(fmt.smallest_subnormal)})"),
        ("eps / epsneg", f"{fmt.eps!r} / {fmt.epsneg!r}"),
        ("minexp / maxexp", f"{fmt.minexp} / {fmt.maxexp}"),
        ("subnormals", str(fmt.subnormals)),
        ("infinities", f"{fmt.has_inf} (+Inf code {opt(fmt.code_of_inf)})"),
        ("nan", f"{fmt.nan!r} (canonical NaN code {opt(fmt.code_of_nan)})"),
        ("zero", f"code {opt(fmt.code_of_zero)}; negative zero: {fmt.negative_zero}"),
        ("code_of_max", opt(fmt.code_of_max)),
    ]
    w = max(len(k) for k, _ in items)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in items) + "\n"


def _format_arg(name: str, bias: int | None) -> FloatFormat:
    fmt = format(name)
    if isinstance(fmt, BlockFormat):  # type: ignore[unreachable]
        # --bias sets the element's bias (an asymmetric MX element)
        if bias is None:  # type: ignore[unreachable]
            return fmt
        if not isinstance(fmt.element, FloatFormat):
            raise ValueError(f"--bias needs a float element; {fmt} has {fmt.element}")
        return fmt.replace(element=fmt.element.replace(bias=bias))  # type: ignore[return-value]
    return fmt if bias is None else fmt.replace(bias=bias)


def _write_atomic(path: str, text: str) -> None:
    """Write via a temporary file in the same folder, so a failure leaves nothing half-written."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".minifloat-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``minifloat`` command."""
    p = argparse.ArgumentParser(prog="minifloat", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("info", "properties and code layout of a format"),
                           ("table", "every code with its value (P3109 CSV layout)")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("format", nargs="?" if name == "info" else None,
                        help="preset or alias (e4m3, float8_e5m2, bf16, ...) or "
                             "P3109 name (binary8p3, binary8p4uf, ...)")
        sp.add_argument("--bias", type=int, default=None,
                        help="override the exponent bias (asymmetric exponent offset)")
        if name == "info":
            sp.add_argument("--build", action="store_true",
                            help="print how the compiled core was built: compiler, flags, ISA "
                                 "levels compiled in and the one in use (mf.show_config())")
        if name == "table":
            sp.add_argument("--out", default=None, help="write the CSV here instead of stdout")
    from .train_cli import add_train_parser

    add_train_parser(sub)  # sets run=run_train
    from .hw import add_vectors_parser

    add_vectors_parser(sub)  # sets run=run_vectors
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad arguments, 1 for I/O errors)."""
    args = build_parser().parse_args(argv)
    run = getattr(args, "run", None)  # sub-commands without a positional format
    if run is not None:
        return int(run(args))
    if args.command == "info" and (args.build or args.format is None):
        if args.format is not None or not args.build:
            print("minifloat: error: info takes a format or --build", file=sys.stderr)
            return 2
        from . import _core

        sys.stdout.write(_core.build_info_text())
        return 0
    try:
        fmt = _format_arg(args.format, args.bias)
    except (ValueError, TypeError) as e:
        print(f"minifloat: error: {e}", file=sys.stderr)
        return 2
    if args.command == "info":
        sys.stdout.write(info_text(fmt))
        return 0
    if isinstance(fmt, BlockFormat):  # type: ignore[unreachable]
        print(f"minifloat: error: table lists codes of element formats; "  # type: ignore[unreachable]
              f"{fmt} is block-scaled: use 'minifloat table {fmt.element}'", file=sys.stderr)
        return 2
    text = table_csv(fmt)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        _write_atomic(args.out, text)
    except OSError as e:
        print(f"minifloat: error: cannot write {args.out}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
