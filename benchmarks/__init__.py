"""Benchmarks of tunefleet against its honest baselines; run each as ``python -m benchmarks.NAME``."""
