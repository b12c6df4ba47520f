"""Benchmarks of modelwatch (run as modules: `python -m benchmarks.decode_bench`)."""
