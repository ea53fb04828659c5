"""Sharding plans for the embedding tables."""

import contextlib
import logging
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Set, TextIO, Union

import torch
import torch.distributed as dist
from torch import nn
from torchrec.distributed.collective_utils import invoke_on_rank_and_broadcast_result
from torchrec.distributed.embedding_types import EmbeddingComputeKernel
from torchrec.distributed.planner import EmbeddingShardingPlanner
from torchrec.distributed.planner.storage_reservations import (
    HeuristicalStorageReservation,
)
from torchrec.distributed.planner.types import (
    KernelConfig,
    ParameterConstraints,
    PlannerError,
    TopologyFactory,
    TrainerConfig,
)
from torchrec.distributed.sharding_plan import (
    ParameterShardingGenerator,
    column_wise,
    construct_module_sharding_plan,
    data_parallel,
    get_default_sharders,
    row_wise,
    table_row_wise,
    table_wise,
)
from torchrec.distributed.types import CacheParams, ShardingPlan, ShardingType
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.user_errors import ConfigError

# Sharding types whose tables train with FBGEMM's fused kernels and in-backward
# optimizer. data_parallel replicates a table with dense gradients instead.
FUSED_SHARDING_TYPES: List[str] = [
    ShardingType.TABLE_WISE.value,
    ShardingType.COLUMN_WISE.value,
    ShardingType.TABLE_COLUMN_WISE.value,
    ShardingType.ROW_WISE.value,
    ShardingType.TABLE_ROW_WISE.value,
]


# The planner's own default (HeuristicalStorageReservation's percentage); MLPerf's
# torchrec_dlrm plans with 0.05.
DEFAULT_STORAGE_RESERVATION = 0.15
# --planner_compute_kernels choices for the sharded (non-data_parallel) tables; the UVM
# kernels keep the weights in host memory mapped into the GPU (CUDA only).
PLANNER_COMPUTE_KERNELS = (
    EmbeddingComputeKernel.FUSED.value,
    EmbeddingComputeKernel.FUSED_UVM.value,
    EmbeddingComputeKernel.FUSED_UVM_CACHING.value,
)
_UVM_KERNELS = PLANNER_COMPUTE_KERNELS[1:]
# The logger of TorchRec's EmbeddingStats table (quiet.py silences ``torchrec``).
PLANNER_STATS_LOGGER = "torchrec.distributed.planner.stats"
_GB = 1024**3


@dataclass
class PlannerOptions:
    """
    What TorchRec's planner (``--sharding auto``) is told beyond the sharding types.

    Args:
        storage_reservation (float): the fraction of each rank's HBM kept back for
            everything but the tables (HeuristicalStorageReservation's percentage;
            the dense model and the input batches are reserved on top of it). TorchRec
            reserves it from HBM only: CPU ranks, which plan in DDR, show it in the
            stats table and keep all their DDR.
        compute_kernels (Optional[List[str]]): kernels the sharded tables may use
            (`PLANNER_COMPUTE_KERNELS`; None: the planner's choice, ``fused`` on CPU).
        hbm_gb (Optional[float]): per-rank HBM of the topology (None: the device's).
        ddr_gb (Optional[float]): per-rank host memory (None: the planner's default).
        uvm_caching_load_factor (Optional[float]): lets the sharded tables use the
            ``fused_uvm_caching`` kernel (CUDA only) with an HBM cache of this
            fraction of their rows, so tables that do not fit in HBM live in host
            memory (``ParameterConstraints.cache_params``).
        print_stats (bool): show the planner's EmbeddingStats table on rank 0.
    """

    storage_reservation: float = DEFAULT_STORAGE_RESERVATION
    compute_kernels: Optional[List[str]] = None
    hbm_gb: Optional[float] = None
    ddr_gb: Optional[float] = None
    uvm_caching_load_factor: Optional[float] = None
    print_stats: bool = False

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> "PlannerOptions":
        """The options of the training settings ``values`` (the ``planner_*`` flags and
        ``print_sharding_plan`` by name, as `TrainConfig` and the parsed command line
        hold them; a missing or None reservation is the default)."""
        reservation = values.get("planner_storage_reservation")
        return cls(
            storage_reservation=DEFAULT_STORAGE_RESERVATION
            if reservation is None
            else reservation,
            compute_kernels=values.get("planner_compute_kernels"),
            hbm_gb=values.get("planner_hbm_gb"),
            ddr_gb=values.get("planner_ddr_gb"),
            uvm_caching_load_factor=values.get("planner_uvm_caching_load_factor"),
            print_stats=bool(values.get("print_sharding_plan", False)),
        )

    def check(self, device: torch.device) -> None:
        """One-line `ConfigError` for a value TorchRec cannot plan with on ``device``."""
        if not 0.0 <= self.storage_reservation < 1.0:
            raise ConfigError(
                "--planner_storage_reservation must be in [0, 1), got "
                f"{self.storage_reservation}"
            )
        for flag, gb in (("hbm", self.hbm_gb), ("ddr", self.ddr_gb)):
            if gb is not None and not gb > 0:
                raise ConfigError(f"--planner_{flag}_gb must be > 0, got {gb}")
        lf = self.uvm_caching_load_factor
        if lf is not None and not 0.0 < lf < 1.0:
            raise ConfigError(
                f"--planner_uvm_caching_load_factor must be in (0, 1), got {lf}"
            )
        unknown = sorted(set(self.compute_kernels or ()) - set(PLANNER_COMPUTE_KERNELS))
        if unknown:
            raise ConfigError(
                f"--planner_compute_kernels: unknown {', '.join(unknown)}; choose from "
                f"{', '.join(PLANNER_COMPUTE_KERNELS)}"
            )
        if device.type == "cuda":
            return
        uvm = [k for k in self.compute_kernels or () if k in _UVM_KERNELS]
        if uvm:
            raise ConfigError(
                f"--planner_compute_kernels {','.join(uvm)} needs CUDA (UVM does not "
                f"exist on {device.type}); use fused"
            )
        if lf is not None:
            raise ConfigError(
                "--planner_uvm_caching_load_factor needs CUDA (UVM does not exist on "
                f"{device.type})"
            )
        if self.hbm_gb is not None:
            raise ConfigError(
                f"--planner_hbm_gb: {device.type} ranks have no HBM (the planner places "
                "their tables in DDR); use --planner_ddr_gb"
            )

    def kernels(self) -> Optional[List[str]]:
        """The sharded tables' allowed kernels (the UVM-caching one added with a load
        factor), or None for the planner's choice."""
        if self.uvm_caching_load_factor is None:
            return list(self.compute_kernels) if self.compute_kernels else None
        kernels = list(self.compute_kernels or [EmbeddingComputeKernel.FUSED.value])
        if EmbeddingComputeKernel.FUSED_UVM_CACHING.value not in kernels:
            kernels.append(EmbeddingComputeKernel.FUSED_UVM_CACHING.value)
        return kernels


@contextlib.contextmanager
def planner_stats_visible(stream: Optional[TextIO] = None) -> Iterator[None]:
    """
    Shows TorchRec's EmbeddingStats table (INFO lines of `PLANNER_STATS_LOGGER`) on
    ``stream`` (default: stdout) while the block runs, whatever the job's log levels
    (`quiet.quiet_library_messages` sets ``torchrec`` to ERROR); restores the logger
    afterwards.
    """
    logger = logging.getLogger(PLANNER_STATS_LOGGER)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        handler.flush()


def _plan_or_error(
    planner: EmbeddingShardingPlanner, model: nn.Module, print_stats: bool
) -> Union[ShardingPlan, str]:
    """Rank 0's plan, or the first line of the planner's error (broadcast as it is, so
    every rank stops with it instead of waiting for a plan)."""
    try:
        with planner_stats_visible() if print_stats else contextlib.nullcontext():
            return planner.plan(model, get_default_sharders())
    except PlannerError as e:
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
        return first or type(e).__name__


def _storage_reservation(percentage: float) -> HeuristicalStorageReservation:
    """The planner's default policy with ``percentage`` (its FutureWarning about dry
    runs is the one the planner's own default would raise, hidden in the job)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return HeuristicalStorageReservation(percentage=percentage)


def plan_sharding(
    model: nn.Module,
    ctx: DistributedContext,
    batch_size: int,
    constraints: Optional[Dict[str, ParameterConstraints]] = None,
    pg: Optional[dist.ProcessGroup] = None,
    options: Optional[PlannerOptions] = None,
) -> ShardingPlan:
    """
    TorchRec's planner over this job's topology (per-rank HBM/DDR from ``options``),
    planned on rank 0 and broadcast. A model the planner cannot place raises the same
    one-line `ConfigError` on every rank.
    """
    options = options or PlannerOptions()
    options.check(ctx.device)
    topology = TopologyFactory.create_topology(
        trainer_config=TrainerConfig(
            world_size=ctx.world_size,
            local_world_size=ctx.local_world_size,
            hbm_cap_bytes=None if options.hbm_gb is None else int(options.hbm_gb * _GB),
            ddr_cap_bytes=None if options.ddr_gb is None else int(options.ddr_gb * _GB),
        ),
        kernel_config=KernelConfig(compute_device=ctx.device.type),
    )
    planner = EmbeddingShardingPlanner(
        topology=topology,
        batch_size=batch_size,
        constraints=constraints,
        storage_reservation=_storage_reservation(options.storage_reservation),
    )
    result = invoke_on_rank_and_broadcast_result(
        pg or dist.GroupMember.WORLD,
        0,
        _plan_or_error,
        planner,
        model,
        options.print_stats,
    )
    if isinstance(result, str):
        storage = topology.devices[0].storage
        raise ConfigError(
            f"the sharding planner found no plan: {result} (per rank: HBM "
            f"{storage.hbm / _GB:.3g} GB, DDR {storage.ddr / _GB:.3g} GB, reservation "
            f"{options.storage_reservation}; see --planner_hbm_gb, --planner_ddr_gb, "
            "--planner_storage_reservation, --print_sharding_plan)"
        )
    return result


def planner_constraints(
    tables: List[EmbeddingBagConfig],
    replicated: Set[str],
    sharding_types: Optional[List[str]] = None,
    pooling_factors: Optional[Dict[str, float]] = None,
    options: Optional[PlannerOptions] = None,
) -> Dict[str, ParameterConstraints]:
    """
    The planner's per-table constraints: data_parallel for the ``replicated`` tables,
    else ``sharding_types`` (default: the fused types) with the kernels and UVM cache
    of ``options``; every table with its pooling factor (mean ids per sample, 1 when
    absent: one-hot).
    """
    options = options or PlannerOptions()
    allowed = list(sharding_types or FUSED_SHARDING_TYPES)
    kernels = options.kernels()
    lf = options.uvm_caching_load_factor
    factors = pooling_factors or {}
    out: Dict[str, ParameterConstraints] = {}
    for t in tables:
        pooling = [float(factors.get(t.name, 1.0))]
        if t.name in replicated:
            out[t.name] = ParameterConstraints(
                sharding_types=[ShardingType.DATA_PARALLEL.value],
                pooling_factors=pooling,
            )
            continue
        out[t.name] = ParameterConstraints(
            sharding_types=list(allowed),
            compute_kernels=None if kernels is None else list(kernels),
            pooling_factors=pooling,
            cache_params=None if lf is None else CacheParams(load_factor=lf),
        )
    return out


# --sharding choices: the planner, or one sharding type for every table.
SHARDING_CHOICES = (
    "auto",
    ShardingType.TABLE_WISE.value,
    ShardingType.ROW_WISE.value,
    ShardingType.COLUMN_WISE.value,
    ShardingType.TABLE_ROW_WISE.value,
    ShardingType.DATA_PARALLEL.value,
)
# Fused TBE kernels need column shards whose width is a multiple of 4.
_MIN_COLUMN_SHARD = 4


def _balanced_ranks(tables: List[EmbeddingBagConfig], bins: int) -> List[int]:
    """Greedy placement by size: each table (largest first) to the least-loaded bin."""
    load = [0] * bins
    placement = [0] * len(tables)
    order = sorted(range(len(tables)), key=lambda i: -tables[i].num_embeddings)
    for i in order:
        b = min(range(bins), key=lambda k: (load[k], k))
        placement[i] = b
        load[b] += tables[i].num_embeddings * tables[i].embedding_dim
    return placement


def uniform_sharding_generators(
    tables: List[EmbeddingBagConfig], sharding: str, ctx: DistributedContext
) -> Dict[str, ParameterShardingGenerator]:
    """
    Per-table generators that shard every table one way, built by hand (TorchRec's
    planner does not offer row_wise or table_row_wise on CPU):

    * table_wise: whole tables, balanced over ranks by size;
    * row_wise: every table's rows split over all ranks;
    * column_wise: every table's columns split over up to D / 4 ranks (fused kernels
      need shard widths that are multiples of 4), consecutive ranks starting at a
      rotating offset so tables spread evenly;
    * table_row_wise: rows split over the ranks of one host, tables balanced over hosts;
    * data_parallel: every table replicated on every rank.
    """
    world, local = ctx.world_size, ctx.local_world_size
    if sharding == ShardingType.TABLE_WISE.value:
        ranks = _balanced_ranks(tables, world)
        return {t.name: table_wise(rank=r) for t, r in zip(tables, ranks)}
    if sharding == ShardingType.ROW_WISE.value:
        return {t.name: row_wise() for t in tables}
    if sharding == ShardingType.COLUMN_WISE.value:
        out: Dict[str, ParameterShardingGenerator] = {}
        for i, t in enumerate(tables):
            shards = max(1, min(world, t.embedding_dim // _MIN_COLUMN_SHARD))
            while (
                t.embedding_dim % shards
                or (t.embedding_dim // shards) % _MIN_COLUMN_SHARD
            ):
                shards -= 1
            out[t.name] = column_wise(ranks=[(i + k) % world for k in range(shards)])
        return out
    if sharding == ShardingType.TABLE_ROW_WISE.value:
        if world % local:
            raise ConfigError(
                f"world size {world} is not a multiple of the host size {local}"
            )
        hosts = _balanced_ranks(tables, world // local)
        return {t.name: table_row_wise(host_index=h) for t, h in zip(tables, hosts)}
    if sharding == ShardingType.DATA_PARALLEL.value:
        return {t.name: data_parallel() for t in tables}
    raise ValueError(f"unknown sharding {sharding!r}; choose from {SHARDING_CHOICES}")


def replicated_table_names(
    tables: List[EmbeddingBagConfig], sharding: str, data_parallel_max_rows: int = 0
) -> List[str]:
    """
    The tables to shard data_parallel: all of them with ``sharding="data_parallel"``,
    else those with at most ``data_parallel_max_rows`` rows (0: none). Small tables are
    cheap to replicate and are then stepped by a regular optimizer (Adam on any device,
    whole-table L2 in the gradient); the large ones stay sharded with fused kernels.
    """
    if sharding == ShardingType.DATA_PARALLEL.value:
        return [t.name for t in tables]
    if data_parallel_max_rows < 0:
        raise ValueError(
            f"data_parallel_max_rows must be >= 0, got {data_parallel_max_rows}"
        )
    return [t.name for t in tables if t.num_embeddings <= data_parallel_max_rows]


def build_sharding_plan(
    model: nn.Module,
    ebc_path: str,
    ctx: DistributedContext,
    sharding: str,
    batch_size: int,
    planner_sharding_types: Optional[List[str]] = None,
    data_parallel_max_rows: int = 0,
    pooling_factors: Optional[Dict[str, float]] = None,
    planner_options: Optional[PlannerOptions] = None,
) -> ShardingPlan:
    """
    The plan for the EmbeddingBagCollection at ``ebc_path`` inside ``model``: tables
    with at most ``data_parallel_max_rows`` rows are replicated (data_parallel); the
    others are sharded by TorchRec's planner (``sharding="auto"``, limited to
    ``planner_sharding_types``, by default the fused types) or all one way
    (`uniform_sharding_generators`). ``pooling_factors`` (table name: mean ids per
    sample, `model_factory.table_pooling_factors`; absent: 1, one-hot) tell the
    planner how much each multi-hot table looks up; ``planner_options`` carry the
    reservation, kernels, memory and printing of the planner (`PlannerOptions`).
    """
    ebc = model.get_submodule(ebc_path)
    assert isinstance(ebc, EmbeddingBagCollection), type(ebc)
    tables = ebc.embedding_bag_configs()
    replicated = set(replicated_table_names(tables, sharding, data_parallel_max_rows))
    if sharding == "auto":
        constraints = planner_constraints(
            tables, replicated, planner_sharding_types, pooling_factors, planner_options
        )
        return plan_sharding(
            model, ctx, batch_size, constraints, options=planner_options
        )
    sharded = [t for t in tables if t.name not in replicated]
    generators = uniform_sharding_generators(sharded, sharding, ctx) if sharded else {}
    generators.update({name: data_parallel() for name in replicated})
    module_plan = construct_module_sharding_plan(
        ebc,
        generators,
        local_size=ctx.local_world_size,
        world_size=ctx.world_size,
        device_type=ctx.device.type,
    )
    return ShardingPlan({ebc_path: module_plan})


def format_plan(plan: ShardingPlan) -> str:
    lines = []
    for module_path, module_plan in plan.plan.items():
        lines.append(f"module: {module_path}")
        for table, param_sharding in module_plan.items():  # pyre-ignore[16]
            lines.append(
                f"  {table}: {param_sharding.sharding_type} / "
                f"{param_sharding.compute_kernel} on ranks {param_sharding.ranks}"
            )
    return "\n".join(lines)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"
