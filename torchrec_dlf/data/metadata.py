"""The prepared-dataset format: Parquet splits plus a ``metadata.json`` that describes them.

Layout of a prepared dataset directory::

    <dir>/metadata.json
    <dir>/<split>/part-00000.parquet ...     (split: train, valid, test)

Each Parquet file has the columns ``label`` (int8, 0/1), the numeric fields (float32,
already transformed) and the categorical fields (int32 ids in [0, vocab_size)). Readers
never infer anything from the files: everything they need is in the metadata.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

FORMAT_NAME = "torchrec_dlf.prepared"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
LABEL_COLUMN = "label"
SPLITS = ("train", "valid", "test")


class DatasetFormatError(ValueError):
    """A prepared dataset that is missing, incomplete or of an incompatible version."""


@dataclass
class SplitInfo:
    """One split: its Parquet files (relative to the dataset dir) and row counts."""

    files: List[str]
    rows: int
    positives: int


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

    def __post_init__(self) -> None:
        missing = [c for c in self.categorical if c not in self.vocab_sizes]
        if missing:
            raise DatasetFormatError(f"no vocab_size for categorical fields {missing}")
        if not self.categorical:
            raise DatasetFormatError("a dataset needs at least one categorical field")

    @property
    def columns(self) -> List[str]:
        return [self.label] + self.numeric + self.categorical

    def split(self, name: str) -> SplitInfo:
        if name not in self.splits:
            raise DatasetFormatError(
                f"split {name!r} is not prepared (have: {sorted(self.splits)})"
            )
        return self.splits[name]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

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
        return meta


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
