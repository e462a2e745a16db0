#!/usr/bin/env python
"""Arithmetic and matmul throughput: minifloat MiniArray against ml_dtypes, apytypes and NumPy.

Three groups, all in one run:

1. Elementwise ``a * b`` and ``a + b`` on OCP E4M3 (``float8_e4m3fn``) MiniArrays of ``--n``
   elements, minifloat on 1 thread and on all threads, against ml_dtypes (``xa * ya`` on
   ``float8_e4m3fn`` arrays) and apytypes (``APyFloatArray`` ``*`` / ``+``, exp_bits=4,
   man_bits=3, bias=7).  Throughput in M elements/s.
2. Matrix products with E4M3 operands and a float16 result (``out_format="float16"``):
   ``mf.matmul(..., accumulator="float32")`` (exact products, binary32 round-to-nearest-even
   accumulation in sequential k order) and ``accumulator="float32_blas"``, against NumPy's
   float32 matmul of the decoded operands (OpenBLAS, all its threads, and 1 thread for
   reference).  Throughput in GFLOP/s = 2*M*N*K / time.
3. Matrix products with an emulated float16 accumulator (every addition rounded to float16,
   ``accumulator=mf.format("float16")``), against apytypes ``A @ B`` inside
   ``APyFloatAccumulatorContext(exp_bits=5, man_bits=10, bias=15)``.

    python benchmarks/bench_arith.py            # 16M elements, matmul 256^3 and 1024^3
    python benchmarks/bench_arith.py --quick    # smoke run: 1M elements, matmul 64^3, 128^3
    python benchmarks/bench_arith.py --only-acc16 --acc16-sizes 256   # group 3 only

Every comparison used for a target is checked for identical results before it is timed (see
the "Check" lines); the secondary float16-operand rows are not (their semantics differ).
Each row is the best wall time over ``--repeat`` calls after one warm-up call; a call that
takes more than ``--slow-call`` seconds is timed ``--repeat-slow`` times in all, the warm-up
call included.  A minifloat matmul whose single call is projected (by FLOPs, from the smaller
size) to take more than ``--max-seconds`` is replaced by the largest power-of-two size that
fits, and the output says so.  A peer that is projected to take more than its limit is timed
on a smaller slice / size and its throughput is scaled (per element or per FLOP); the output
says so.

The machine should be otherwise idle: the ``other`` column reports the cores that other
processes kept busy during each row (from /proc/stat), and rows over 0.15 are marked ``*``.
Each row starts after a 0.25 s pause so that OpenBLAS's busy-waiting idle threads are asleep.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import sys
import time
from importlib import metadata

import numpy as np

import minifloat as mf

FMT = "float8_e4m3fn"
SLICE = 1 << 20


# ---------------------------------------------------------------------------- helpers


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
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return " ".join(x for x in ("avx2", "fma", "avx512f", "avx512bw", "f16c")
                                    if x in have)
    except OSError:
        pass
    return "unknown"


class Blas:
    """NumPy's OpenBLAS thread control through ctypes (no threadpoolctl needed)."""

    def __init__(self):
        self.lib, self.get, self.set, self.config = None, None, None, "unknown"
        np.ones((2, 2), np.float32) @ np.ones((2, 2), np.float32)  # make sure it is loaded
        paths = set()
        try:
            with open("/proc/self/maps") as f:
                for line in f:
                    if "openblas" in line.lower() and "/" in line:
                        paths.add(line.split()[-1])
        except OSError:
            return
        for p in sorted(paths):
            try:
                lib = ctypes.CDLL(p)
            except OSError:
                continue
            for pre in ("scipy_openblas_", "openblas_"):
                for suf in ("64_", ""):
                    g = getattr(lib, f"{pre}get_num_threads{suf}", None)
                    s = getattr(lib, f"{pre}set_num_threads{suf}", None)
                    c = getattr(lib, f"{pre}get_config{suf}", None)
                    if g is not None and s is not None:
                        self.lib, self.get, self.set = lib, g, s
                        if c is not None:
                            c.restype = ctypes.c_char_p
                            self.config = c().decode()
                        return

    def threads(self):
        return int(self.get()) if self.get is not None else None

    def set_threads(self, n):
        if self.set is not None:
            self.set(ctypes.c_int(n))


def busy_cpu_seconds():
    """CPU seconds all processes have spent busy (from /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    t1, c1 = time.perf_counter(), time.process_time()
    return t1 - t0, c1 - c0


def best_of(fn, repeat, slow_call=1.0, repeat_slow=3):
    """Best wall time and its CPU/wall ratio.  One warm-up call, then ``repeat`` timed calls;
    if the warm-up call took more than ``slow_call`` seconds it counts as one of
    ``repeat_slow`` timed calls.  Returns (best seconds, cpu/wall, number of timed calls)."""
    t, c = timed(fn)
    samples = []
    if t > slow_call:
        samples.append((t, c))
        count = repeat_slow - 1
    else:
        count = repeat
    for _ in range(count):
        samples.append(timed(fn))
    t, c = min(samples)
    return t, (c / t if t > 0 else float("nan")), len(samples)


def make_data(n, seed, lo=-10, hi=4):
    """Standard normal times 2**k, k uniform in [lo, hi]: E4M3 subnormals to about 2**6."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * np.exp2(rng.integers(lo, hi + 1, n))
    return x.astype(np.float32)


def seq_f32_reference(va, vb):
    """Sequential k-order binary32 accumulation (products exact in float32), in NumPy."""
    acc = np.zeros((va.shape[0], vb.shape[1]), np.float32)
    for k in range(va.shape[1]):
        acc += np.multiply.outer(va[:, k], vb[k, :])  # exact products; one RNE per add
    return acc


# ---------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1 << 24, help="elementwise size (default 1<<24)")
    p.add_argument("--sizes", default="256,1024",
                   help="square matmul sizes for the float32 accumulator (default 256,1024)")
    p.add_argument("--acc16-sizes", default="256,1024",
                   help="square matmul sizes for the float16 accumulator (default 256,1024)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per row; best is kept")
    p.add_argument("--repeat-slow", type=int, default=3,
                   help="timed calls (warm-up included) for calls over --slow-call seconds")
    p.add_argument("--slow-call", type=float, default=1.0, help="see --repeat-slow")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="largest projected time of one minifloat matmul call; larger sizes are "
                        "reduced to the largest power of two that fits")
    p.add_argument("--slow-limit", type=float, default=1.0,
                   help="seconds per full-size elementwise call above which apytypes is timed "
                        "on a 1M slice")
    p.add_argument("--apy-matmul-limit", type=float, default=15.0,
                   help="seconds per apytypes matmul call above which it is timed at a smaller "
                        "size and scaled by FLOPs")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1M elements, matmul 64 and 128, 2 timed calls")
    p.add_argument("--seed", type=int, default=12345, help="data seed")
    p.add_argument("--only-acc16", action="store_true",
                   help="run only group 3 (float16-accumulate matmul) and its checks")
    args = p.parse_args(argv)
    if args.quick:
        n, sizes, sizes16, repeat = SLICE, [64, 128], [64, 128], 2
    else:
        n = args.n
        sizes = [] if args.only_acc16 else [int(s) for s in args.sizes.split(",") if s]
        sizes16 = [int(s) for s in args.acc16_sizes.split(",") if s]
        repeat = args.repeat

    def bo(fn):
        return best_of(fn, repeat, args.slow_call, args.repeat_slow)

    ml_dtypes = _try_import("ml_dtypes")
    apytypes = _try_import("apytypes")
    blas = Blas()
    blas_threads0 = blas.threads()

    ncpu = os.cpu_count() or 1
    threads0 = mf.get_num_threads()

    print("Machine")
    print(f"  CPU model        : {cpu_model()}")
    print(f"  CPU flags (some) : {cpu_flags()}")
    print(f"  os.cpu_count()   : {ncpu}")
    if hasattr(os, "sched_getaffinity"):
        print(f"  usable cores     : {len(os.sched_getaffinity(0))}")
    print(f"  platform         : {platform.platform()}")
    print(f"  python           : {sys.version.split()[0]}")
    for dist in ("minifloat", "numpy", "ml_dtypes", "apytypes"):
        print(f"  {dist:<17}: {_version(dist)}")
    print(f"  numpy BLAS       : {blas.config}")
    print(f"  BLAS threads     : {blas_threads0 if blas_threads0 is not None else 'unknown'}"
          " (default; used for the 'numpy float32' all-threads rows)")
    print(f"  minifloat threads: default {threads0}, 'all' = {ncpu}")
    # The compiled module of the ISA level in use (minifloat/_core.py is the dispatcher).
    core = mf.build_info()["module_file"] or "?"
    try:
        core_mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(core)))
    except OSError:
        core_mtime = "?"
    print(f"  minifloat._core  : {core} (built {core_mtime}; ISA level {mf.build_info()['level']})")
    if hasattr(os, "getloadavg"):
        print("  load average     : {:.2f} {:.2f} {:.2f} (1/5/15 min, at start; other busy "
              "processes distort every row)".format(*os.getloadavg()))
    print()

    rows = []  # (operation, implementation, threads, size, seconds, cpu/wall, unit, work, note)
    rate = {}
    notes = []

    def add(key, op, impl, threads, fn, size, work, unit, note=""):
        """Time ``fn``; ``work`` is elements (unit 'M elem/s') or FLOPs ('GFLOP/s')."""
        # OpenBLAS worker threads busy-wait for a while (< 0.1 s here) after a call; on a
        # small machine they would steal cores from the next row.  Let them go to sleep.
        # The idle wait is inside the window of the "other" column: it also needs >= 0.25 s
        # to resolve /proc/stat's 10 ms ticks.
        b0, c0, w0 = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        time.sleep(0.25)
        t, cpu, cnt = bo(fn)
        b1, c1, w1 = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        # Cores kept busy by other processes while this row ran (10 ms resolution).
        other = (min(float(ncpu), max(0.0, (b1 - b0) - (c1 - c0)) / (w1 - w0))
                 if b0 is not None else float("nan"))
        scale = 1e6 if unit == "M elem/s" else 1e9
        r = work / t / scale
        rows.append((op, impl, threads, size, t, cpu, unit, r, note, cnt, other))
        rate[key] = r
        return t

    # ======================================================================== 1. elementwise
    if not args.only_acc16:
        x = make_data(n, args.seed)
        y = make_data(n, args.seed + 1)
        print(f"Elementwise data: 2 x {n} float32 elements ({n / 2**20:g} Mi), standard normal * "
              f"2**U{{-10..4}}, seeds {args.seed}, {args.seed + 1}; format {FMT}; "
              f"best of {repeat}")
        mf.set_num_threads(1)
        a = mf.asarray(x, FMT)
        b = mf.asarray(y, FMT)
        assert a.codes.dtype == np.uint8 and a.nbytes == n
        prod1, sum1 = a * b, a + b
        mf.set_num_threads(ncpu)
        assert np.array_equal((a * b).codes, prod1.codes) and np.array_equal((a + b).codes,
                                                                              sum1.codes)
        print(f"Check: {ncpu}-thread a*b and a+b codes identical to 1-thread: OK")
        if ml_dtypes is not None:
            f8 = ml_dtypes.float8_e4m3fn
            xa, ya = x.astype(f8), y.astype(f8)
            assert np.array_equal(xa.view(np.uint8), a.codes), "asarray codes != ml_dtypes astype"
            assert np.array_equal((xa * ya).view(np.uint8), prod1.codes), "a*b != ml_dtypes"
            assert np.array_equal((xa + ya).view(np.uint8), sum1.codes), "a+b != ml_dtypes"
            print("Check: a*b and a+b codes == ml_dtypes xa*ya and xa+ya codes on all "
                  f"{n} elements: OK")
        if apytypes is not None:
            APA = apytypes.APyFloatArray
            m = min(n, SLICE)
            # apytypes (4, 3, bias 7) is IEEE-style (Inf/NaN at the top exponent, max 240) =
            # minifloat's float8_e4m3, not float8_e4m3fn: check against that format.
            ia, ib = mf.asarray(x[:m], "float8_e4m3"), mf.asarray(y[:m], "float8_e4m3")
            A = APA.from_float(x[:m], exp_bits=4, man_bits=3, bias=7)
            B = APA.from_float(y[:m], exp_bits=4, man_bits=3, bias=7)
            for name, mr, ar in (("a*b", ia * ib, A * B), ("a+b", ia + ib, A + B)):
                assert (ar.exp_bits, ar.man_bits, ar.bias) == (4, 3, 7)
                ok = np.array_equal(np.asarray(mr).astype(np.float64), ar.to_numpy(),
                                    equal_nan=True)
                assert ok, f"apytypes {name} != minifloat float8_e4m3 {name}"
            print(f"Check: apytypes A*B and A+B (4, 3, bias 7) values == minifloat float8_e4m3 "
                  f"(IEEE-style E4M3, the same format) a*b and a+b on the first {m} elements: OK")
        print()

        for nt in (1, ncpu):
            mf.set_num_threads(nt)
            add(("mul", nt), "E4M3 multiply", "minifloat", str(nt), lambda a=a, b=b: a * b, n, n,
                "M elem/s", "a * b (MiniArray)")
            add(("add", nt), "E4M3 add", "minifloat", str(nt), lambda a=a, b=b: a + b, n, n,
                "M elem/s", "a + b (MiniArray)")
        mf.set_num_threads(1)
        ie_a, ie_b = mf.asarray(x, "float8_e4m3"), mf.asarray(y, "float8_e4m3")
        add(("mul_ieee", 1), "E4M3 multiply", "minifloat", "1", lambda: ie_a * ie_b, n, n,
            "M elem/s", "float8_e4m3 (IEEE-style, apytypes' format)")
        add(("add_ieee", 1), "E4M3 add", "minifloat", "1", lambda: ie_a + ie_b, n, n,
            "M elem/s", "float8_e4m3 (IEEE-style, apytypes' format)")
        if ml_dtypes is not None:
            add("mul_ml", "E4M3 multiply", "ml_dtypes", "lib", lambda: xa * ya, n, n,
                "M elem/s", "xa * ya (float8_e4m3fn ndarrays)")
            add("add_ml", "E4M3 add", "ml_dtypes", "lib", lambda: xa + ya, n, n,
                "M elem/s", "xa + ya (float8_e4m3fn ndarrays)")
        else:
            notes.append("ml_dtypes not importable: skipped")
        if apytypes is not None:
            APA = apytypes.APyFloatArray
            t0 = time.perf_counter()
            _ = A * B
            probe = (time.perf_counter() - t0) * n / len(x[:SLICE])
            use_slice = n > SLICE and probe > args.slow_limit
            if not use_slice:
                A = APA.from_float(x, exp_bits=4, man_bits=3, bias=7)
                B = APA.from_float(y, exp_bits=4, man_bits=3, bias=7)
            m = SLICE if use_slice else n
            tag = "; 1M slice, scaled" if use_slice else ""
            add("mul_apy", "E4M3 multiply", "apytypes", "lib", lambda: A * B, m, m, "M elem/s",
                "A * B, APyFloatArray (4, 3, bias 7)" + tag)
            add("add_apy", "E4M3 add", "apytypes", "lib", lambda: A + B, m, m, "M elem/s",
                "A + B, APyFloatArray (4, 3, bias 7)" + tag)
            if use_slice:
                notes.append(f"apytypes elementwise timed on a {m}-element slice (a full-size call "
                             f"was projected at {probe:.2f} s); throughput is per element.")
            else:
                notes.append(f"apytypes elementwise timed on the full {n} elements (a full-size "
                             f"call was projected at {probe:.2f} s, under --slow-limit "
                             f"{args.slow_limit:g} s).")
        else:
            notes.append("apytypes not importable: skipped")
        del prod1, sum1

    # ======================================================================== 2. float32 acc
    print(f"Matmul data: E4M3 operands, standard normal (seed {args.seed}), (M,K)@(K,N) square; "
          "result out_format='float16'")
    rng = np.random.default_rng(args.seed)

    def operands(s, fmt=FMT):
        xa_ = rng.standard_normal((s, s)).astype(np.float32)
        xb_ = rng.standard_normal((s, s)).astype(np.float32)
        return mf.asarray(xa_, fmt), mf.asarray(xb_, fmt)

    def fit_size(s, t_small, s_small, limit):
        """Largest power-of-two size <= s whose call is projected (by FLOPs) under limit."""
        while s > s_small and t_small * (s / s_small) ** 3 > limit:
            s //= 2
        return s

    mm32 = []  # sizes actually timed
    t_probe, s_probe = None, None
    for s in sizes:
        if t_probe is not None:
            s2 = fit_size(s, t_probe, s_probe, args.max_seconds)
            if s2 != s:
                notes.append(f"float32-accumulate matmul {s}^3 projected at "
                             f"{t_probe * (s / s_probe) ** 3:.0f} s per call (> "
                             f"{args.max_seconds:g} s): timed at {s2}^3 instead.")
                s = s2
        a, b = operands(s)
        va, vb = np.asarray(a), np.asarray(b)
        assert va.dtype == np.float32
        flops = 2.0 * s ** 3
        mf.set_num_threads(1)
        t0 = time.perf_counter()
        c1 = mf.matmul(a, b, accumulator="float32", out_format="float16")
        t_probe, s_probe = time.perf_counter() - t0, s
        ref = mf.asarray(seq_f32_reference(va, vb), "float16")
        assert np.array_equal(c1.codes, ref.codes), "accumulator='float32' != sequential ref"
        mf.set_num_threads(ncpu)
        cn = mf.matmul(a, b, accumulator="float32", out_format="float16")
        assert np.array_equal(cn.codes, c1.codes), "float32 accumulate: threads differ"
        cb = mf.matmul(a, b, accumulator="float32_blas", out_format="float16")
        npref = mf.asarray(va @ vb, "float16")
        assert np.array_equal(cb.codes, npref.codes), "float32_blas != numpy matmul + encode"
        diff = np.mean(cb.codes != c1.codes)
        print(f"Check {s}^3: accumulator='float32' codes == NumPy sequential-k float32 "
              f"reference (exact products, one RNE per addition) then float16: OK; "
              f"1 == {ncpu} threads: OK; float32_blas == encode(va @ vb): OK "
              f"(float32_blas differs from 'float32' in {100 * diff:.2f}% of outputs)")
        for nt in (1, ncpu):
            mf.set_num_threads(nt)
            add(("mm32", s, nt), "matmul f32-acc", "minifloat", str(nt),
                lambda a=a, b=b: mf.matmul(a, b, accumulator="float32", out_format="float16"),
                f"{s}^3", flops, "GFLOP/s", "accumulator='float32' (sequential k, RNE)")
        add(("mmblas", s), "matmul f32-acc", "minifloat", f"blas {blas_threads0}",
            lambda a=a, b=b: mf.matmul(a, b, accumulator="float32_blas",
                                           out_format="float16"),
            f"{s}^3", flops, "GFLOP/s", "accumulator='float32_blas'")
        add(("np", s), "matmul f32-acc", "numpy float32", f"blas {blas_threads0}",
            lambda va=va, vb=vb: va @ vb, f"{s}^3", flops, "GFLOP/s",
            "va @ vb, decoded float32 operands (decode not timed)")
        if blas.set is not None and blas_threads0 != 1:
            blas.set_threads(1)
            add(("np1", s), "matmul f32-acc", "numpy float32", "blas 1",
                lambda va=va, vb=vb: va @ vb, f"{s}^3", flops, "GFLOP/s",
                "as above, OpenBLAS 1 thread")
            blas.set_threads(blas_threads0)
        else:
            rate[("np1", s)] = rate[("np", s)]
        mm32.append(s)
    print()

    # ======================================================================== 3. float16 acc
    f16 = mf.format("float16")

    def apy_mm(A, B):
        """apytypes matmul, every addition rounded (ties-to-even) into float16."""
        with apytypes.APyFloatAccumulatorContext(exp_bits=5, man_bits=10, bias=15,
                                                 quantization=apytypes.QuantizationMode.TIES_EVEN):
            return A @ B

    mm16 = []
    apy_done = {}
    t_probe, s_probe = None, None
    for s in sizes16:
        if t_probe is not None:
            s2 = fit_size(s, t_probe, s_probe, args.max_seconds)
            if s2 != s:
                notes.append(f"float16-accumulate matmul {s}^3 projected at "
                             f"{t_probe * (s / s_probe) ** 3:.0f} s per call (> "
                             f"{args.max_seconds:g} s): timed at {s2}^3 instead.")
                s = s2
        a, b = operands(s)
        flops = 2.0 * s ** 3
        mf.set_num_threads(ncpu)
        t0 = time.perf_counter()
        cn = mf.matmul(a, b, accumulator=f16, out_format="float16")
        t_probe, s_probe = (time.perf_counter() - t0) * ncpu, s  # ~ 1-thread time
        mf.set_num_threads(1)
        c1 = mf.matmul(a, b, accumulator=f16, out_format="float16")
        assert np.array_equal(cn.codes, c1.codes), "float16 accumulate: threads differ"
        print(f"Check {s}^3 float16 accumulator: 1 == {ncpu} threads: OK")
        for nt in (1, ncpu):
            mf.set_num_threads(nt)
            add(("mm16", s, nt), "matmul f16-acc", "minifloat", str(nt),
                lambda a=a, b=b: mf.matmul(a, b, accumulator=f16, out_format="float16"),
                f"{s}^3", flops, "GFLOP/s", "accumulator=mf.format('float16'), E4M3 operands")
        mm16.append(s)
        if apytypes is not None:
            APA = apytypes.APyFloatArray

            # apytypes' timed size: the full size unless projected over its limit.
            sa = s
            if apy_done:
                (s0, t0_) = max(apy_done.items())
                sa = fit_size(s, t0_, s0, args.apy_matmul_limit)
            if sa != s:
                a2, b2 = operands(sa)
                c2 = mf.matmul(a2, b2, accumulator=f16, out_format="float16")
            else:
                a2, b2, c2 = a, b, c1
            A = APA.from_float(np.asarray(a2), exp_bits=4, man_bits=3, bias=7)
            B = APA.from_float(np.asarray(b2), exp_bits=4, man_bits=3, bias=7)
            t0 = time.perf_counter()
            Z = apy_mm(A, B)
            apy_done[sa] = time.perf_counter() - t0
            assert (Z.exp_bits, Z.man_bits, Z.bias) == (5, 10, 15)
            assert np.array_equal(np.asarray(c2).astype(np.float64), Z.to_numpy()), \
                "apytypes float16-accumulated matmul != minifloat"
            print(f"Check {sa}^3: apytypes A @ B in APyFloatAccumulatorContext(5, 10, bias 15, "
                  "TIES_EVEN) values == minifloat accumulator=float16, out_format=float16: OK")
            tag = "" if sa == s else f"; timed at {sa}^3, scaled by FLOPs"
            add(("apy16", s), "matmul f16-acc", "apytypes", "lib", lambda A=A, B=B: apy_mm(A, B),
                f"{sa}^3", 2.0 * sa ** 3, "GFLOP/s",
                "A @ B in APyFloatAccumulatorContext(5, 10, 15)" + tag)
            if sa != s:
                notes.append(f"apytypes float16-accumulate matmul for {s}^3 timed at {sa}^3 "
                             f"(projected > {args.apy_matmul_limit:g} s per call at {s}^3); "
                             "GFLOP/s is per FLOP, so it stands for the full size.")

    # float16 x float16 operands (secondary; different product semantics in apytypes)
    s = min(sizes16)
    h_a, h_b = operands(s, "float16")
    mf.set_num_threads(1)
    ch = mf.matmul(h_a, h_b, accumulator=f16, out_format="float16")
    for nt in (1, ncpu):
        mf.set_num_threads(nt)
        add(("mm16h", s, nt), "matmul f16-acc", "minifloat", str(nt),
            lambda h_a=h_a, h_b=h_b: mf.matmul(h_a, h_b, accumulator=f16, out_format="float16"),
            f"{s}^3", 2.0 * s ** 3, "GFLOP/s", "float16 operands (exact products)")
    if apytypes is not None:
        HA = APA.from_float(np.asarray(h_a), exp_bits=5, man_bits=10, bias=15)
        HB = APA.from_float(np.asarray(h_b), exp_bits=5, man_bits=10, bias=15)
        Z = apy_mm(HA, HB)
        same = np.mean(np.asarray(ch).astype(np.float64) != Z.to_numpy())
        add(("apy16h", s), "matmul f16-acc", "apytypes", "lib", lambda HA=HA, HB=HB: apy_mm(HA, HB),
            f"{s}^3", 2.0 * s ** 3, "GFLOP/s", "float16 operands (products rounded first)")
        notes.append(f"float16 x float16 operands ({s}^3, secondary rows): minifloat keeps "
                     "each product exact and rounds once per addition; apytypes rounds each "
                     "product to the accumulator format before adding, so the results differ "
                     f"({100 * same:.1f}% of outputs here). Not used for the target.")
    mf.set_num_threads(threads0)

    # ======================================================================== report
    print()
    print(f"{'operation':<15} {'implementation':<14} {'threads':>8} {'size':>10} "
          f"{'best ms':>10} {'throughput':>11} {'unit':<9} {'cpu/wall':>8} {'calls':>5} "
          f"{'other':>6}  note")
    print("-" * 136)
    contended = 0
    for op, impl, th, size, t, cpu, unit, r, note, cnt, other in rows:
        flag = "*" if other > 0.15 else " "
        contended += flag == "*"
        print(f"{op:<15} {impl:<14} {th:>8} {size!s:>10} {t * 1e3:>10.4g} {r:>11.2f} {unit:<9} "
              f"{cpu:>8.2f} {cnt:>5} {other:>5.2f}{flag}  {note}")
    print()
    print("other: cores kept busy by other processes during the row and the 0.25 s pause before "
          "it (/proc/stat minus this process); '*' = over 0.15.")
    if contended:
        print(f"WARNING: {contended} row(s) ran while other processes were busy; their times "
              "are not trustworthy: rerun on a quiet machine.")
    print()
    print("threads: minifloat's mf.set_num_threads(n); 'blas k' = OpenBLAS with k threads; "
          "'lib' = the library's own behaviour (cpu/wall shows the cores it kept busy). "
          "calls = timed calls (best kept).")
    print()

    def ratio(k1, k2):
        return rate[k1] / rate[k2] if k1 in rate and k2 in rate else None

    def fmt(r):
        return "skipped" if r is None else f"{r:.2f}x"

    print("Ratios (minifloat throughput / peer throughput)")
    print(f"  {'comparison':<58} {'1 thread':>10} {f'{ncpu} threads':>11}")
    lines = [("E4M3 multiply vs ml_dtypes", "mul", "mul_ml"),
             ("E4M3 add vs ml_dtypes", "add", "add_ml"),
             ("E4M3 multiply vs apytypes", "mul", "mul_apy"),
             ("E4M3 add vs apytypes", "add", "add_apy")]
    for label, k, pk in lines:
        print(f"  {label:<58} {fmt(ratio((k, 1), pk)):>10} {fmt(ratio((k, ncpu), pk)):>11}")
    for s in mm32:
        lab = f"matmul {s}^3 float32-acc vs numpy float32 (blas {blas_threads0})"
        print(f"  {lab:<58} {fmt(ratio(('mm32', s, 1), ('np', s))):>10} "
              f"{fmt(ratio(('mm32', s, ncpu), ('np', s))):>11}")
        lab = f"matmul {s}^3 float32-acc vs numpy float32 (blas 1)"
        print(f"  {lab:<58} {fmt(ratio(('mm32', s, 1), ('np1', s))):>10} "
              f"{fmt(ratio(('mm32', s, ncpu), ('np1', s))):>11}")
        lab = f"matmul {s}^3 float32_blas vs numpy float32 (blas {blas_threads0})"
        print(f"  {lab:<58} {fmt(ratio(('mmblas', s), ('np', s))):>10} {'(same)':>11}")
    for s in mm16:
        lab = f"matmul {s}^3 float16-acc vs apytypes (E4M3 operands)"
        print(f"  {lab:<58} {fmt(ratio(('mm16', s, 1), ('apy16', s))):>10} "
              f"{fmt(ratio(('mm16', s, ncpu), ('apy16', s))):>11}")
    s = min(sizes16)
    lab = f"matmul {s}^3 float16-acc vs apytypes (float16 operands)"
    print(f"  {lab:<58} {fmt(ratio(('mm16h', s, 1), ('apy16h', s))):>10} "
          f"{fmt(ratio(('mm16h', s, ncpu), ('apy16h', s))):>11}")
    print()

    print("Targets (issue: MiniArray)" + (" -- NOT RELIABLE: rows marked '*' above ran "
                                          "alongside other busy processes" if contended else ""))
    targets = [("elementwise multiply >= 5x ml_dtypes", [(("mul", t), "mul_ml") for t in
                                                         (1, ncpu)], 5.0),
               ("elementwise add >= 5x ml_dtypes", [(("add", t), "add_ml") for t in
                                                    (1, ncpu)], 5.0),
               ("elementwise multiply >= 10x apytypes", [(("mul", t), "mul_apy") for t in
                                                         (1, ncpu)], 10.0),
               ("elementwise add >= 10x apytypes", [(("add", t), "add_apy") for t in
                                                    (1, ncpu)], 10.0)]
    for s in mm32:
        targets.append((f"float32-acc matmul {s}^3 >= 0.5x numpy, BLAS {blas_threads0} thr",
                        [(("mm32", s, t), ("np", s)) for t in (1, ncpu)], 0.5))
        targets.append((f"float32-acc matmul {s}^3 >= 0.5x numpy, BLAS 1 thr",
                        [(("mm32", s, t), ("np1", s)) for t in (1, ncpu)], 0.5))
    for s in mm16:
        targets.append((f"float16-acc matmul {s}^3 >= 20x apytypes",
                        [(("mm16", s, t), ("apy16", s)) for t in (1, ncpu)], 20.0))
    print(f"  {'target (columns: minifloat threads)':<58} {'1 thread':>16} "
          f"{f'{ncpu} threads':>16}")
    for label, pairs, goal in targets:
        cells = []
        for k, pk in pairs:
            r = ratio(k, pk)
            cells.append("skipped" if r is None else
                         f"{r:.2f}x {'MET' if r >= goal else 'NOT MET'}")
        print(f"  {label:<58} {cells[0]:>16} {cells[1]:>16}")
    print()
    for s_ in notes:
        print("Note:", s_)
    try:
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(core)))
    except OSError:
        now = "?"
    if hasattr(os, "getloadavg"):
        print("Load average at the end: {:.2f} {:.2f} {:.2f} (1/5/15 min)".format(
            *os.getloadavg()))
    if now != core_mtime:
        print(f"WARNING: minifloat._core changed during the run ({core_mtime} -> {now}); rerun.")


if __name__ == "__main__":
    main()
