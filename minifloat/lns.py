"""minifloat.lns: logarithmic number systems in one namespace (the user-facing module).

A code of ``LNSFormat(int_bits, frac_bits, signed=True)`` is ``sign | L`` with ``L`` a
two's-complement fixed-point log2 (docs/lns_fixed.md §2). The pieces live in their layers:

- the descriptor and presets: :mod:`minifloat.formats.lns`;
- the exact power tables: :mod:`minifloat.formats.log_tables`;
- the addition algorithms (``lns_add=``) and their tables: :mod:`minifloat.formats.lns_add`;
- encode/decode: :mod:`minifloat.codec`; arithmetic: :mod:`minifloat.arith.lns`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .arith.lns import call_lns_add, contract, elementwise
from .formats.lns import LNS_PRESETS, LNSFormat
from .formats.lns_add import (
    LNS_ADD_ALGORITHMS,
    GaussLog,
    Interp,
    InterpTables,
    LinearBins,
    check_lns_add,
    gauss_exact,
    gauss_for,
    gauss_table,
    interp_bound,
    lns_add_table,
    mitchell_bound,
    mitchell_corrections,
    parse_lns_add,
)
from .formats.log_tables import pow2_values, threshold_table
from .ops import power
from .rounding import config


def lns_add(algorithm: Any) -> contextlib.AbstractContextManager[Any]:
    """``with mf.lns.lns_add("table"):`` selects the LNS addition algorithm for this thread's
    block: the same as ``mf.config(lns_add=...)`` (default ``"exact"``: correctly rounded
    under every rounding mode). Allowed: "exact", "table", "interp", "mitchell", an
    :class:`Interp` or a table from :func:`lns_add_table`. A call's ``lns_add=`` keyword
    overrides it for that call."""
    return config(lns_add=check_lns_add(algorithm))


__all__ = [
    "LNS_ADD_ALGORITHMS", "LNS_PRESETS", "GaussLog", "Interp", "InterpTables", "LNSFormat",
    "LinearBins", "call_lns_add", "check_lns_add", "contract", "elementwise", "gauss_exact",
    "gauss_for", "gauss_table", "interp_bound", "lns_add", "lns_add_table", "mitchell_bound",
    "mitchell_corrections", "parse_lns_add", "pow2_values", "power", "threshold_table",
]
