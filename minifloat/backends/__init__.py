"""Compute backends: ``cpu`` (the pybind11 module over the header core)."""
