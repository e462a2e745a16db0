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
