"""Benchmarks: ratios against baselines measured in the same run (machines are noisy)."""
