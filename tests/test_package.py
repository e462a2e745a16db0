"""Packaging: the header core is installed with the package, threads are configurable."""

import os

import minifloat as mf


def test_headers_installed_with_package():
    inc = mf.get_include()
    for name in ("config.h", "spec.h", "project.h", "decode.h", "random.h"):
        assert os.path.isfile(os.path.join(inc, "minifloat", name)), name


def test_set_num_threads_roundtrip():
    old = mf.get_num_threads()
    try:
        mf.set_num_threads(1)
        assert mf.get_num_threads() == 1
    finally:
        mf.set_num_threads(old)


def _work(x, a, b):
    """Calls that go through the worker pool: a seeded stochastic encode, a decode, a float32-
    accumulate matmul (results independent of threads by design §3/§4)."""
    import numpy as np

    codes = mf.encode(x, "float8_e4m3fn", rounding="stochastic_a", random_bits=8, seed=5)
    vals = mf.decode(codes, "float8_e4m3fn", np.float32)
    mm = mf.matmul(a, b, accumulator="float32", out_format="float16").codes
    return codes, vals, mm


def _inputs():
    import numpy as np

    rng = np.random.default_rng(3)
    x = rng.standard_normal(300_001).astype(np.float32)
    a = mf.asarray(rng.standard_normal((130, 200)), "float8_e4m3fn")
    b = mf.asarray(rng.standard_normal((200, 150)), "float8_e4m3fn")
    return x, a, b


def _same(r1, r2):
    import numpy as np

    return all(np.array_equal(u, v, equal_nan=u.dtype.kind == "f") for u, v in zip(r1, r2))


def test_pool_calls_from_many_python_threads():
    """The pool takes one job at a time; a call from another Python thread meanwhile runs on its
    own thread. Every result must equal the single-threaded one."""
    from concurrent.futures import ThreadPoolExecutor

    x, a, b = _inputs()
    mf.set_num_threads(1)
    ref = _work(x, a, b)
    mf.set_num_threads(3)  # more workers than cores, too
    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(lambda _: [_work(x, a, b) for _ in range(5)], range(12)))
    assert all(_same(r, ref) for rs in results for r in rs)


def test_pool_thread_counts_up_and_down():
    x, a, b = _inputs()
    mf.set_num_threads(1)
    ref = _work(x, a, b)
    for n in (2, 5, 1, 3, 8, 2):
        mf.set_num_threads(n)
        assert _same(_work(x, a, b), ref), n


def test_pool_in_forked_child():
    """A forked child inherits the pool's memory but not its threads: it must start its own."""
    import multiprocessing as mp

    import pytest

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x, a, b = _inputs()
    mf.set_num_threads(2)
    ref = _work(x, a, b)  # the parent's pool is running
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    try:
        got = q.get(timeout=120)  # before join: the child's queue feeder waits for a reader
    finally:
        p.join(30)
        if p.exitcode is None:
            p.kill()
    assert p.exitcode == 0
    assert _same(got, ref)


def _child(q):
    x, a, b = _inputs()
    q.put(_work(x, a, b))
