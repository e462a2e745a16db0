"""The package's imports flow one way (docs/architecture.md, "Layers").

The import graph is read from the source (every ``import`` statement, also those inside
functions) and checked against the layer table below: a module may import modules of its own
layer or of lower layers, never of a higher one, and the graph has no circle at all. Each
module is also imported alone in a fresh interpreter, so a module that only works after some
other module happened to be imported first fails here.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

mf = pytest.importorskip("minifloat")

ROOT = Path(mf.__file__).resolve().parent

# Layer of each module, by longest matching prefix; lower numbers are further down.
LAYERS = {
    "minifloat.formats": 0,        # descriptors: pure data (float, fixed, LNS, LNS addition)
    "minifloat.rounding": 0,       # projection settings (modes, saturations, config)
    "minifloat.data": 0,           # dataset files (no other module)
    "minifloat._core": 1,          # the C++ extension: the dispatcher over the ISA levels
    "minifloat._cpuinfo": 1,       # compiled CPU feature probe (the dispatcher reads it)
    "minifloat._core_baseline": 1,  # the extension per ISA level (imported by the dispatcher)
    "minifloat._core_avx2": 1,
    "minifloat._core_avx512": 1,
    "minifloat._core_native": 1,
    "minifloat.backends": 1,       # cpu (the extension) and cuda (CuPy + NVRTC)
    "minifloat.projection": 2,     # resolved projection settings, exact input conversion
    "minifloat.blocks": 2,         # block-scaled encode / decode (OCP MX, NVFP4)
    "minifloat.codec": 2,          # encode / decode / quantize, argument checks, dispatch
    "minifloat.arith": 3,          # fixed-point and LNS arithmetic on codes
    "minifloat.array": 3,          # MiniArray and the dispatch registry
    "minifloat.block_array": 3,    # BlockArray: arrays in a block-scaled format
    "minifloat.ops": 3,            # elementwise operations
    "minifloat.linalg": 3,         # accumulation, matmul, conv2d
    "minifloat.io": 4,             # save / load, ml_dtypes interop
    "minifloat.fixed": 4,          # user-facing namespaces mf.fixed, mf.lns
    "minifloat.lns": 4,
    "minifloat.nn": 5,             # applications
    "minifloat.hw": 5,
    "minifloat.capi": 5,           # C ABI library location and ctypes binding
    "minifloat.hw_cocotb": 5,      # cocotb driver / scoreboard for RTL against the package
    "minifloat.torch": 6,          # PyTorch integration, on top of nn (imports torch)
    "minifloat.train_cli": 7,      # `minifloat train` (nn engine, torch engine lazily)
    "minifloat.cli": 8,
    "minifloat": 9,                # the package facade (__init__) and __main__
    "minifloat.__main__": 9,
}

# The compiled modules (no source file to read; they import nothing of the package).
COMPILED = ("minifloat._core", "minifloat._cpuinfo", "minifloat._core_baseline",
            "minifloat._core_avx2", "minifloat._core_avx512", "minifloat._core_native")

# Inside layer 3 the registry order: array holds the registry, ops and linalg fill it.
WITHIN = {"minifloat.arith": 0, "minifloat.array": 1, "minifloat.block_array": 2,
          "minifloat.ops": 2, "minifloat.linalg": 3}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(name: str) -> int:
    best = max((k for k in LAYERS if name == k or name.startswith(k + ".")), key=len,
               default=None)
    if best is None:
        raise AssertionError(f"module {name} has no layer: add it to LAYERS (and the docs)")
    return LAYERS[best]


def within_of(name: str) -> int | None:
    for k, v in WITHIN.items():
        if name == k or name.startswith(k + "."):
            return v
    return None


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """minifloat modules imported by a module (resolved; ``from pkg import sub`` -> pkg.sub)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "minifloat" or a.name.startswith("minifloat."):
                    out.add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not (mod == "minifloat" or mod.startswith("minifloat.")):
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.add(sub if sub in known else mod)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods) | set(COMPILED)
    return {n: imports_of(n, p, known) for n, p in mods.items()}


def test_every_module_has_a_layer():
    for n in modules():
        layer_of(n)


def test_no_upward_import():
    bad = []
    for src, targets in graph().items():
        for t in sorted(targets):
            ls, lt = layer_of(src), layer_of(t)
            ws, wt = within_of(src), within_of(t)
            if lt > ls or (lt == ls and ws is not None and wt is not None and wt > ws):
                bad.append(f"{src} (layer {ls}) imports {t} (layer {lt})")
    assert not bad, "upward imports:\n  " + "\n  ".join(bad)


def test_import_graph_has_no_circle():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for t in sorted(g.get(n, ())):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n)


def test_checker_sees_an_upward_import(tmp_path):
    """The checker itself: a descriptor module importing the codec is reported."""
    pkg = tmp_path / "minifloat" / "formats"
    pkg.mkdir(parents=True)
    f = pkg / "bad.py"
    f.write_text("def f():\n    from ..codec import encode\n    return encode\n")
    got = imports_of("minifloat.formats.bad", f, {"minifloat.codec"})
    assert got == {"minifloat.codec"}
    assert layer_of("minifloat.codec") > layer_of("minifloat.formats.bad")


@pytest.mark.parametrize("name", sorted(n for n in modules() if n != "minifloat.__main__"))
def test_module_imports_alone(name, tmp_path):
    if name.startswith("minifloat.torch"):
        pytest.importorskip("torch")
    # From an empty directory: `python -c` puts the working directory first on sys.path, and
    # in a source checkout that is the uncompiled source tree, not the installed package.
    env = dict(os.environ, MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                       text=True, env=env, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]


def test_compiled_modules_have_a_layer():
    for n in COMPILED:
        layer_of(n)


@pytest.mark.parametrize("level", ["baseline", "avx2", "avx512", "native"])
def test_level_module_imports_alone(level, tmp_path):
    """Each compiled ISA level loads by itself (without the dispatcher) where it is built and
    this CPU runs it."""
    from minifloat import _core

    if level not in _core.compiled_levels():
        pytest.skip(f"level {level} not compiled in this build")
    if level not in _core.supported_levels():
        pytest.skip(f"this CPU cannot run level {level}")
    r = subprocess.run([sys.executable, "-c", f"import minifloat._core_{level} as m; "
                        "print(m.ISA_LEVEL)"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == level


def test_package_import_does_not_load_torch(tmp_path):
    """`import minifloat` (and minifloat.nn) work without PyTorch: they never import it."""
    code = ("import sys, minifloat, minifloat.nn, minifloat.cli; "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"
