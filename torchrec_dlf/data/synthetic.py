"""The embedded default dataset: a deterministic synthetic CTR set in Criteo's shape.

Rows have 13 numeric and 26 categorical fields (both configurable). Categorical ids are
Zipf-distributed (a few ids carry most of the traffic, as in real logs); numeric fields
are log-transformed heavy-tailed counts with missing values, as Criteo's are after the
usual ``log(1 + x)`` transform. Labels come from a hidden teacher whose logit has

* first-order terms (a weight per id and per numeric field),
* pairwise terms (dot products of latent vectors of field pairs), and
* higher-order terms (three-way latent products and a small tanh network),

each scaled to a chosen share of the logit, so a model that captures interactions beats
a first-order (logistic regression) model by a clear margin.

Multi-hot mode (``multi_hot``, MLPerf DLRMv2 style, as its ``--multi_hot_sizes``): a
field of bag size k > 1 holds k ids per row, the row's one-hot id first and k - 1
extra ids drawn once per id (``multi_hot_distribution``: uniform over the table, or
id + a Pareto-distributed offset, wrapping around), so each id always brings the same
bag. The teacher reads a bag as a pooling table does: its first-order weight and
latent vector are the sum over the bag's ids divided by sqrt(bag size) (the variance
of one id's), so what decides the label is exactly what a sum- or mean-pooled
embedding can express. The rows' first ids are those of the one-hot set of the same
seed; the labels are not. The data is written once
as a prepared Parquet dataset into a cache directory and read back through
`ParquetBatchLoader`, exactly as real data is.
"""

import argparse
import fcntl
import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from torchrec_dlf.data.metadata import POOLINGS, BagInfo, DatasetMetadata, find_metadata
from torchrec_dlf.data.writer import PreparedDatasetWriter
from torchrec_dlf.user_errors import ConfigError

# Part of the cache key: bump it whenever the generated rows change for the same config.
GENERATOR_VERSION = 2
_CHUNK_ROWS = 50_000
MULTI_HOT_DISTRIBUTIONS = ("uniform", "pareto")
# The settings of multi-hot mode: left out of the cache key and the recorded options
# while at their defaults, so one-hot datasets keep theirs.
_MULTI_HOT_FIELDS = ("multi_hot", "multi_hot_distribution", "multi_hot_pooling")
# MLPerf DLRMv2's Pareto shape for the extra ids' offsets.
_PARETO_SHAPE = 0.25


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that determines the synthetic dataset (it is hashed into the cache key)."""

    train_rows: int = 300_000
    valid_rows: int = 40_000
    test_rows: int = 40_000
    num_numeric: int = 13
    num_categorical: int = 26
    min_vocab: int = 4
    max_vocab: int = 5_000
    zipf_exponent: float = 1.05
    latent_dim: int = 8
    num_pairs: int = 60
    num_triples: int = 20
    first_order_scale: float = 1.0
    pairwise_scale: float = 1.4
    higher_order_scale: float = 1.0
    positive_rate: float = 0.25
    seed: int = 2021
    row_group_rows: int = 16384
    multi_hot: str = ""
    multi_hot_distribution: str = "uniform"
    multi_hot_pooling: str = "sum"

    def settings(self) -> Dict[str, Any]:
        """The fields, without multi-hot mode's while they are at their defaults."""
        raw = asdict(self)
        if not any(s > 1 for s in self.bag_sizes):
            for f in fields(self):
                if f.name in _MULTI_HOT_FIELDS and raw[f.name] == f.default:
                    del raw[f.name]
        return raw

    def cache_key(self) -> str:
        raw = json.dumps(
            {"generator": GENERATOR_VERSION, **self.settings()}, sort_keys=True
        ).encode()
        return hashlib.sha256(raw).hexdigest()[:12]

    @property
    def bag_sizes(self) -> List[int]:
        """
        Ids per row of each categorical field: ``multi_hot`` is one size per field
        ("3,2,1,...") or one size for all ("3"); empty: one each (one-hot).
        """
        text = self.multi_hot.strip()
        try:
            sizes = [int(v) for v in text.split(",")] if text else [1]
        except ValueError:
            sizes = []
        if len(sizes) == 1:
            sizes = sizes * self.num_categorical
        if len(sizes) != self.num_categorical or min(sizes) < 1:
            raise ConfigError(
                f"multi_hot {self.multi_hot!r}: expected one bag size >= 1, or "
                f"{self.num_categorical} comma-separated ones (one per categorical field)"
            )
        if self.multi_hot_distribution not in MULTI_HOT_DISTRIBUTIONS:
            raise ConfigError(
                f"multi_hot_distribution {self.multi_hot_distribution!r}: expected one "
                f"of {list(MULTI_HOT_DISTRIBUTIONS)}"
            )
        if self.multi_hot_pooling not in POOLINGS:
            raise ConfigError(
                f"multi_hot_pooling {self.multi_hot_pooling!r}: expected one of "
                f"{list(POOLINGS)}"
            )
        return sizes

    @property
    def numeric_names(self) -> List[str]:
        return [f"I{i + 1}" for i in range(self.num_numeric)]

    @property
    def categorical_names(self) -> List[str]:
        return [f"C{i + 1}" for i in range(self.num_categorical)]


class SyntheticTeacher:
    """The hidden labelling model and the feature distributions (fixed by the seed)."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        k = config.latent_dim
        log_lo, log_hi = np.log(config.min_vocab), np.log(config.max_vocab)
        self.vocab_sizes: List[int] = [
            int(round(np.exp(v)))
            for v in rng.uniform(log_lo, log_hi, config.num_categorical)
        ]
        self._cdfs: List[np.ndarray] = []
        self._popularity: List[np.ndarray] = []
        self._first: List[np.ndarray] = []
        self._latent: List[np.ndarray] = []
        for v in self.vocab_sizes:
            p = 1.0 / np.arange(1, v + 1) ** config.zipf_exponent
            self._cdfs.append(np.cumsum(p / p.sum()))
            self._popularity.append(rng.permutation(v))  # rank -> id
            self._first.append(rng.normal(0.0, 1.0, v))
            self._latent.append(rng.normal(0.0, 1.0 / np.sqrt(k), (v, k)))
        # Bags (their own generator: the draws below stay those of the one-hot set).
        self.bags = MultiHotBags(config, self.vocab_sizes)
        for f in self.bags.fields:
            members = self.bags.members(f)  # v x size: every id's bag
            norm = np.sqrt(members.shape[1])
            self._first[f] = self._first[f][members].sum(axis=1) / norm
            self._latent[f] = self._latent[f][members].sum(axis=1) / norm
        n_num = config.num_numeric
        self._count_mu = rng.uniform(0.0, 4.0, n_num)
        self._count_sigma = rng.uniform(0.5, 1.5, n_num)
        self._missing = rng.uniform(0.0, 0.3, n_num)
        # Rough mean of log(1 + count) per field, so numeric effects are centred.
        self._numeric_center = (1.0 - self._missing) * self._count_mu
        self._numeric_first = rng.normal(0.0, 1.0, n_num)
        self._numeric_latent = rng.normal(0.0, 1.0 / np.sqrt(k), (n_num, k))
        fields = n_num + config.num_categorical
        self._pairs = np.array(
            [rng.choice(fields, 2, replace=False) for _ in range(config.num_pairs)]
        ).reshape(-1, 2)
        self._triples = np.array(
            [rng.choice(fields, 3, replace=False) for _ in range(config.num_triples)]
        ).reshape(-1, 3)
        mlp_fields = rng.choice(fields, min(8, fields), replace=False)
        self._mlp_fields = mlp_fields
        self._mlp_w1 = rng.normal(0.0, 1.0, (len(mlp_fields) * k, 32))
        self._mlp_w2 = rng.normal(0.0, 1.0, 32)
        # Component scales and bias are fitted on a calibration sample of its own.
        self._scale = np.ones(3)
        self._bias = 0.0
        calib = self.sample_features(np.random.default_rng([config.seed, 9]), 20_000)
        parts = self._components(*calib)
        self._scale = np.array([p.std() + 1e-12 for p in parts])
        logit = self._logit_without_bias(*calib)
        self._bias = _solve_bias(logit, config.positive_rate)

    def sample_features(
        self, rng: np.random.Generator, n: int
    ) -> Tuple[np.ndarray, np.ndarray]:
        """n rows of (numeric n x N float32 after log(1+x), categorical n x F int32)."""
        cfg = self.config
        counts = np.floor(
            rng.lognormal(self._count_mu, self._count_sigma, (n, cfg.num_numeric))
        )
        missing = rng.random((n, cfg.num_numeric)) < self._missing
        numeric = np.where(missing, 0.0, np.log1p(counts)).astype(np.float32)
        cat = np.empty((n, cfg.num_categorical), dtype=np.int32)
        for f in range(cfg.num_categorical):
            ranks = np.searchsorted(self._cdfs[f], rng.random(n), side="right")
            ranks = np.minimum(ranks, self.vocab_sizes[f] - 1)
            cat[:, f] = self._popularity[f][ranks]
        return numeric, cat

    def _components(
        self, numeric: np.ndarray, cat: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.config
        centered = numeric - self._numeric_center
        first = centered @ self._numeric_first
        for f in range(cfg.num_categorical):
            first = first + self._first[f][cat[:, f]]
        # Latent vector of every field of every row: n x fields x k.
        latent = np.concatenate(
            [centered[:, :, None] * self._numeric_latent[None]]
            + [self._latent[f][cat[:, f]][:, None, :] for f in range(cfg.num_categorical)],
            axis=1,
        )
        pairwise = np.einsum(
            "npk,npk->n", latent[:, self._pairs[:, 0]], latent[:, self._pairs[:, 1]]
        )
        t = self._triples
        higher = np.einsum(
            "ntk,ntk,ntk->n", latent[:, t[:, 0]], latent[:, t[:, 1]], latent[:, t[:, 2]]
        )
        hidden = np.tanh(latent[:, self._mlp_fields].reshape(len(cat), -1) @ self._mlp_w1)
        higher = higher / (higher.std() + 1e-12) + (hidden @ self._mlp_w2) / np.sqrt(32)
        return first, pairwise, higher

    def _logit_without_bias(self, numeric: np.ndarray, cat: np.ndarray) -> np.ndarray:
        cfg = self.config
        first, pairwise, higher = self._components(numeric, cat)
        weights = np.array(
            [cfg.first_order_scale, cfg.pairwise_scale, cfg.higher_order_scale]
        )
        w = weights / self._scale
        return w[0] * first + w[1] * pairwise + w[2] * higher

    def logit(self, numeric: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """The teacher's logit (its Bayes-optimal score) for each row."""
        return self._logit_without_bias(numeric, cat) + self._bias

    def first_order_logit(self, numeric: np.ndarray, cat: np.ndarray) -> np.ndarray:
        """Only the teacher's first-order part (what logistic regression can express)."""
        first, _, _ = self._components(numeric, cat)
        return first * self.config.first_order_scale / self._scale[0]

    def sample(
        self, rng: np.random.Generator, n: int
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n labelled rows: (labels int8, numeric float32, categorical int32)."""
        numeric, cat = self.sample_features(rng, n)
        p = 1.0 / (1.0 + np.exp(-self.logit(numeric, cat)))
        labels = (rng.random(n) < p).astype(np.int8)
        return labels, numeric, cat


class MultiHotBags:
    """
    The extra ids of each id of the multi-hot fields (see the module docstring),
    drawn from a generator of their own (the rows and labels stay those of the
    one-hot set of the same seed).

    Args:
        config (SyntheticConfig): sizes, distribution and seed.
        vocab_sizes (List[int]): rows of each field's table.
    """

    def __init__(self, config: SyntheticConfig, vocab_sizes: List[int]) -> None:
        self.sizes = config.bag_sizes
        rng = np.random.default_rng([config.seed, 5])
        self._extra: Dict[int, np.ndarray] = {}
        for f, (size, vocab) in enumerate(zip(self.sizes, vocab_sizes)):
            if size == 1:
                continue
            shape = (vocab, size - 1)
            if config.multi_hot_distribution == "uniform":
                extra = rng.integers(0, vocab, shape)
            else:
                # Shape 0.25 has no mean: clip the far tail before the cast.
                draws = np.minimum(rng.pareto(_PARETO_SHAPE, shape), 1e18)
                offsets = draws.astype(np.int64) % vocab
                extra = (np.arange(vocab)[:, None] + offsets) % vocab
            self._extra[f] = extra.astype(np.int32)

    @property
    def fields(self) -> List[int]:
        """The multi-hot fields (bag size > 1)."""
        return sorted(self._extra)

    def members(self, f: int) -> np.ndarray:
        """vocab x size: the bag of every id of multi-hot field ``f``, the id first."""
        extra = self._extra[f]
        first = np.arange(len(extra), dtype=np.int32)[:, None]
        return np.concatenate([first, extra], axis=1)

    def bags(self, cat: np.ndarray, f: int) -> Tuple[np.ndarray, np.ndarray]:
        """Field ``f``'s bags of the rows ``cat`` (n x F): n lengths, the ids."""
        ids = np.concatenate([cat[:, f : f + 1], self._extra[f][cat[:, f]]], axis=1)
        return np.full(len(cat), self.sizes[f], dtype=np.int32), ids.reshape(-1)


def _solve_bias(logit: np.ndarray, rate: float) -> float:
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) > rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _chunks(total: int) -> Iterator[int]:
    while total > 0:
        n = min(_CHUNK_ROWS, total)
        yield n
        total -= n


def default_cache_dir() -> str:
    return os.environ.get(
        "TORCHREC_DLF_CACHE",
        os.path.join(os.path.expanduser("~"), ".cache", "torchrec_dlf"),
    )


def generate(config: SyntheticConfig, directory: str) -> DatasetMetadata:
    """Writes the synthetic dataset of ``config`` as a prepared dataset in ``directory``."""
    teacher = SyntheticTeacher(config)
    bags = teacher.bags
    names = config.categorical_names
    multi_hot = {
        names[f]: BagInfo(
            max_length=bags.sizes[f],
            mean_length=float(bags.sizes[f]),
            pooling=config.multi_hot_pooling,
        )
        for f in bags.fields
    }
    writer = PreparedDatasetWriter(
        directory,
        "synthetic",
        config.numeric_names,
        names,
        row_group_rows=config.row_group_rows,
        multi_hot=multi_hot,
    )
    with writer:
        splits = {
            "train": config.train_rows,
            "valid": config.valid_rows,
            "test": config.test_rows,
        }
        for i, (split, rows) in enumerate(splits.items()):
            rng = np.random.default_rng([config.seed, 1, i])
            for n in _chunks(rows):
                labels, numeric, cat = teacher.sample(rng, n)
                rows_bags = {names[f]: bags.bags(cat, f) for f in bags.fields}
                writer.write(split, labels, numeric, cat, rows_bags)
        return writer.commit(
            vocab_sizes=dict(zip(config.categorical_names, teacher.vocab_sizes)),
            source={"generator": "torchrec_dlf.data.synthetic", "version": GENERATOR_VERSION},
            options=config.settings(),
        )


def ensure_synthetic_dataset(
    config: Optional[SyntheticConfig] = None, cache_dir: Optional[str] = None
) -> str:
    """
    Returns the directory of the synthetic dataset for ``config``, generating it first if
    the cache does not hold it. Safe to call from many processes at once: one generates
    (under a file lock), the others wait and reuse it.
    """
    config = config or SyntheticConfig()
    cache_dir = cache_dir or default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    directory = os.path.join(cache_dir, f"synthetic-{config.cache_key()}")
    if find_metadata(directory) is not None:
        return directory
    with open(os.path.join(cache_dir, f".synthetic-{config.cache_key()}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if find_metadata(directory) is None:
                generate(config, directory)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return directory


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache_dir", default=None)
    for name, value in asdict(SyntheticConfig()).items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    cache_dir = args.pop("cache_dir")
    directory = ensure_synthetic_dataset(SyntheticConfig(**args), cache_dir)
    meta = DatasetMetadata.read(directory)
    counts: Dict[str, str] = {
        k: f"{v.rows} rows, {v.positives / max(v.rows, 1):.1%} positive"
        for k, v in meta.splits.items()
    }
    print(f"synthetic dataset: {directory}")
    for k, v in counts.items():
        print(f"  {k}: {v}")


if __name__ == "__main__":
    main()
