"""Benchmarks: `python -m actionlens.bench.<stage>`."""
