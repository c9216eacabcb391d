"""Benchmarks: scripts that print figures as tables; run each with ``python -m benchmarks.NAME``."""
