"""Benchmarks: `.venv/bin/python -m benchmarks.<name>`."""
