"""cocotb driver and scoreboard: check an RTL minifloat operator against the package.

A cocotb test drives operand pairs (every pair, or a seeded random sample) into a
combinational DUT, samples its result, compares it with the package's correctly rounded
result and reports the first mismatches with decoded fields and commands that reproduce them
(docs/hardware.md, "Three ways in").

    import cocotb
    import minifloat as mf
    from minifloat import hw_cocotb

    @cocotb.test()
    async def mul_exhaustive(dut):
        fmt = mf.FloatFormat(4, 3, bias=7)
        report = await hw_cocotb.check_binary_op(dut, "mul", fmt)   # all 65,536 pairs
        report.raise_if_failed()

The DUT's ports (names configurable with ``ports=``): ``a``, ``b``, ``result`` (``lanes``
operand pairs side by side: lane i on bits ``[i*bits +: bits]``), optional ``rnd_mode``,
``sat`` (driven with constants, :data:`RTL_ROUNDINGS` / :data:`RTL_SATURATIONS` by default:
the encoding of the example RTL in ``hw/rtl``) and ``rbits`` (the random bits of each lane
for stochastic modes).  :func:`run_rtl` builds and runs such a test with Icarus Verilog through
``cocotb_tools.runner``.  cocotb is imported only inside the functions that need it.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .array import from_codes
from .codec import decode, philox_words
from .formats import FloatFormat
from .ops import add, divide, multiply, subtract
from .rounding import STOCHASTIC, check_rounding, check_saturation, random_bits_for

#: rnd_mode input values of the example RTL (hw/rtl/mf_round.v)
RTL_ROUNDINGS: dict[str, int] = {"nearest_even": 0, "toward_zero": 1, "stochastic_a": 2}
#: sat input values of the example RTL
RTL_SATURATIONS: dict[str, int] = {"none": 0, "finite": 1, "propagate": 2, "nan": 3}
#: NAN_LAYOUT parameter values of the example RTL
RTL_NAN_LAYOUTS: dict[str, int] = {"ieee": 0, "max": 1, "negzero": 2}

BINARY_OPS = {"add": add, "sub": subtract, "mul": multiply, "div": divide}
_OP_FUNC_NAMES = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}
DEFAULT_PORTS = {"a": "a", "b": "b", "result": "result", "rnd_mode": "rnd_mode", "sat": "sat",
                 "rbits": "rbits"}


def rtl_parameters(fmt: FloatFormat) -> dict[str, int]:
    """Parameters EXP, MAN, BIAS, NAN_LAYOUT, INF of the example RTL (hw/rtl) for ``fmt``.

    Raises:
        ValueError: the example RTL does not implement this kind of format (it implements
            signed formats with subnormals, exp_bits >= 1, man_bits >= 1 and the NaN layouts
            ieee, max and negzero).
    """
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"rtl_parameters takes a FloatFormat, got {type(fmt).__name__}")
    if not (fmt.signed and fmt.subnormals and fmt.exp_bits >= 1 and fmt.man_bits >= 1
            and fmt.nan in RTL_NAN_LAYOUTS):
        raise ValueError(f"{fmt!r}: the example RTL implements signed formats with subnormals, "
                         "exp_bits >= 1, man_bits >= 1 and nan='ieee', 'max' or 'negzero'")
    return {"EXP": fmt.exp_bits, "MAN": fmt.man_bits, "BIAS": fmt.bias,
            "NAN_LAYOUT": RTL_NAN_LAYOUTS[fmt.nan], "INF": int(fmt.infinities)}


def describe(code: int, fmt: FloatFormat) -> str:
    """A code with its fields and value, e.g. ``0x38 (s=0 E=0111 M=000: 1.0)``."""
    m, e = fmt.man_bits, fmt.exp_bits
    digits = (int(fmt.bits) + 3) // 4
    M = code & ((1 << m) - 1)
    E = (code >> m) & ((1 << e) - 1)
    sign = f"s={code >> (e + m)} " if fmt.signed else ""
    value = float(decode(np.array([code], dtype=np.uint16), fmt)[0])
    ef = f"E={E:0{e}b} " if e else ""
    mf_ = f"M={M:0{m}b}" if m else "M=-"
    return f"0x{code:0{digits}X} ({sign}{ef}{mf_}: {value!r})"


def expected(op: str, fmt: FloatFormat, a: np.ndarray, b: np.ndarray, *,
             rounding: str = "nearest_even", saturation: str = "none",
             random_bits: int | None = None, random: np.ndarray | None = None) -> np.ndarray:
    """The package's result codes of ``a op b`` (the golden model)."""
    if op not in BINARY_OPS:
        raise ValueError(f"op={op!r}; allowed: {', '.join(BINARY_OPS)}")
    kw: dict[str, Any] = {"rounding": rounding, "saturation": saturation}
    if rounding in STOCHASTIC:
        kw.update(random_bits=random_bits, random=random)
    fa = from_codes(np.asarray(a, dtype=np.uint16), fmt)
    fb = from_codes(np.asarray(b, dtype=np.uint16), fmt)
    return np.asarray(BINARY_OPS[op](fa, fb, **kw).codes, dtype=np.int64)


def operand_pairs(fmt: FloatFormat, count: int | None = None, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Every operand pair in vector-file order (``count=None``: a slowest, b fastest), or
    ``count`` pairs of uniform random codes drawn as ``minifloat vectors`` draws them
    (``numpy.random.default_rng(seed)``, a then b)."""
    n = 1 << int(fmt.bits)
    if count is None:
        i = np.arange(n * n, dtype=np.int64)
        return i // n, i % n
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count={count!r}; allowed: None or an int >= 1")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=count, dtype=np.uint16).astype(np.int64)
    b = rng.integers(0, n, size=count, dtype=np.uint16).astype(np.int64)
    return a, b


def random_values(count: int, random_bits: int, seed: int = 0) -> np.ndarray:
    """R of pair j: the top ``random_bits`` bits of Philox4x32-10 word j of ``seed`` (the
    stream ``minifloat vectors`` puts in its R column)."""
    words = philox_words(seed, 0, count).astype(np.int64)
    return words >> (32 - random_bits)


@dataclass(frozen=True)
class Mismatch:
    """One pair where the DUT differs: ``got`` is None when the DUT output had X/Z bits."""

    index: int
    a: int
    b: int
    R: int | None
    got: int | None
    want: int


@dataclass
class Report:
    """Outcome of a scoreboard run."""

    op: str
    fmt: FloatFormat
    rounding: str
    saturation: str
    random_bits: int
    checked: int = 0
    mismatch_count: int = 0
    first: list[Mismatch] = field(default_factory=list)
    rerun: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def reproduce(self, m: Mismatch) -> str:
        """A shell command printing the golden result of one mismatching pair."""
        fn = _OP_FUNC_NAMES[self.op]
        extra = ""
        if self.random_bits:
            extra = f", random_bits={self.random_bits}, random=[{m.R}]"
        code = (f"from minifloat import *; f = {self.fmt!r}; "
                f"print(hex(int({fn}(from_codes([{m.a:#x}], f), from_codes([{m.b:#x}], f), "
                f"rounding={self.rounding!r}, saturation={self.saturation!r}{extra})"
                ".codes[0])))")
        return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"

    def text(self) -> str:
        """Human-readable summary with the first mismatches."""
        head = (f"{self.op} {self.fmt!r} rounding={self.rounding} saturation={self.saturation}"
                + (f" random_bits={self.random_bits}" if self.random_bits else ""))
        if self.ok:
            return f"PASS {head}: {self.checked} pairs, all results match minifloat"
        lines = [f"FAIL {head}: {self.mismatch_count} of {self.checked} pairs differ from "
                 f"minifloat; first {len(self.first)}:"]
        for m in self.first:
            r = f" R={m.R}" if m.R is not None else ""
            got = "X/Z" if m.got is None else describe(m.got, self.fmt)
            lines.append(f"  pair {m.index}: a={describe(m.a, self.fmt)} "
                         f"b={describe(m.b, self.fmt)}{r}")
            lines.append(f"      DUT  {got}")
            lines.append(f"      want {describe(m.want, self.fmt)}")
        if self.first:
            lines.append("  golden result of the first: " + self.reproduce(self.first[0]))
        if self.rerun:
            lines.append(f"  rerun: {self.rerun}")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """AssertionError with :meth:`text` when any pair differs."""
        if not self.ok:
            raise AssertionError(self.text())


def _read(handle: Any) -> int | None:
    v = handle.value
    try:
        return int(v.to_unsigned()) if hasattr(v, "to_unsigned") else int(v)
    except ValueError:
        return None


async def check_binary_op(dut: Any, op: str, fmt: FloatFormat, *,
                          rounding: str = "nearest_even", saturation: str = "none",
                          random_bits: int | None = None, a: Sequence[int] | None = None,
                          b: Sequence[int] | None = None, R: Sequence[int] | None = None,
                          count: int | None = None, seed: int = 0, lanes: int = 1,
                          ports: Mapping[str, str | None] | None = None,
                          mode_values: Mapping[str, int] | None = None,
                          settle_steps: int = 1, max_report: int = 10,
                          rerun: str | None = None) -> Report:
    """Drive operand pairs into a combinational DUT and compare its results with minifloat.

    Args:
        dut: the cocotb DUT handle.
        op: ``add``, ``sub``, ``mul`` or ``div``.
        fmt: the format of operands and result.
        rounding, saturation, random_bits: the golden model's settings (and, through
            ``mode_values``, the DUT's ``rnd_mode`` / ``sat`` inputs).
        a, b: the operand codes; default :func:`operand_pairs` (``count``, ``seed``).
        R: the random bits of each pair (stochastic modes); default :func:`random_values`
            (``seed``).  Driven on the ``rbits`` port.
        lanes: pairs the DUT takes per step (lane i on bits ``[i*bits +: bits]``).
        ports: port names, keys ``a b result rnd_mode sat rbits`` (None: the DUT has no such
            port); default :data:`DEFAULT_PORTS`, ports missing on the DUT are skipped.
        mode_values: values for the ``rnd_mode`` and ``sat`` ports; default
            ``{"rnd_mode": RTL_ROUNDINGS[rounding], "sat": RTL_SATURATIONS[saturation]}``.
        settle_steps: simulator time steps to wait after driving before sampling (the DUT is
            combinational: one step settles a zero-delay design).
        max_report: mismatches kept in the report.
        rerun: a command line that reruns this test, shown in the report.
    """
    from cocotb.triggers import Timer

    rounding = check_rounding(rounding)
    saturation = check_saturation(saturation)
    nbits = random_bits_for(rounding, random_bits)
    if a is None or b is None:
        if a is not None or b is not None:
            raise ValueError("give both a and b, or neither")
        av, bv = operand_pairs(fmt, count, seed)
    else:
        av, bv = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if av.shape != bv.shape or av.ndim != 1:
            raise ValueError("a and b must be 1-d sequences of the same length")
    n = av.shape[0]
    Rv = None
    if nbits:
        Rv = random_values(n, nbits, seed) if R is None else np.asarray(R, dtype=np.int64)
        if Rv.shape != (n,):
            raise ValueError(f"R has {Rv.shape} values; need one per pair ({n})")
    want = expected(op, fmt, av, bv, rounding=rounding, saturation=saturation,
                    random_bits=nbits or None, random=None if Rv is None else Rv.astype(np.uint32))
    names: dict[str, str | None] = dict(DEFAULT_PORTS)
    if ports:
        names.update(ports)

    def port(key: str, required: bool) -> Any:
        name = names.get(key)
        if name is None:
            if required:
                raise ValueError(f"port {key!r} is required")
            return None
        try:
            return getattr(dut, name)
        except AttributeError:
            if required:
                raise ValueError(f"the DUT has no port {name!r} (for {key})") from None
            return None

    pa, pb, pr = port("a", True), port("b", True), port("result", True)
    modes = dict(mode_values) if mode_values is not None else {
        "rnd_mode": RTL_ROUNDINGS.get(rounding), "sat": RTL_SATURATIONS[saturation]}
    for key in ("rnd_mode", "sat"):
        h = port(key, False)
        if h is not None:
            if modes.get(key) is None:
                raise ValueError(f"no {key} value for rounding={rounding!r}; pass mode_values")
            h.value = int(modes[key])  # type: ignore[arg-type]
    prb = port("rbits", False) if nbits else None
    if nbits and prb is None:
        raise ValueError("a stochastic mode needs the DUT's rbits port")
    bits = int(fmt.bits)
    mask = (1 << bits) - 1
    report = Report(op, fmt, rounding, saturation, nbits, checked=n, rerun=rerun)
    bad: list[int] = []
    got_all: dict[int, int | None] = {}
    for start in range(0, n, lanes):
        stop = min(start + lanes, n)
        wa = wb = wr = 0
        for j in range(start, stop):
            sh = (j - start) * bits
            wa |= int(av[j]) << sh
            wb |= int(bv[j]) << sh
            if Rv is not None:
                wr |= int(Rv[j]) << ((j - start) * nbits)
        pa.value = wa
        pb.value = wb
        if prb is not None:
            prb.value = wr
        await Timer(settle_steps, unit="step")
        out = _read(pr)
        for j in range(start, stop):
            g = None if out is None else (out >> ((j - start) * bits)) & mask
            if g != int(want[j]):
                bad.append(j)
                if len(got_all) < max_report:
                    got_all[j] = g
    report.mismatch_count = len(bad)
    report.first = [Mismatch(j, int(av[j]), int(bv[j]), None if Rv is None else int(Rv[j]),
                             got_all[j], int(want[j])) for j in bad[:max_report]]
    return report


# ---------------------------------------------------------------------------------------------
# Running a test with Icarus Verilog through cocotb_tools.runner
# ---------------------------------------------------------------------------------------------


def _checkout() -> Path | None:
    """The source checkout holding hw/: $MINIFLOAT_SOURCE_DIR, else the folder above the
    package (an editable or in-tree install), else the working directory."""
    env = os.environ.get("MINIFLOAT_SOURCE_DIR")
    for root in ([Path(env)] if env else []) + [Path(__file__).resolve().parent.parent,
                                                 Path.cwd()]:
        if (root / "hw" / "rtl" / "mf_round.v").is_file():
            return root
    return None


def rtl_sources() -> list[Path]:
    """The example RTL (hw/rtl/*.v of a source checkout).

    Raises:
        FileNotFoundError: no source checkout found (see ``MINIFLOAT_SOURCE_DIR``).
    """
    root = _checkout()
    if root is None:
        raise FileNotFoundError("hw/rtl not found: the example RTL ships with the source "
                                "checkout, not the wheel; run from the checkout or set "
                                "MINIFLOAT_SOURCE_DIR to it")
    return sorted((root / "hw" / "rtl").glob("*.v"))


def config_env(op: str, fmt: FloatFormat, *, rounding: str = "nearest_even",
               saturation: str = "none", random_bits: int | None = None,
               count: int | None = None, seed: int = 0, lanes: int = 1,
               expect_mismatch: bool = False, report_path: str | None = None,
               rerun: str | None = None) -> dict[str, str]:
    """Environment variables that hand a check's settings to the cocotb test module
    (hw/tests/cocotb_mf_ops.py reads them with :func:`config_from_env`)."""
    env = {"MF_OP": op, "MF_FORMAT": ",".join(str(v) for v in fmt.spec),
           "MF_ROUNDING": rounding, "MF_SATURATION": saturation,
           "MF_RANDOM_BITS": "" if random_bits is None else str(random_bits),
           "MF_COUNT": "" if count is None else str(count), "MF_SEED": str(seed),
           "MF_LANES": str(lanes), "MF_EXPECT_MISMATCH": "1" if expect_mismatch else "0",
           "MF_REPORT": report_path or "", "MF_RERUN": rerun or ""}
    return env


def format_of_spec(spec: str) -> FloatFormat:
    """The FloatFormat of a ``FloatFormat.spec`` tuple written as comma-separated ints."""
    e, m, bias, signed, sub, inf, nan, nz = (int(v) for v in spec.split(","))
    return FloatFormat(e, m, bias=bias, signed=bool(signed), subnormals=bool(sub),
                       infinities=bool(inf), nan=("ieee", "max", "negzero", "none")[nan],
                       negative_zero=bool(nz) if signed else True)


def config_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The keyword arguments of :func:`check_binary_op` (plus ``op``, ``fmt``,
    ``expect_mismatch``, ``report_path``) from :func:`config_env`'s variables."""
    e = os.environ if env is None else env
    return {
        "op": e["MF_OP"], "fmt": format_of_spec(e["MF_FORMAT"]),
        "rounding": e.get("MF_ROUNDING", "nearest_even"),
        "saturation": e.get("MF_SATURATION", "none"),
        "random_bits": int(e["MF_RANDOM_BITS"]) if e.get("MF_RANDOM_BITS") else None,
        "count": int(e["MF_COUNT"]) if e.get("MF_COUNT") else None,
        "seed": int(e.get("MF_SEED", "0")), "lanes": int(e.get("MF_LANES", "1")),
        "expect_mismatch": e.get("MF_EXPECT_MISMATCH") == "1",
        "report_path": e.get("MF_REPORT") or None, "rerun": e.get("MF_RERUN") or None,
    }


def run_rtl(op: str, fmt: FloatFormat, *, build_dir: str | os.PathLike[str],
            sources: Sequence[str | os.PathLike[str]] | None = None,
            toplevel: str = "mf_lanes", parameters: Mapping[str, int] | None = None,
            rounding: str = "nearest_even", saturation: str = "none",
            random_bits: int | None = None, count: int | None = None, seed: int = 0,
            lanes: int = 16, expect_mismatch: bool = False,
            test_dir: str | os.PathLike[str] | None = None,
            test_module: str = "cocotb_mf_ops", rerun: str | None = None,
            simulator: str = "icarus") -> tuple[bool, str]:
    """Build ``toplevel`` with Icarus Verilog and run the scoreboard test on it.

    Default sources are :func:`rtl_sources` with ``toplevel="mf_lanes"`` and the parameters
    of :func:`rtl_parameters` plus ``OP`` (0 mul, 1 add), ``LANES`` and ``RBITS``.  Returns
    (test passed, report text).  With ``expect_mismatch`` the test passes when the scoreboard
    finds a mismatch (a deliberately broken DUT).

    Raises:
        ImportError: cocotb is not installed.
        FileNotFoundError: no sources / test module.
    """
    from cocotb_tools.runner import get_results, get_runner

    nbits = random_bits_for(check_rounding(rounding), random_bits)
    if sources is None:
        sources = rtl_sources()
    params = dict(parameters) if parameters is not None else {
        **rtl_parameters(fmt), "OP": {"mul": 0, "add": 1}[op], "LANES": lanes,
        "RBITS": max(nbits, 1)}
    if test_dir is None:
        root = _checkout()
        if root is None:
            raise FileNotFoundError("hw/tests not found: run from the source checkout, set "
                                    "MINIFLOAT_SOURCE_DIR, or pass test_dir")
        test_dir = root / "hw" / "tests"
    build = Path(build_dir)
    build.mkdir(parents=True, exist_ok=True)
    report_path = build / "report.txt"
    if report_path.exists():
        report_path.unlink()
    runner = get_runner(simulator)
    runner.build(sources=[Path(s) for s in sources], hdl_toplevel=toplevel, parameters=params,
                 build_dir=build, always=True, build_args=["-g2005"] if simulator == "icarus"
                 else [], timescale=("1ns", "1ps"), log_file=build / "build.log")
    env = config_env(op, fmt, rounding=rounding, saturation=saturation,
                     random_bits=nbits or None, count=count, seed=seed, lanes=lanes,
                     expect_mismatch=expect_mismatch, report_path=str(report_path), rerun=rerun)
    # The runner hands this process's sys.path to the simulator as its PYTHONPATH: put the
    # test module's folder on it for this call.
    results = build / "results.xml"
    sys.path.insert(0, str(test_dir))
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build,
                    test_dir=build, extra_env=env, results_xml=str(results),
                    log_file=build / "sim.log")
    except SystemExit:  # under pytest the runner exits on a failed test; results.xml says more
        pass
    finally:
        sys.path.remove(str(test_dir))
    try:
        _, failed = get_results(results)
    except RuntimeError:  # the simulation ended without results
        failed = 1
    text = report_path.read_text() if report_path.exists() else (
        f"no report written; see {build / 'sim.log'}")
    return failed == 0, text


__all__ = [
    "BINARY_OPS", "DEFAULT_PORTS", "Mismatch", "RTL_NAN_LAYOUTS", "RTL_ROUNDINGS",
    "RTL_SATURATIONS", "Report", "check_binary_op", "config_env", "config_from_env",
    "describe", "expected", "format_of_spec", "operand_pairs", "random_values", "rtl_parameters",
    "rtl_sources", "run_rtl",
]
