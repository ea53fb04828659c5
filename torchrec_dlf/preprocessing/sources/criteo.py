"""Criteo TSV (Kaggle ``train.txt``, 1TB ``day_N``): ``label``, ``I1..I13``, ``C1..C26``.

A Criteo row is ``label``, 13 integer fields ``I1..I13`` and 26 categorical fields
``C1..C26``, tab separated, no header. Integers may be empty or negative; categoricals
are 32-bit hashes written as 8 lowercase hex digits, or empty. `criteo_plan` prepares
such files; `write_criteo_tsv` generates them (for tests and benchmarks).
"""

from dataclasses import dataclass
from typing import List

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from torchrec_dlf.preprocessing.column_parsers import (
    CategoricalParser,
    LabelParser,
    NumericParser,
)
from torchrec_dlf.preprocessing.delimited_reader import DelimitedReader
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan
from torchrec_dlf.preprocessing.record_layout import RecordLayout

NUM_INTEGER = 13
NUM_CATEGORICAL = 26
INTEGER_FIELDS: List[str] = [f"I{i + 1}" for i in range(NUM_INTEGER)]
CATEGORICAL_FIELDS: List[str] = [f"C{i + 1}" for i in range(NUM_CATEGORICAL)]
FIELDS: List[str] = ["label"] + INTEGER_FIELDS + CATEGORICAL_FIELDS

DEFAULT_MIN_COUNT = 10
DEFAULT_NUMERIC = "log"

_CHUNK_ROWS = 100_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def criteo_plan(split: SplitOptions, options: CommonOptions) -> PreparationPlan:
    """
    Criteo rows: tab separated, no header, a 0/1 label, 13 integer fields (empty or
    negative allowed; transformed by ``options.numeric``, default ``log``) and 26
    categorical fields (empty or 8 lowercase hex digits). No quoting: a ``"`` is a plain
    character (and so no hex digit: a bad row). Splits: random, given or day.
    """
    paths, rule = split.resolve(("random", "given", "day"))
    transform = options.transform(DEFAULT_NUMERIC)
    parsers = (
        [LabelParser("label")]
        + [NumericParser(c, transform) for c in INTEGER_FIELDS]
        + [CategoricalParser(c, hex_hash=True) for c in CATEGORICAL_FIELDS]
    )
    return PreparationPlan(
        name=options.name or "criteo",
        source="criteo",
        readers=[
            DelimitedReader(p, FIELDS, "\t", False, options.block_bytes) for p in paths
        ],
        layout=RecordLayout(FIELDS, parsers),
        split=rule,
        vocabulary=options.vocabulary(DEFAULT_MIN_COUNT),
        on_bad_row=options.on_bad_row,
        checksum=options.checksum,
        options={**options.recorded(), "format": "criteo tsv"},
        numeric_transform=transform,
        input_roles=split.roles,
    )


def write_criteo_tsv(
    path: str,
    rows: int,
    seed: int = 0,
    line_ending: str = "\n",
    final_newline: bool = True,
) -> None:
    """
    Writes ``rows`` deterministic rows in the raw Criteo TSV format.

    Integer fields are heavy-tailed counts, each missing with a field-specific
    probability; ``I2`` takes small negative values (-1..-3) now and then, as in the real
    data. Categorical field ``j`` draws Zipf-distributed ranks (exponent 1.05 to 2.5)
    from a vocabulary of 10 to 10 million values, written as 8-digit hex hashes, some
    missing; in a third of the fields up to 60% of the values are fresh random hashes
    (seen about once). So, as in real Criteo rows, some fields take a handful of values
    and others are nearly unique per row. About 25% of the labels are 1.

    Args:
        path (str): output file.
        rows (int): number of rows.
        seed (int): generator seed; the same seed writes the same bytes.
        line_ending (str): "\\n" or "\\r\\n".
        final_newline (bool): end the last row with ``line_ending``.
    """
    fields = _FieldDistributions.draw(seed)
    rng = np.random.default_rng([seed, 1])
    eol = pa.scalar(line_ending.encode(), pa.binary())
    with open(path, "wb") as f:
        done = 0
        while done < rows:
            n = min(_CHUNK_ROWS, rows - done)
            # The draws happen in this order (label, integers, categoricals): the
            # bytes of a seed must never change.
            columns = [(rng.random(n) < 0.25).astype(np.int64).astype("S1")]
            columns += [fields.integers(rng, j, n) for j in range(NUM_INTEGER)]
            columns += [fields.categoricals(rng, j, n) for j in range(NUM_CATEGORICAL)]
            body = _lines(columns, eol)
            done += n
            if done == rows and not final_newline:
                body = body[: -len(line_ending.encode())]
            f.write(body)


@dataclass
class _FieldDistributions:
    """The per-field distributions of generated Criteo rows (see `write_criteo_tsv`)."""

    missing_int: np.ndarray
    count_mu: np.ndarray
    vocab: np.ndarray
    exponents: np.ndarray
    missing_cat: np.ndarray
    salts: np.ndarray
    fresh: np.ndarray

    @classmethod
    def draw(cls, seed: int) -> "_FieldDistributions":
        params = np.random.default_rng([seed, 0])
        missing_int = params.uniform(0.0, 0.45, NUM_INTEGER)
        count_mu = params.uniform(0.0, 5.0, NUM_INTEGER)
        vocab = np.exp(params.uniform(np.log(10), np.log(10_000_000), NUM_CATEGORICAL))
        exponents = params.uniform(1.05, 2.5, NUM_CATEGORICAL)
        missing_cat = np.where(
            params.random(NUM_CATEGORICAL) < 0.3,
            params.uniform(0, 0.5, NUM_CATEGORICAL),
            0.0,
        )
        salts = params.integers(1, 2**32, NUM_CATEGORICAL, dtype=np.uint64) | np.uint64(
            1
        )
        fresh = np.where(
            params.random(NUM_CATEGORICAL) < 1 / 3,
            params.uniform(0, 0.6, NUM_CATEGORICAL),
            0.0,
        )
        return cls(
            missing_int=missing_int,
            count_mu=count_mu,
            vocab=vocab,
            exponents=exponents,
            missing_cat=missing_cat,
            salts=salts,
            fresh=fresh,
        )

    def integers(self, rng: np.random.Generator, j: int, n: int) -> np.ndarray:
        """``n`` values of integer field ``j`` as byte strings (empty: missing)."""
        counts = np.floor(rng.lognormal(self.count_mu[j], 1.5, n))
        if j == 1:
            counts = np.where(rng.random(n) < 0.05, -rng.integers(1, 4, n), counts)
        col = counts.astype(np.int64).astype("S20")
        col[rng.random(n) < self.missing_int[j]] = b""
        return col

    def categoricals(self, rng: np.random.Generator, j: int, n: int) -> np.ndarray:
        """``n`` values of categorical field ``j`` as 8-digit hex (empty: missing)."""
        ranks = np.minimum(rng.zipf(self.exponents[j], n), self.vocab[j]).astype(
            np.uint64
        )
        # A fixed odd multiplier scrambles ranks into hash-like 32-bit values.
        hashed = (ranks * self.salts[j] + np.uint64(j)) & np.uint64(0xFFFFFFFF)
        if self.fresh[j] > 0:
            rare = rng.random(n) < self.fresh[j]
            hashed[rare] = rng.integers(0, 2**32, int(rare.sum()), dtype=np.uint64)
        col = _hex8(hashed).astype("S8")
        if self.missing_cat[j] > 0:
            col[rng.random(n) < self.missing_cat[j]] = b""
        return col


def _hex8(values: np.ndarray) -> np.ndarray:
    """uint32 values as 8-digit lowercase hex byte strings (dtype S8)."""
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    digits = (values.astype(np.uint32)[:, None] >> shifts) & 0xF
    return np.ascontiguousarray(_HEX[digits]).view("S8").reshape(-1)


def _lines(columns: List[np.ndarray], eol: pa.Scalar) -> bytes:
    """The rows of byte-string ``columns``, tab separated, each ended by ``eol``."""
    lines = pc.binary_join_element_wise(
        *[pa.array(c, pa.binary()) for c in columns],
        pa.scalar(b"\t", pa.binary()),
    )
    lines = pc.binary_join_element_wise(lines, pa.scalar(b"", pa.binary()), eol)
    return _concatenated(lines)


def _concatenated(values: pa.Array) -> bytes:
    """The bytes of all values of a binary array, back to back."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    first, last = offsets[values.offset], offsets[values.offset + len(values)]
    return values.buffers()[2].to_pybytes()[first:last]
