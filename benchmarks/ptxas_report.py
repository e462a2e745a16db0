#!/usr/bin/env python
"""Registers and spills of every GPU kernel, per architecture, from ptxas -v (no GPU needed).

Each kernel source of ``minifloat.backends.cuda.kernel_sources()`` (and of ``cuda_fixed_lns``
and ``cuda_linalg``) is compiled by NVRTC (the
``nvidia-cuda-nvrtc`` wheel, through tests/nvrtc_ctypes.py) for a real architecture
(``--gpu-architecture=sm_XX``, CuPy's default path) with ``-Xptxas -v``, and NVRTC's built-in
ptxas reports registers, stack frame and spill bytes per kernel.  With ``--ptxas PATH`` (or a
``ptxas`` from the ``nvidia-cuda-nvcc`` wheel, found automatically) the ``compute_XX`` PTX is
also assembled by that standalone ptxas and its numbers are shown beside NVRTC's.

    python benchmarks/ptxas_report.py                  # sm_80 and sm_90
    python benchmarks/ptxas_report.py --arch 90 --arch 100
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import nvrtc_ctypes  # noqa: E402

from minifloat.backends import cuda, cuda_fixed_lns, cuda_linalg  # noqa: E402

_REGS = re.compile(r"Used (\d+) registers")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")


def parse(log: str) -> tuple[int, int, int, int]:
    """(registers, stack frame bytes, spill store bytes, spill load bytes) of a one-kernel
    ptxas -v log."""
    regs, frame = _REGS.search(log), _FRAME.search(log)
    if regs is None or frame is None:
        raise ValueError(f"no ptxas -v figures in:\n{log}")
    stack, stores, loads = (int(g) for g in frame.groups())
    return int(regs.group(1)), stack, stores, loads


def find_ptxas() -> str | None:
    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations or []) if spec else []:
        for p in glob.glob(os.path.join(base, "*", "bin", "ptxas")):
            return p
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", action="append", type=int, help="compute capability (80, 90, ...)")
    ap.add_argument("--ptxas", help="standalone ptxas to cross-check (default: from a wheel)")
    args = ap.parse_args()
    archs = args.arch or [80, 90]
    nv = nvrtc_ctypes.load()
    if nv is None:
        print("NVRTC not found: pip install nvidia-cuda-nvrtc", file=sys.stderr)
        return 2
    ptxas = args.ptxas or find_ptxas()
    ptxas_version = ""
    if ptxas:
        out = subprocess.run([ptxas, "--version"], capture_output=True, text=True).stdout
        ptxas_version = next((ln for ln in out.splitlines() if "release" in ln), "?")
    print(f"NVRTC {'.'.join(map(str, nv.version()))} ({nv.path})")
    print(f"standalone ptxas: {ptxas} [{ptxas_version}]" if ptxas else
          "standalone ptxas: none (pip install nvidia-cuda-nvcc for a cross-check)")
    kernels = [*cuda.kernel_sources(), *cuda_fixed_lns.kernel_sources(),
               *cuda_linalg.kernel_sources()]
    worst = 0
    for arch in archs:
        t0 = time.perf_counter()
        print(f"\n## sm_{arch}\n")
        head = "| kernel | registers | stack B | spill st B | spill ld B |"
        print(head + (" ptxas regs | ptxas spill st/ld B |" if ptxas else ""))
        print("|" + "---|" * (7 if ptxas else 5))
        regs_all = []
        for name, src, opts in kernels:
            r = nv.compile(src, [*opts, "-ftz=true", f"--gpu-architecture=sm_{arch}",
                                 "-Xptxas", "-v"], name=f"{name}.cu")
            if not r.ok:
                print(f"{name}: {r.status}\n{r.log}", file=sys.stderr)
                return 1
            regs, frame, st, ld = parse(r.log)
            regs_all.append(regs)
            worst = max(worst, st + ld)
            row = f"| {name} | {regs} | {frame} | {st} | {ld} |"
            if ptxas:
                p = nv.compile(src, [*opts, "-ftz=true", f"--gpu-architecture=compute_{arch}"])
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "k.ptx")
                    with open(path, "w") as fh:
                        fh.write(p.ptx)
                    q = subprocess.run([ptxas, "-v", f"-arch=sm_{arch}", "-o",
                                        os.path.join(tmp, "k.cubin"), path],
                                       capture_output=True, text=True)
                if q.returncode != 0:
                    print(f"{name}: ptxas failed\n{q.stderr}", file=sys.stderr)
                    return 1
                pr, _, pst, pld = parse(q.stderr + q.stdout)
                row += f" {pr} | {pst}/{pld} |"
            print(row)
        dt = time.perf_counter() - t0
        print(f"\nsm_{arch}: {len(kernels)} kernels, registers {min(regs_all)}..{max(regs_all)}, "
              f"{dt:.1f} s")
    print(f"\nlargest spill (stores + loads) over all kernels and archs: {worst} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
