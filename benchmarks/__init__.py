"""Benchmarks: the project measures speed here, never in its tests."""
