"""The prepared-dataset format: Parquet splits plus a ``metadata.json`` that describes them.

Layout of a prepared dataset directory::

    <dir>/metadata.json
    <dir>/<split>/part-00000.parquet ...     (split: train, valid, test)

Each Parquet file has the columns ``label`` (int8, 0/1), the numeric fields (float32,
already transformed) and the categorical fields (int32 ids in [0, vocab_size)). A
multi-hot field (one listed in ``multi_hot``, see `BagInfo`) is a ``list<int32>`` column
instead: a bag of ids per row, possibly empty, and optionally a ``list<float32>`` column
of per-id weights beside it. Readers never infer anything from the files: everything
they need is in the metadata (a metadata without ``multi_hot``, as every dataset
prepared before multi-hot fields existed, is all one-hot).
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from torchrec_dlf.user_errors import UserError

FORMAT_NAME = "torchrec_dlf.prepared"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
LABEL_COLUMN = "label"
SPLITS = ("train", "valid", "test")
POOLINGS = ("sum", "mean")


class DatasetFormatError(UserError, ValueError):
    """A prepared dataset that is missing, incomplete or of an incompatible version."""


@dataclass
class SplitInfo:
    """One split: its Parquet files (relative to the dataset dir) and row counts."""

    files: List[str]
    rows: int
    positives: int


@dataclass
class BagInfo:
    """
    A multi-hot field: a ``list<int32>`` column holding a bag of ids per row.

    Args:
        max_length (int): the longest bag the files may hold (the loader refuses
            longer ones).
        mean_length (float): mean ids per row over the training split: the pooling
            factor to tell the sharding planner.
        pooling (str): how the table pools a bag, "sum" or "mean" (an empty bag
            pools to zeros either way); "sum" in a dataset with per-id weights.
        weights (Optional[str]): the ``list<float32>`` column of per-id weights (one
            per id of the bag, in the same order), if the field is weighted.
    """

    max_length: int
    mean_length: float
    pooling: str = "sum"
    weights: Optional[str] = None


@dataclass
class DatasetMetadata:
    """
    Description of a prepared dataset.

    Args:
        name (str): dataset name (e.g. "criteo_kaggle", "frappe_x1", "synthetic").
        numeric (List[str]): numeric field names, in model input order.
        categorical (List[str]): categorical field names, in model input order.
        vocab_sizes (Dict[str, int]): rows of each categorical field's table.
        splits (Dict[str, SplitInfo]): prepared splits.
        source (Dict[str, Any]): where the data came from (files, checksums, generator).
        options (Dict[str, Any]): preparation options, to make a run reproducible.
        multi_hot (Dict[str, BagInfo]): the multi-hot categorical fields; the others
            hold one id per row.
    """

    name: str
    numeric: List[str]
    categorical: List[str]
    vocab_sizes: Dict[str, int]
    splits: Dict[str, SplitInfo]
    source: Dict[str, Any] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    label: str = LABEL_COLUMN
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    identity: str = ""
    multi_hot: Dict[str, BagInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in self.categorical if c not in self.vocab_sizes]
        if missing:
            raise DatasetFormatError(f"no vocab_size for categorical fields {missing}")
        if not self.categorical:
            raise DatasetFormatError("a dataset needs at least one categorical field")
        self.multi_hot = {
            name: BagInfo(**bag) if isinstance(bag, dict) else bag
            for name, bag in self.multi_hot.items()
        }
        for name, bag in self.multi_hot.items():
            if name not in self.categorical:
                raise DatasetFormatError(
                    f"multi-hot field {name!r} is not a categorical field"
                )
            if bag.max_length < 1 or not 0 <= bag.mean_length <= bag.max_length:
                raise DatasetFormatError(
                    f"multi-hot field {name!r}: max_length {bag.max_length} must be "
                    f">= 1 and mean_length {bag.mean_length} in [0, max_length]"
                )
            if bag.pooling not in POOLINGS:
                raise DatasetFormatError(
                    f"multi-hot field {name!r}: pooling {bag.pooling!r} is not one of "
                    f"{list(POOLINGS)}"
                )
        means = [n for n, b in self.multi_hot.items() if b.pooling == "mean"]
        if means and self.weighted:
            # A weighted KJT feeds weights to every table, and torch's and FBGEMM's
            # embedding bags take per-id weights with sum pooling only.
            raise DatasetFormatError(
                f"multi-hot fields {means} pool by mean in a dataset with per-id "
                f"weights; weighted datasets pool every field by sum"
            )

    def compute_identity(self, directory: Optional[str] = None) -> str:
        """
        The digest of what gives every id its meaning: fields, vocabulary sizes, the
        encoding options (transforms, counted or hashed vocabularies) and the sha256 of
        each saved vocabulary file (recorded at preparation; read from ``directory``
        for datasets prepared before it was). The rows are not part of it: two
        preparations with the same vocabularies are interchangeable for a model, the
        same file prepared with another split seed (other ids) is not.
        """
        digests = dict(self.options.get("file_sha256") or {})
        for rel in (self.options.get("vocabulary_files") or {}).values():
            if rel not in digests and directory is not None:
                digests[rel] = file_sha256(os.path.join(directory, *rel.split("/")))
        encoding = {k: self.options.get(k) for k in _ENCODING_OPTIONS}
        if isinstance(encoding["vocabulary"], dict):
            # Where saved vocabularies were copied from does not change the ids.
            encoding["vocabulary"] = {
                k: v for k, v in encoding["vocabulary"].items() if k != "vocabulary_from"
            }
        if "generator" in self.source:
            # Generated data: the generator's settings (not its row counts) are the ids.
            encoding["generator"] = {
                "source": self.source,
                **{k: v for k, v in self.options.items() if not k.endswith("_rows")},
            }
        payload = {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "vocab_sizes": self.vocab_sizes,
            "label": self.label,
            "encoding": encoding,
            "file_sha256": digests,
        }
        if self.multi_hot:
            # Which fields are bags (and weighted) changes what a row means; the
            # bag statistics and the pooling do not.
            payload["multi_hot"] = {n: b.weights for n, b in self.multi_hot.items()}
        raw = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(raw).hexdigest()

    @property
    def columns(self) -> List[str]:
        weights = [b.weights for b in self.multi_hot.values() if b.weights]
        return [self.label] + self.numeric + self.categorical + weights

    @property
    def weighted(self) -> bool:
        """Whether a field has per-id weights (the batches carry a weighted KJT)."""
        return any(b.weights for b in self.multi_hot.values())

    def pooling(self, name: str) -> str:
        """How the table of categorical field ``name`` pools its bag."""
        bag = self.multi_hot.get(name)
        return "sum" if bag is None else bag.pooling

    def pooling_factor(self, name: str) -> float:
        """Mean ids per row of categorical field ``name`` (1 for a one-hot field)."""
        bag = self.multi_hot.get(name)
        return 1.0 if bag is None else float(bag.mean_length)

    def bag_slots(self) -> List[Tuple[int, int]]:
        """
        Where each categorical field's ids sit in a row of a multi-hot dataset's id
        matrix (see `torchrec_dlf.data.bags`): [start, end) columns, ``max_length``
        wide for a multi-hot field, one for a one-hot field.
        """
        slots, start = [], 0
        for name in self.categorical:
            bag = self.multi_hot.get(name)
            width = 1 if bag is None else bag.max_length
            slots.append((start, start + width))
            start += width
        return slots

    def split(self, name: str) -> SplitInfo:
        if name not in self.splits:
            raise DatasetFormatError(
                f"split {name!r} is not prepared (have: {sorted(self.splits)})"
            )
        return self.splits[name]

    def to_json(self) -> str:
        raw = asdict(self)
        if not self.multi_hot:
            del raw["multi_hot"]  # one-hot datasets keep the metadata they always had
        return json.dumps(raw, indent=2, sort_keys=True)

    def write(self, directory: str) -> str:
        """Writes ``metadata.json`` atomically; returns its path."""
        path = os.path.join(directory, METADATA_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.to_json())
            f.write("\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def from_dict(cls, raw: Dict[str, Any], where: str = "<dict>") -> "DatasetMetadata":
        if raw.get("format") != FORMAT_NAME:
            raise DatasetFormatError(
                f"{where}: not a torchrec_dlf prepared dataset (format={raw.get('format')!r})"
            )
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise DatasetFormatError(
                f"{where}: prepared with format version {version}, this torchrec_dlf reads "
                f"version {FORMAT_VERSION}; prepare the data again"
            )
        try:
            splits = {k: SplitInfo(**v) for k, v in raw["splits"].items()}
            kwargs = {k: v for k, v in raw.items() if k != "splits"}
            return cls(splits=splits, **kwargs)
        except (KeyError, TypeError) as e:
            raise DatasetFormatError(f"{where}: malformed metadata ({e})") from e

    @classmethod
    def read(cls, directory: str) -> "DatasetMetadata":
        """Reads and validates ``<directory>/metadata.json`` and the files it lists."""
        path = os.path.join(directory, METADATA_FILE)
        if not os.path.isfile(path):
            raise DatasetFormatError(
                f"{directory}: no {METADATA_FILE}; is this a prepared dataset directory?"
            )
        with open(path) as f:
            try:
                raw = json.load(f)
            except json.JSONDecodeError as e:
                raise DatasetFormatError(f"{path}: not valid JSON ({e})") from e
        meta = cls.from_dict(raw, where=path)
        for name, info in meta.splits.items():
            for rel in info.files:
                if not os.path.isfile(os.path.join(directory, rel)):
                    raise DatasetFormatError(
                        f"{path}: split {name!r} lists {rel}, which does not exist"
                    )
        computed = meta.compute_identity(directory)
        if meta.identity and meta.identity != computed:
            raise DatasetFormatError(
                f"{path}: edited after preparation (its fields, vocab_sizes or encoding "
                f"no longer match the identity recorded when it was prepared); prepare "
                f"the dataset again"
            )
        meta.identity = computed
        return meta


# Options that change which id a value gets (see `DatasetMetadata.compute_identity`).
_ENCODING_OPTIONS = ("fields", "numeric_transform", "vocabulary", "hash_size", "min_count")


def file_sha256(path: str) -> str:
    """
    The sha256 of a saved table's contents (a Parquet file's rows in Arrow's IPC
    format, which is stable across writer versions: the same vocabulary saved again by
    another pyarrow gives the same digest); of the bytes for other files.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    digest = hashlib.sha256()
    table = None
    if path.endswith(".parquet"):
        try:
            table = pq.read_table(path).replace_schema_metadata(None).combine_chunks()
        except (OSError, pa.ArrowException):
            table = None  # not a Parquet file after all: its bytes are its identity
    if table is not None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as stream:
            stream.write_table(table)
        digest.update(sink.getvalue().to_pybytes())
        return digest.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split_files(directory: str, meta: DatasetMetadata, split: str) -> List[str]:
    """Absolute paths of a split's Parquet files."""
    return [os.path.join(directory, rel) for rel in meta.split(split).files]


def find_metadata(directory: Optional[str]) -> Optional[DatasetMetadata]:
    """The metadata in ``directory`` if it is a complete prepared dataset, else None."""
    if directory is None:
        return None
    try:
        return DatasetMetadata.read(directory)
    except DatasetFormatError:
        return None
