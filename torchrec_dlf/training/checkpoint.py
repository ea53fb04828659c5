"""Checkpoints of a sharded training job with torch.distributed.checkpoint (DCP).

Layout of a checkpoint directory::

    <dir>/step_000000120/     a complete checkpoint: DCP shards of the model (sharded
                              tables included) and of the combined optimizer (fused and
                              dense state), trainer_state.json, rng_rank<r>.pt
    <dir>/best/               the best-by-validation weights (model only), best.json
    <dir>/.step_....tmp/      a checkpoint being written; never read

A checkpoint becomes visible only when complete: every rank writes into the hidden
temporary directory, and after a barrier rank 0 renames it into place. Older
checkpoints beyond ``keep_last`` are removed afterwards, so nothing written before the
last complete checkpoint is ever lost or left partial. DCP reshards on load: a
checkpoint written by 2 ranks loads into 4 ranks with a different sharding plan.
"""

import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException
from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizer, OptimizerWrapper

from torchrec_dlf.training.parallel import broadcast_replicated_buffers
from torchrec_dlf.user_errors import UserError

STEP_PREFIX = "step_"
BEST_DIR = "best"
STATE_FILE = "trainer_state.json"
# Sizes of the files a checkpoint was written with: a truncated or missing one marks it
# damaged without reading it.
FILES_KEY = "files"
_STEP_RE = re.compile(rf"^{STEP_PREFIX}(\d+)$")


def is_checkpoint_directory(directory: str) -> bool:
    """Whether ``directory`` holds only what `CheckpointManager` writes."""
    for name in os.listdir(directory):
        if _STEP_RE.match(name) or name == BEST_DIR or name.startswith("."):
            continue
        return False
    return True


class DamagedCheckpoint(UserError):
    """A checkpoint whose files are missing, truncated or unreadable."""


def _file_sizes(directory: str, skip: str) -> Dict[str, int]:
    sizes = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if rel != skip:
                sizes[rel] = os.path.getsize(path)
    return sizes


def read_checkpoint_state(path: str, json_name: str = STATE_FILE) -> Dict[str, Any]:
    """
    The JSON state of a checkpoint, after checking that every file it was written with
    is there with its size; `DamagedCheckpoint` says which is not.
    """
    state_path = os.path.join(path, json_name)
    try:
        with open(state_path) as f:
            state = json.load(f)
    except FileNotFoundError as e:
        raise DamagedCheckpoint(f"{state_path}: missing") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamagedCheckpoint(f"{state_path}: unreadable ({e})") from e
    if not isinstance(state, dict):
        raise DamagedCheckpoint(f"{state_path}: not a checkpoint state")
    for rel, size in (state.get(FILES_KEY) or {}).items():
        file = os.path.join(path, rel)
        if not os.path.isfile(file):
            raise DamagedCheckpoint(f"{file}: missing")
        actual = os.path.getsize(file)
        if actual != size:
            raise DamagedCheckpoint(
                f"{file}: {actual} bytes, written with {size} (truncated?)"
            )
    return state


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _materialize_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """
    Keyed optimizers load state in place and refuse to load into an empty (lazy) state:
    give every sub-optimizer without state one dummy step with zero gradients (which
    moves no parameter for Adam/Adagrad/SGD), then drop the gradients again.
    """
    for sub in _leaf_optimizers(optimizer):
        if len(sub.state) == 0 and isinstance(sub, KeyedOptimizer):
            sub.init_state()
            for param in sub.params.values():
                param.grad = None


def _leaf_optimizers(
    optimizer: torch.optim.Optimizer,
) -> Iterator[torch.optim.Optimizer]:
    if isinstance(optimizer, CombinedOptimizer):
        for _, sub in optimizer.optimizers:
            yield from _leaf_optimizers(sub)
    elif isinstance(optimizer, OptimizerWrapper):
        yield from _leaf_optimizers(optimizer._optimizer)
    else:
        yield optimizer


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[-1][:200] if text else type(error).__name__


@dataclass
class LoadedCheckpoint:
    path: str
    step: int
    trainer_state: Dict[str, Any]
    world_size: int


class CheckpointManager:
    """
    Saves and restores (model, optimizer, trainer state, per-rank RNG) with DCP. All
    methods are collective: every rank calls them in the same order.

    Args:
        directory (str): checkpoint directory (shared by all ranks).
        keep_last (int): complete step checkpoints to keep.

    Example::

        ckpt = CheckpointManager("ckpt", keep_last=2)
        ckpt.save(step, model, optimizer, {"epoch": 1})
        loaded = ckpt.load(ckpt.latest(), model, optimizer)
    """

    def __init__(self, directory: str, keep_last: int = 2) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.directory = os.path.abspath(directory)
        self.keep_last = keep_last
        if _rank() == 0:
            os.makedirs(self.directory, exist_ok=True)
        _barrier()

    # Discovery ----------------------------------------------------------------------

    def steps(self) -> List[int]:
        """Steps of the complete checkpoints, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            m = _STEP_RE.match(name)
            if m and os.path.isfile(os.path.join(self.directory, name, STATE_FILE)):
                found.append(int(m.group(1)))
        return sorted(found)

    def latest(self) -> Optional[str]:
        steps = self.steps()
        return self.step_path(steps[-1]) if steps else None

    def step_path(self, step: int) -> str:
        return os.path.join(self.directory, f"{STEP_PREFIX}{step:09d}")

    @property
    def best_path(self) -> str:
        return os.path.join(self.directory, BEST_DIR)

    # Saving -------------------------------------------------------------------------

    def _write_atomically(
        self,
        model: nn.Module,
        final: str,
        state: Dict[str, Any],
        json_name: str,
        json_state: Dict[str, Any],
        per_rank: Optional[Dict[str, Any]] = None,
    ) -> None:
        tmp = os.path.join(self.directory, f".{os.path.basename(final)}.tmp")
        broadcast_replicated_buffers(model)
        if _rank() == 0 and os.path.exists(tmp):
            shutil.rmtree(tmp)  # left by a job that died while writing
        _barrier()
        dcp.save(state, checkpoint_id=tmp)
        if per_rank is not None:
            torch.save(per_rank, os.path.join(tmp, f"rng_rank{_rank()}.pt"))
        _barrier()
        if _rank() == 0:
            json_state = {**json_state, FILES_KEY: _file_sizes(tmp, json_name)}
            with open(os.path.join(tmp, json_name), "w") as f:
                json.dump(json_state, f, indent=2, default=str)
                f.flush()
                os.fsync(f.fileno())
            old = None
            if os.path.exists(final):
                # Hidden, so a run killed here leaves nothing is_checkpoint_directory refuses.
                old = os.path.join(self.directory, f".{os.path.basename(final)}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.rename(final, old)
            os.rename(tmp, final)
            _fsync_dir(self.directory)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        _barrier()

    def save(
        self,
        step: int,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        trainer_state: Dict[str, Any],
    ) -> str:
        """Writes checkpoint ``step`` and prunes the oldest beyond ``keep_last``."""
        final = self.step_path(step)
        self._write_atomically(
            model,
            final,
            {"model": model.state_dict(), "optimizer": optimizer.state_dict()},
            STATE_FILE,
            {**trainer_state, "step": step, "world_size": _world()},
            per_rank={"rng": rng_state()},
        )
        if _rank() == 0:
            for old in self.steps()[: -self.keep_last]:
                shutil.rmtree(self.step_path(old), ignore_errors=True)
        _barrier()
        return final

    def save_best(self, model: nn.Module, info: Dict[str, Any]) -> str:
        self._write_atomically(
            model, self.best_path, {"model": model.state_dict()}, "best.json", info
        )
        return self.best_path

    # Loading ------------------------------------------------------------------------

    def load(
        self,
        path: str,
        model: nn.Module,
        optimizer: Optional[torch.optim.Optimizer] = None,
    ) -> LoadedCheckpoint:
        """
        Loads a step checkpoint into ``model`` (and ``optimizer``), resharding as needed,
        and restores this rank's RNG state when the world size is unchanged. A damaged
        checkpoint raises `DamagedCheckpoint` (possibly after loading part of it).
        """
        trainer_state = read_checkpoint_state(path)
        state: Dict[str, Any] = {"model": model.state_dict()}
        if optimizer is not None:
            _materialize_optimizer_state(optimizer)
            state["optimizer"] = optimizer.state_dict()
        try:
            dcp.load(state, checkpoint_id=path)
        except (
            Exception,
            CheckpointException,
        ) as e:  # DCP: every rank's failure, a BaseException
            raise DamagedCheckpoint(f"{path}: cannot be read ({_first_line(e)})") from e
        model.load_state_dict(state["model"])
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        saved_world = int(trainer_state.get("world_size", _world()))
        rng_file = os.path.join(path, f"rng_rank{_rank()}.pt")
        if saved_world == _world() and os.path.isfile(rng_file):
            set_rng_state(torch.load(rng_file, weights_only=False)["rng"])
        return LoadedCheckpoint(
            path, int(trainer_state["step"]), trainer_state, saved_world
        )

    def load_best(self, model: nn.Module) -> Dict[str, Any]:
        state = {"model": model.state_dict()}
        dcp.load(state, checkpoint_id=self.best_path)
        model.load_state_dict(state["model"])
        with open(os.path.join(self.best_path, "best.json")) as f:
            return json.load(f)

    def has_best(self) -> bool:
        return os.path.isfile(os.path.join(self.best_path, "best.json"))
