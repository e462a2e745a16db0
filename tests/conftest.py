"""Shared pytest configuration for the minifloat test-suite."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long exhaustive sweeps (run with -m slow)")
    config.addinivalue_line(
        "markers", "exhaustive16: 16-bit all-pairs sweeps (hours; run with -m exhaustive16)"
    )
    config.addinivalue_line("markers", "gpu: needs CuPy and an NVIDIA GPU")


@pytest.fixture(scope="session")
def mf():
    return pytest.importorskip("minifloat")


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


@pytest.fixture(autouse=True)
def _restore_threads():
    """Tests that change the thread count must not leak it."""
    try:
        import minifloat

        n = minifloat.get_num_threads()
    except Exception:  # package not built or no thread API
        yield
        return
    yield
    minifloat.set_num_threads(n)
