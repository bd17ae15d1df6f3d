"""Benchmark harness for ECSA Workshop: `python -m bench` (add `--quick` for a smoke run).

See bench/README.md for what is measured and how.
"""
