"""The machine's own ceilings, measured in the same run as the benchmark they scale."""

from typing import Dict

import torch

from torchrec_dlf.benchmarks.timing import time_steps


def matmul_peak(
    device: torch.device,
    dtype: torch.dtype,
    size: int = 2048,
    step_budget_s: float = 1.0,
) -> Dict[str, float]:
    """
    FLOP/s of a square matrix product (the best of several), at ``size`` or, where one
    product of that size would take longer than ``step_budget_s``, at the largest
    halving of it that does not (a CPU without native bf16, e.g. AVX2 only, runs bf16
    products two orders of magnitude slower than fp32; the size used is reported).
    """
    probe = min(size, 512)
    a = torch.randn(probe, probe, device=device).to(dtype)
    b = torch.randn(probe, probe, device=device).to(dtype)
    probe_s = time_steps(lambda: torch.mm(a, b), device, warmup=1, steps=2)["min_s"]
    while size > probe and probe_s * (size / probe) ** 3 > step_budget_s:
        size //= 2
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    t = time_steps(lambda: torch.mm(a, b), device, warmup=2, steps=6)
    flops = 2.0 * size**3
    return {
        "size": float(size),
        "flop_per_s": flops / t["min_s"],
        "p50_flop_per_s": flops / t["p50_s"],
    }


def copy_bandwidth(device: torch.device, megabytes: int = 512) -> Dict[str, float]:
    """Bytes read + written per second by a large contiguous copy."""
    n = megabytes * 1024 * 1024 // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    t = time_steps(lambda: dst.copy_(src), device, warmup=1, steps=5)
    moved = 2.0 * n * 4
    return {"megabytes": float(megabytes), "bytes_per_s": moved / t["min_s"]}


def random_gather_bandwidth(
    device: torch.device, rows: int = 4_000_000, dim: int = 64, lookups: int = 1_000_000
) -> Dict[str, float]:
    """Bytes per second of gathering random rows of a large table (``index_select``)."""
    table = torch.randn(rows, dim, device=device)
    index = torch.randint(0, rows, (lookups,), device=device)
    t = time_steps(lambda: table.index_select(0, index), device, warmup=1, steps=5)
    read = float(lookups * dim * 4)
    return {"rows": float(rows), "dim": float(dim), "bytes_per_s": read / t["min_s"]}
