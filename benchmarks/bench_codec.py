#!/usr/bin/env python
"""Codec throughput: minifloat encode/decode (OCP E4M3) against ml_dtypes, apytypes, gfloat
and torch's float8_e4m3fn cast, plus the fixed-point codec and the memory roof.

Every implementation works on the same seeded float32 array (standard normal times 2**k, k
uniform in [-12, 8], so the data covers subnormals, normals and overflow).  Each row is the
best wall time over ``--repeat`` calls, reported as millions of elements per second.

    python benchmarks/bench_codec.py            # 16M elements (1 << 24), best of 5
    python benchmarks/bench_codec.py --quick    # 1M-element smoke run
    python benchmarks/bench_codec.py --isa all  # each ISA level this CPU runs, one table each

``--isa LEVELS`` (``all`` or a comma list of baseline, avx2, avx512) runs the whole benchmark
once per level, each in a subprocess with ``MINIFLOAT_ISA=<level>`` (docs/build.md), in the same
invocation, and ends with one summary table per level (peers are re-measured in each run).

Peers that are much slower (gfloat always, apytypes if one call on the full array would take
more than ``--slow-limit`` seconds) are timed on a 1M-element slice; their throughput is
per element, so it applies to the full size ("scaled" in the output).  Peers that cannot be
imported are skipped.  torch (if installed) runs with torch.set_num_threads(1) beside
minifloat's 1-thread rows; it saturates (finite overflow and +-Inf -> +-448), which is
minifloat's saturation="finite", and the check below requires identical codes.  The roof row
is NumPy's float32 multiply (read 4 + write 4 bytes per element), the memory bandwidth a
streaming single-threaded loop gets; an encode moves 5 bytes per element.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata

import numpy as np

import minifloat as mf

FMT = "float8_e4m3fn"
FIXED = mf.FixedFormat(1, 6)  # Q1.6, 8 bits: SQPU's fixed-point weights (docs/nn.md)
SLICE = 1 << 20


def _try_import(name):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - any import failure means "skip this peer"
        return None


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    """The SIMD levels the CPU reports (avx2, avx512*), as benchmarks are recorded with them."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    fl = line.split(":", 1)[1].split()
                    return " ".join(sorted(x for x in set(fl)
                                           if x == "avx2" or x.startswith("avx512"))) or "none"
    except OSError:
        pass
    return "unknown"


def _load():
    """The 1/5/15-minute load averages, as a string ("n/a" where the OS has none)."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def best_of(fn, repeat):
    """Best wall time of ``repeat`` calls (after one warm-up call), its CPU/wall ratio, and the
    least process CPU time of a call.

    On a loaded machine the wall time of a single-threaded call includes the time other
    processes held its core; its CPU time does not, so per-CPU-second rates compare
    single-threaded implementations more robustly there (the 'by CPU time' ratios).
    """
    fn()
    best, best_cpu, least_cpu = float("inf"), 0.0, float("inf")
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        t1, c1 = time.perf_counter(), time.process_time()
        if t1 - t0 < best:
            best, best_cpu = t1 - t0, c1 - c0
        least_cpu = min(least_cpu, c1 - c0)
    return best, best_cpu / best if best > 0 else float("nan"), least_cpu


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * np.exp2(rng.integers(-12, 9, n))
    return x.astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1 << 24, help="elements (default 16M = 1<<24)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per row; best is kept")
    p.add_argument("--quick", action="store_true", help="1M-element smoke run")
    p.add_argument("--seed", type=int, default=12345, help="data seed")
    p.add_argument("--slow-limit", type=float, default=1.0,
                   help="seconds per full-size call above which apytypes runs on a 1M slice")
    p.add_argument("--isa", default=None,
                   help="'all' or a comma list of ISA levels: one run per level, each in a "
                        "subprocess with MINIFLOAT_ISA set, then a summary per level")
    args = p.parse_args(argv)
    if args.isa:
        return run_levels(args.isa, sys.argv[1:] if argv is None else list(argv))
    n = SLICE if args.quick else args.n
    repeat = args.repeat

    ml_dtypes = _try_import("ml_dtypes")
    apytypes = _try_import("apytypes")
    gfloat = _try_import("gfloat")
    torch = _try_import("torch")
    if gfloat is not None:
        try:
            import gfloat.formats  # noqa: F401 - not imported by `import gfloat`
        except Exception:  # noqa: BLE001
            gfloat = None

    ncpu = os.cpu_count() or 1
    threads0 = mf.get_num_threads()

    print("Machine")
    print(f"  CPU model        : {cpu_model()}")
    print(f"  os.cpu_count()   : {ncpu}")
    if hasattr(os, "sched_getaffinity"):
        print(f"  usable cores     : {len(os.sched_getaffinity(0))}")
    print(f"  platform         : {platform.platform()}")
    print(f"  python           : {sys.version.split()[0]}")
    print(f"  CPU flags        : {cpu_flags()}")
    for dist in ("minifloat", "numpy", "ml_dtypes", "apytypes", "gfloat", "torch"):
        print(f"  {dist:<17}: {_version(dist)}")
    print(f"  minifloat threads: default {threads0}, 'all' = {ncpu}")
    bi = mf.build_info()
    print(f"  minifloat ISA    : {bi['level']} ({bi['chosen_by']}); compiled in: "
          f"{', '.join(bi['levels_compiled'])}; {bi['compiler']}, {bi['level_flags']}")
    print(f"  load average     : {_load()} (other processes compete for the cores when it "
          f"is near or above {ncpu})")
    print()

    x = make_data(n, args.seed)
    xs = x[: min(n, SLICE)].copy()
    print(f"Data: {n} float32 elements ({n / 2**20:g} Mi), standard normal * 2**U{{-12..8}}, "
          f"seed {args.seed}; format {FMT}; best of {repeat}")

    # ---------------------------------------------------------------- correctness first
    mf.set_num_threads(1)
    codes = mf.encode(x, FMT, rounding="nearest_even")
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    if ml_dtypes is not None:
        ref = x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
        assert np.array_equal(codes, ref), "mf.encode nearest_even != ml_dtypes on the data"
        dref = ref.view(ml_dtypes.float8_e4m3fn).astype(np.float32)
        dmf = mf.decode(codes, FMT, dtype=np.float32)
        assert np.array_equal(dmf, dref, equal_nan=True), "mf.decode != ml_dtypes on the data"
        print("Check: mf.encode(nearest_even) == ml_dtypes astype codes, and mf.decode == "
              "ml_dtypes astype(float32), on all elements: OK")
    if torch is not None:
        tref = torch.from_numpy(x).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
        assert np.array_equal(mf.encode(x, FMT, saturation="finite"), tref), \
            "mf.encode(saturation='finite') != torch float8_e4m3fn cast"
        print("Check: mf.encode(nearest_even, saturation='finite') == torch "
              "tensor.to(torch.float8_e4m3fn) codes, on all elements: OK")
    sto1 = mf.encode(x, FMT, rounding="stochastic", seed=1)
    mf.set_num_threads(ncpu)
    assert np.array_equal(mf.encode(x, FMT, rounding="nearest_even"), codes)
    assert np.array_equal(mf.encode(x, FMT, rounding="stochastic", seed=1), sto1)
    print(f"Check: {ncpu}-thread results identical to 1-thread (nearest_even, stochastic seed=1): OK")
    print()

    rows = []  # (operation, implementation, threads, n_timed, seconds, cpu_ratio, note)

    cpu_rate = []  # M elements per CPU-second, in the order of rows

    def add(op, impl, threads, fn, n_timed, note=""):
        t, cpu, least_cpu = best_of(fn, repeat)
        rows.append((op, impl, threads, n_timed, t, cpu, note))
        rate = n_timed / t / 1e6
        cpu_rate.append(n_timed / least_cpu / 1e6 if least_cpu > 0 else rate)
        return rate

    # ---------------------------------------------------------------- minifloat
    mfrate = {}
    for nt in (1, ncpu):
        mf.set_num_threads(nt)
        mfrate["enc", nt] = add("encode nearest_even", "minifloat", str(nt),
                                lambda: mf.encode(x, FMT, rounding="nearest_even"), n)
        mfrate["sto", nt] = add("encode stochastic", "minifloat", str(nt),
                                lambda: mf.encode(x, FMT, rounding="stochastic", seed=1), n,
                                "32 random bits, Philox, seed=1")
        mfrate["dec", nt] = add("decode -> float32", "minifloat", str(nt),
                                lambda: mf.decode(codes, FMT, dtype=np.float32), n)
        mfrate["encsat", nt] = add("encode nearest_even", "minifloat", str(nt),
                                   lambda: mf.encode(x, FMT, saturation="finite"), n,
                                   "saturation='finite' (torch's semantics)")
        mfrate["fix", nt] = add("fixed encode nearest", "minifloat", str(nt),
                                lambda: mf.encode(x, FIXED), n, f"{FIXED} (Q1.6)")
        mfrate["fixsto", nt] = add("fixed encode stoch.", "minifloat", str(nt),
                                   lambda: mf.encode(x, FIXED, rounding="stochastic", seed=1), n,
                                   f"{FIXED}, 32 random bits, seed=1")
    mf.set_num_threads(threads0)

    peer = {}
    notes = []
    y32 = np.empty_like(x)
    roof = add("roof: float32 multiply", "numpy", "1", lambda: np.multiply(x, x, out=y32), n,
               "8 bytes/element moved")
    # ---------------------------------------------------------------- torch
    if torch is not None:
        t_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        tx = torch.from_numpy(x)
        peer["enc_torch"] = add("encode nearest_even", "torch", "1",
                                lambda: tx.to(torch.float8_e4m3fn), n,
                                "tensor.to(float8_e4m3fn), torch.set_num_threads(1)")
        torch.set_num_threads(t_threads)
    else:
        notes.append("torch not importable: skipped (pip install torch==2.13.0 for the CPU "
                     "build)")
    # ---------------------------------------------------------------- ml_dtypes
    if ml_dtypes is not None:
        f8 = ml_dtypes.float8_e4m3fn
        y = x.astype(f8)
        peer["enc_ml"] = add("encode nearest_even", "ml_dtypes", "lib",
                             lambda: x.astype(f8), n, "x.astype(float8_e4m3fn)")
        peer["dec_ml"] = add("decode -> float32", "ml_dtypes", "lib",
                             lambda: y.astype(np.float32), n, "y.astype(np.float32)")
    else:
        notes.append("ml_dtypes not importable: skipped")

    # ---------------------------------------------------------------- apytypes
    if apytypes is not None:
        A = apytypes.APyFloatArray
        QM = apytypes.QuantizationMode
        # apytypes 0.5: from_float/from_array always round ties-to-even (the quantization
        # context does not apply to them); other modes go through .cast(quantization=...).
        # Stochastic: exact float32 import (8 exp bits, 23 man bits) then a STOCH_WEIGHTED cast.
        def apy_near(v):
            return A.from_float(v, exp_bits=4, man_bits=3, bias=7)

        def apy_sto(v):
            return A.from_float(v, exp_bits=8, man_bits=23, bias=127).cast(
                exp_bits=4, man_bits=3, bias=7, quantization=QM.STOCH_WEIGHTED)

        apytypes.set_float_quantization_seed(1)
        t0 = time.perf_counter()
        apy_sto(xs)
        probe = (time.perf_counter() - t0) * n / len(xs)
        use_slice = n > len(xs) and probe > args.slow_limit
        v, m = (xs, len(xs)) if use_slice else (x, n)
        tag = "1M slice, scaled" if use_slice else ""
        peer["enc_apy"] = add("encode nearest_even", "apytypes", "lib", lambda: apy_near(v), m,
                              "; ".join(filter(None, ["from_float(4,3,bias=7)", tag])))
        peer["sto_apy"] = add("encode stochastic", "apytypes", "lib", lambda: apy_sto(v), m,
                              "; ".join(filter(None, [
                                  "from_float(8,23)+cast(STOCH_WEIGHTED)", tag])))
        va = A.from_float(v, exp_bits=8, man_bits=23, bias=127)
        peer["sto_apy_cast"] = add(
            "encode stochastic", "apytypes", "lib",
            lambda: va.cast(exp_bits=4, man_bits=3, bias=7, quantization=QM.STOCH_WEIGHTED), m,
            "; ".join(filter(None, ["cast(STOCH_WEIGHTED) only, input pre-imported", tag])))
        notes.append("apytypes E4M3 (exp_bits=4, man_bits=3, bias=7) is IEEE-style (Inf/NaN at "
                     "the top exponent, max 240), not E4M3FN (max 448): same bit work per "
                     "element, different top binade; it returns an APyFloatArray, not codes.")
        notes.append("apytypes stochastic = its STOCH_WEIGHTED quantization mode "
                     "(stochastic rounding weighted by the distance), so the stochastic ratio is "
                     "stochastic vs stochastic. Main row: from a float32 ndarray (as mf.encode); "
                     "'cast only' row: the cast alone, on an APyFloatArray built beforehand.")
        if use_slice:
            notes.append(f"apytypes timed on a {len(xs)}-element slice (a full-size stochastic "
                         f"call was projected at {probe:.2f} s); throughput scaled per element.")
    else:
        notes.append("apytypes not importable: skipped")

    # ---------------------------------------------------------------- gfloat
    if gfloat is not None:
        fi = gfloat.formats.format_info_ocp_e4m3
        g = gfloat.round_ndarray(fi, xs)
        ok = np.array_equal(g.astype(np.float32),
                            xs.astype(ml_dtypes.float8_e4m3fn).astype(np.float32),
                            equal_nan=True) if ml_dtypes is not None else None
        m = len(xs)
        tag = "1M slice, scaled" if m < n else ""
        peer["enc_gf"] = add("encode nearest_even", "gfloat", "lib",
                             lambda: gfloat.round_ndarray(fi, xs), m,
                             "; ".join(filter(None, ["round_ndarray(ocp_e4m3)", tag])))
        notes.append("gfloat round_ndarray returns the rounded values (float64), not codes"
                     + ("" if ok is None else
                        f"; its values equal ml_dtypes' on the slice: {'yes' if ok else 'NO'}")
                     + ".")
        if m < n:
            notes.append(f"gfloat timed on a {m}-element slice; throughput scaled per element.")
    else:
        notes.append("gfloat not importable: skipped")

    # ---------------------------------------------------------------- report
    print(f"{'operation':<21} {'implementation':<15} {'threads':>7} {'elements':>10} "
          f"{'best s':>9} {'M elem/s':>10} {'cpu/wall':>8}  note")
    print("-" * 110)
    for op, impl, th, m, t, cpu, note in rows:
        print(f"{op:<21} {impl:<15} {th:>7} {m:>10} {t:>9.5f} {m / t / 1e6:>10.1f} "
              f"{cpu:>8.2f}  {note}")
    print()
    print("threads: minifloat's mf.set_num_threads(n); 'lib' = the library's own behaviour "
          "(cpu/wall shows how many cores it kept busy).")
    print()

    print("Ratios (minifloat M elem/s / peer M elem/s)")
    ratio_specs = [
        ("encode nearest_even vs ml_dtypes", "enc", "enc_ml"),
        ("encode stochastic vs apytypes STOCH_WEIGHTED", "sto", "sto_apy"),
        ("encode stochastic vs apytypes cast only", "sto", "sto_apy_cast"),
        ("encode nearest_even vs apytypes nearest", "enc", "enc_apy"),
        ("decode -> float32 vs ml_dtypes", "dec", "dec_ml"),
        ("encode nearest_even vs gfloat round_ndarray", "enc", "enc_gf"),
        ("encode (sat. finite) vs torch float8 cast", "encsat", "enc_torch"),
        ("encode nearest_even vs torch float8 cast", "enc", "enc_torch"),
    ]
    print(f"  {'comparison':<46} {'1 thread':>10} {f'{ncpu} threads':>11}")
    for label, k, pk in ratio_specs:
        if pk not in peer:
            print(f"  {label:<46} {'skipped':>10} {'skipped':>11}")
            continue
        r1, rn = mfrate[k, 1] / peer[pk], mfrate[k, ncpu] / peer[pk]
        print(f"  {label:<46} {r1:>9.2f}x {rn:>10.2f}x")
    print()

    print(f"Memory roof (numpy float32 multiply, 1 thread): {roof:.0f} M elem/s = "
          f"{roof * 8 / 1e3:.2f} GB/s; an encode at the same bandwidth (5 B/elem) would run "
          f"{roof * 8 / 5:.0f} M elem/s; minifloat's 1-thread E4M3 encode reaches "
          f"{mfrate['enc', 1] * 5 / 1e3:.2f} GB/s ({mfrate['enc', 1] / (roof * 8 / 5):.2f} of it)")
    for lbl, k in (("nearest", "fix"), ("stochastic", "fixsto")):
        base = "enc" if k == "fix" else "sto"
        print(f"Fixed-point {lbl} encode / float fast path ({'nearest_even' if k == 'fix' else 'stochastic'}"
              f", E4M3): 1 thread {mfrate[k, 1] / mfrate[base, 1]:.2f}x, {ncpu} threads "
              f"{mfrate[k, ncpu] / mfrate[base, ncpu]:.2f}x  (target >= 0.5x)")
    print()
    targets = [("nearest_even encode >= 10x ml_dtypes", "enc", "enc_ml", 10.0),
               ("encode (sat. finite) >= torch float8", "encsat", "enc_torch", 1.0),
               ("stochastic encode >= 10x apytypes", "sto", "sto_apy", 10.0),
               ("  (vs apytypes cast only)", "sto", "sto_apy_cast", 10.0),
               ("decode >= 5x ml_dtypes", "dec", "dec_ml", 5.0)]
    # Single-threaded rows by CPU time: the first row of each (operation, implementation,
    # threads) -- for apytypes stochastic that is the main row, from a float32 ndarray.
    def cpu_of(op, impl, threads):
        for row, rate in zip(rows, cpu_rate):
            if row[:3] == (op, impl, threads):
                return rate
        return None

    cpu_keys = {"enc_ml": ("encode nearest_even", "ml_dtypes"),
                "sto_apy": ("encode stochastic", "apytypes"),
                "dec_ml": ("decode -> float32", "ml_dtypes")}

    def cpu_ratio(pk):
        if pk not in cpu_keys:
            return None
        op, impl = cpu_keys[pk]
        mine, theirs = cpu_of(op, "minifloat", "1"), cpu_of(op, impl, "lib")
        return None if mine is None or theirs is None else mine / theirs

    print("Targets (single thread; wall-time ratio, and by CPU time where both are "
          "single-threaded)")
    for label, k, pk, goal in targets:
        if pk not in peer:
            print(f"  {label:<40} peer skipped")
            continue
        r = mfrate[k, 1] / peer[pk]
        rc = cpu_ratio(pk)
        by_cpu = "" if rc is None or "cast only" in label else f"   by CPU time {rc:6.2f}x"
        print(f"  {label:<40} measured {r:6.2f}x  -> {'MET' if r >= goal else 'NOT MET'}"
              f"{by_cpu}")
    print()
    for s in notes:
        print("Note:", s)
    print(f"Load average at the end: {_load()}")
    summary = {"level": bi["level"], "load": _load(), "roof": roof,
               **{f"{k}_{nt}": v for (k, nt), v in mfrate.items()}, **peer}
    print("SUMMARY " + json.dumps(summary))


def _strip_isa(argv):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--isa":
            skip = True
        elif not a.startswith("--isa="):
            out.append(a)
    return out


def run_levels(spec, argv):
    """Run this benchmark once per ISA level (a subprocess each) and print a table per level."""
    info = mf.build_info()
    levels = info["levels_supported"] if spec == "all" else spec.split(",")
    summaries = []
    for level in levels:
        print(f"==================== MINIFLOAT_ISA={level} ====================", flush=True)
        env = dict(os.environ, MINIFLOAT_ISA=level)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), *_strip_isa(argv)],
                           env=env, capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            print(f"level {level}: exit status {r.returncode}")
            continue
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("SUMMARY ")][-1]
        summaries.append(json.loads(line[len("SUMMARY "):]))
    print()
    print(f"Summary per ISA level (1 thread; CPU flags: {cpu_flags()})")
    for s in summaries:
        roof_enc = s["roof"] * 8 / 5

        def ratio(k, pk, s=s):
            return f"{s[k] / s[pk]:.2f}x" if pk in s else "skipped"

        print(f"\nlevel {s['level']} (load at its end: {s['load']})")
        print(f"  {'row':<36} {'M elem/s':>9}  ratios")
        print(f"  {'encode nearest_even (E4M3)':<36} {s['enc_1']:>9.0f}  "
              f"{ratio('enc_1', 'enc_ml')} ml_dtypes (target 10x)")
        print(f"  {'encode sat. finite (torch semantics)':<36} {s['encsat_1']:>9.0f}  "
              f"{ratio('encsat_1', 'enc_torch')} torch float8_e4m3fn cast (target 1x)")
        print(f"  {'encode stochastic (32 bits)':<36} {s['sto_1']:>9.0f}  "
              f"{ratio('sto_1', 'sto_apy')} apytypes STOCH_WEIGHTED (target 10x)")
        print(f"  {'decode -> float32':<36} {s['dec_1']:>9.0f}  "
              f"{ratio('dec_1', 'dec_ml')} ml_dtypes (target 5x)")
        print(f"  {'fixed encode nearest (Q1.6)':<36} {s['fix_1']:>9.0f}  "
              f"{s['fix_1'] / s['enc_1']:.2f}x float fast path (target 0.5x)")
        print(f"  {'fixed encode stochastic':<36} {s['fixsto_1']:>9.0f}  "
              f"{s['fixsto_1'] / s['sto_1']:.2f}x float stochastic")
        print(f"  {'roof: numpy float32 multiply':<36} {s['roof']:>9.0f}  "
              f"(8 B/elem; an encode at 5 B/elem: {roof_enc:.0f}; encode reaches "
              f"{s['enc_1'] / roof_enc:.2f} of it)")
        for pk, lbl in (("enc_torch", "torch float8 cast"), ("enc_ml", "ml_dtypes encode"),
                        ("sto_apy", "apytypes stochastic"), ("dec_ml", "ml_dtypes decode")):
            if pk in s:
                print(f"  {'peer: ' + lbl:<36} {s[pk]:>9.0f}")
    return 0


if __name__ == "__main__":
    main()
