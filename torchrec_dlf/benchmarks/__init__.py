"""Benchmark utilities: timing, the machine's own limits, the reference DLF structure."""
