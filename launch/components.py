"""TorchX components for torchrec_dlf jobs.

    torchx run launch/components.py:train -j 2x2 --max_retries 1 -- \\
        --checkpoint_dir results/ckpt --interaction_type dlf ...

``train`` is TorchX's ``dist.ddp`` with this project's defaults (script
``launch/train.py``, memory and threads per rank) and retries that work on every
scheduler: ``max_retries`` is given both to the scheduler (cluster schedulers such as
slurm and kubernetes restart the role) and to torchrun as ``--max-restarts`` (the elastic
agent restarts the whole worker group after a rank dies, which is also how retries work
on the local_cwd scheduler, which has none of its own). With ``--checkpoint_dir`` in the
script arguments, the restarted ranks resume from the last complete checkpoint.
"""

import shlex
from typing import Dict, Optional

import torchx
import torchx.specs as specs
from torchx.components import dist


def train(
    *script_args: str,
    script: str = "launch/train.py",
    image: str = torchx.IMAGE,
    name: str = "/",
    h: Optional[str] = None,
    cpu: int = 2,
    gpu: int = 0,
    memMB: int = 8192,
    j: str = "1x2",
    env: Optional[Dict[str, str]] = None,
    max_retries: int = 0,
    rdzv_port: int = 29500,
    rdzv_backend: str = "c10d",
    mounts: Optional[str] = None,
    threads_per_rank: int = 0,
) -> specs.AppDef:
    """
    Trains DLRM_DLF (or a TorchRec baseline) with launch/train.py on
    ``{nnodes}x{nproc_per_node}`` ranks.

    Args:
        script_args: flags for launch/train.py (after ``--``)
        script: training script
        image: image (for container schedulers)
        name: job name, ``{experimentname}/{runname}`` or ``{runname}``
        h: a registered named resource (takes precedence over cpu, gpu, memMB)
        cpu: CPUs per node
        gpu: GPUs per node (nproc_per_node must not exceed it on GPU hosts)
        memMB: memory per node in MB
        j: ``[{min_nnodes}:]{nnodes}x{nproc_per_node}``
        env: environment variables, ``K1=V1,K2=V2``
        max_retries: restarts after a failure (scheduler retries and torchrun
            --max-restarts); pair with --checkpoint_dir to resume
        rdzv_port: rendezvous port on the rank-0 host (multi-node)
        rdzv_backend: rendezvous backend (multi-node)
        mounts: mounts for container schedulers
        threads_per_rank: OMP/MKL threads per rank (0 keeps torchrun's default of 1
            when several ranks share a node)

    Returns:
        specs.AppDef: the job
    """
    env = dict(env or {})
    if threads_per_rank > 0:
        env.setdefault("OMP_NUM_THREADS", str(threads_per_rank))
    app = dist.ddp(
        *script_args,
        script=script,
        image=image,
        name=name,
        h=h,
        cpu=cpu,
        gpu=gpu,
        memMB=memMB,
        j=j,
        env=env,
        max_retries=max_retries,
        rdzv_port=rdzv_port,
        rdzv_backend=rdzv_backend,
        mounts=mounts,
    )
    role = app.roles[0]
    # dist.ddp runs `bash -c "torchrun ..."`; give the elastic agent the same number of
    # restarts as the scheduler so a dead rank brings the job back on any scheduler.
    assert role.entrypoint == "bash" and role.args[0] == "-c", role.args
    command = role.args[1]
    assert command.startswith("torchrun "), command
    role.args[1] = (
        f"torchrun --max-restarts {shlex.quote(str(max_retries))} "
        + command[len("torchrun ") :]
    )
    return app
