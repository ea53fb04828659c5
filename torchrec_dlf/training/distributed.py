"""Process-group set-up for torchrun/TorchX launches and plain single-process runs."""

import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    device: torch.device
    backend: str

    @property
    def is_rank_zero(self) -> bool:
        return self.rank == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_device(requested: str, local_rank: int) -> torch.device:
    """ "auto" picks the local rank's GPU when CUDA is available, else the CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but CUDA is not available")
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        return device
    if requested != "cpu":
        raise ValueError(f"unknown device {requested!r} (auto, cpu or cuda)")
    return torch.device("cpu")


def _elastic_attempt_store(rank: int, world_size: int) -> dist.Store:
    """
    The rendezvous store of a torchrun (TorchX) worker, with keys namespaced by restart
    attempt. torchrun keeps one agent store across worker-group restarts, and with
    torch 2.13 a restarted gloo group reads the dead attempt's peer addresses from it
    ("Gloo connectFullMesh failed ... Connection refused"); a per-attempt prefix gives
    every attempt fresh keys, so --max-restarts can bring a job back.
    """
    attempt = int(os.environ["TORCHELASTIC_RESTART_COUNT"])
    agent_hosts_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        host_name=os.environ["MASTER_ADDR"],
        port=int(os.environ["MASTER_PORT"]),
        world_size=world_size,
        is_master=not agent_hosts_store and rank == 0,
        timeout=timedelta(minutes=10),
    )
    return dist.PrefixStore(f"torchrec_dlf/attempt_{attempt}", store)


def init_distributed(requested_device: str = "auto") -> DistributedContext:
    """
    Joins the process group torchrun (or TorchX's dist.ddp) describes through the
    environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), or makes a one-process
    group when run as plain ``python``. NCCL on CUDA devices, gloo on the CPU.
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    device = choose_device(requested_device, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if "TORCHELASTIC_RESTART_COUNT" in os.environ:
            dist.init_process_group(
                backend=backend,
                store=_elastic_attempt_store(rank, world_size),
                rank=rank,
                world_size=world_size,
            )
        elif "MASTER_ADDR" in os.environ:
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        else:
            dist.init_process_group(
                backend=backend,
                init_method=f"tcp://127.0.0.1:{_free_port()}",
                rank=0,
                world_size=1,
            )
    return DistributedContext(
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        local_world_size=local_world_size,
        device=device,
        backend=backend,
    )


def destroy_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
