"""Benchmarks: each prints a table (run from the repository root: python -m bench.NAME)."""
