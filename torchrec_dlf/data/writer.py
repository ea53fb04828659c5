"""Writes a prepared dataset (Parquet splits + metadata) so that it appears atomically."""

import os
import shutil
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from torchrec_dlf.data.metadata import (
    LABEL_COLUMN,
    METADATA_FILE,
    SPLITS,
    BagInfo,
    DatasetMetadata,
    SplitInfo,
    file_sha256,
)
from torchrec_dlf.safe_output import publish, remove_stale_siblings, temp_sibling

DEFAULT_ROW_GROUP_ROWS = 16384
DEFAULT_FILE_ROWS = 2_000_000


class _SplitWriter:
    def __init__(
        self,
        root: str,
        split: str,
        schema: pa.Schema,
        row_group_rows: int,
        file_rows: int,
        bag_fields: Tuple[str, ...] = (),
    ) -> None:
        self._root = root
        self._bag_fields = bag_fields
        # Ids per multi-hot field over the split's rows (its mean bag length).
        self.bag_ids: Dict[str, int] = {name: 0 for name in bag_fields}
        # The longest bag per multi-hot field over the split's rows.
        self.bag_max: Dict[str, int] = {name: 0 for name in bag_fields}
        self._split = split
        self._schema = schema
        self._row_group_rows = row_group_rows
        self._file_rows = file_rows
        self._writer: Optional[pq.ParquetWriter] = None
        self._rows_in_file = 0
        self._pending: List[pa.Table] = []
        self._pending_rows = 0
        self.files: List[str] = []
        self.rows = 0
        self.positives = 0
        os.makedirs(os.path.join(root, split), exist_ok=True)

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        self.positives += int(pc.sum(table.column(LABEL_COLUMN)).as_py() or 0)
        for name in self._bag_fields:
            lengths = pc.list_value_length(table.column(name))
            self.bag_ids[name] += int(pc.sum(lengths).as_py() or 0)
            longest = int(pc.max(lengths).as_py() or 0)
            self.bag_max[name] = max(self.bag_max[name], longest)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self._row_group_rows:
            self._flush(self._row_group_rows)

    def _flush(self, rows: int) -> None:
        merged = pa.concat_tables(self._pending).combine_chunks()
        head, tail = merged.slice(0, rows), merged.slice(rows)
        self._pending = [tail] if tail.num_rows else []
        self._pending_rows = tail.num_rows
        if self._writer is None or self._rows_in_file >= self._file_rows:
            self._open_next_file()
        assert self._writer is not None
        self._writer.write_table(head, row_group_size=rows)
        self._rows_in_file += rows

    def _open_next_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
        rel = os.path.join(self._split, f"part-{len(self.files):05d}.parquet")
        self._writer = pq.ParquetWriter(os.path.join(self._root, rel), self._schema)
        self._rows_in_file = 0
        self.files.append(rel)

    def close(self) -> SplitInfo:
        if self._pending_rows:
            self._flush(self._pending_rows)
        if self._writer is None:
            # An empty split still gets a (row-less) file, so readers see the schema.
            self._open_next_file()
        assert self._writer is not None
        self._writer.close()
        return SplitInfo(files=self.files, rows=self.rows, positives=self.positives)


class PreparedDatasetWriter:
    """
    Writes the splits of a prepared dataset into a temporary directory beside
    ``directory`` and moves it into place in `commit` only when every split is complete,
    so an interrupted preparation never leaves a half-written dataset behind and
    re-running over an existing output is safe.

    Args:
        directory (str): final dataset directory.
        name (str): dataset name recorded in the metadata.
        numeric (List[str]): numeric field names.
        categorical (List[str]): categorical field names.
        row_group_rows (int): rows per Parquet row group (the loader's shuffle unit).
        file_rows (int): rows per Parquet file.
        multi_hot (Optional[Dict[str, BagInfo]]): the multi-hot fields (``list<int32>``
            columns, and ``list<float32>`` weights where a field has them); their
            ``mean_length`` is measured on the train split at `commit`, and a
            ``max_length`` below the longest bag written is raised to it (so a
            preparation that does not cap its bags may give 1).

    Other files that belong to the dataset (e.g. saved vocabularies) are written to the
    paths `file_path` hands out, inside the temporary directory, so that they appear
    (or not) together with the splits.

    Example::

        with PreparedDatasetWriter("out", "toy", ["I1"], ["C1"]) as w:
            w.write("train", labels, numeric, categorical)
            w.commit(vocab_sizes={"C1": 10})
    """

    def __init__(
        self,
        directory: str,
        name: str,
        numeric: List[str],
        categorical: List[str],
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        file_rows: int = DEFAULT_FILE_ROWS,
        multi_hot: Optional[Dict[str, BagInfo]] = None,
    ) -> None:
        self.directory = os.path.abspath(directory)
        self._multi_hot = dict(multi_hot or {})
        self._name = name
        self._numeric = list(numeric)
        self._categorical = list(categorical)
        self._row_group_rows = row_group_rows
        self._file_rows = file_rows
        parent = os.path.dirname(self.directory)
        os.makedirs(parent, exist_ok=True)
        # A temporary left by a run that was killed before it could remove it.
        remove_stale_siblings(self.directory)
        self._tmp = temp_sibling(self.directory, "tmp")
        os.makedirs(self._tmp)
        self._schema = pa.schema(
            [pa.field(LABEL_COLUMN, pa.int8())]
            + [pa.field(n, pa.float32()) for n in self._numeric]
            + [
                pa.field(
                    c, pa.list_(pa.int32()) if c in self._multi_hot else pa.int32()
                )
                for c in self._categorical
            ]
            + [
                pa.field(b.weights, pa.list_(pa.float32()))
                for b in self._multi_hot.values()
                if b.weights
            ]
        )
        self._splits: Dict[str, _SplitWriter] = {}
        self._files: List[str] = []
        self._committed = False

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def write(
        self,
        split: str,
        labels: np.ndarray,
        numeric: np.ndarray,
        categorical: np.ndarray,
        bags: Optional[Dict[str, Tuple[np.ndarray, np.ndarray]]] = None,
    ) -> None:
        """
        Appends rows to a split.

        Args:
            split (str): split name.
            labels (np.ndarray): n, values 0/1.
            numeric (np.ndarray): n x N float32.
            categorical (np.ndarray): n x F ids, already in [0, vocab_size) (a
                multi-hot field's column is not read).
            bags (Optional[Dict[str, Tuple[np.ndarray, np.ndarray]]]): each
                multi-hot field's bags: n lengths and their ids one bag after the
                other (unweighted fields only; weights go through `write_table`).
        """
        n = labels.shape[0]
        if numeric.shape != (n, len(self._numeric)) or categorical.shape != (
            n,
            len(self._categorical),
        ):
            raise ValueError(
                f"shape mismatch: labels {labels.shape}, numeric {numeric.shape}, "
                f"categorical {categorical.shape} for {len(self._numeric)} numeric and "
                f"{len(self._categorical)} categorical fields"
            )
        arrays = [pa.array(labels.astype(np.int8, copy=False))]
        arrays += [
            pa.array(numeric[:, j].astype(np.float32, copy=False))
            for j in range(numeric.shape[1])
        ]
        bags = bags or {}
        for j, name in enumerate(self._categorical):
            if name not in self._multi_hot:
                arrays.append(pa.array(categorical[:, j].astype(np.int32, copy=False)))
                continue
            if name not in bags or self._multi_hot[name].weights:
                raise ValueError(f"no bags (or weights expected) for field {name}")
            lengths, ids = bags[name]
            offsets = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(lengths, out=offsets[1:])
            arrays.append(
                pa.ListArray.from_arrays(
                    pa.array(offsets), pa.array(ids.astype(np.int32, copy=False))
                )
            )
        self.write_table(split, pa.Table.from_arrays(arrays, schema=self._schema))

    def write_table(self, split: str, table: pa.Table) -> None:
        """Appends a table that already has this dataset's schema."""
        if split not in self._splits:
            self._splits[split] = _SplitWriter(
                self._tmp,
                split,
                self._schema,
                self._row_group_rows,
                self._file_rows,
                tuple(self._multi_hot),
            )
        self._splits[split].write(table)

    def file_path(self, relative: str) -> str:
        """
        Where to write a file of the dataset other than its splits and metadata, e.g.
        ``vocabulary/C1.parquet`` (``/``-separated, relative to the dataset directory, not
        in a split's directory): its path in the temporary directory, whose parent
        directories are created. The caller writes it before `commit`, which moves it into
        place with the splits and fails if it was not written.
        """
        parts = relative.split("/")
        if (
            not relative
            or relative.startswith("/")
            or "\\" in relative
            or any(p in ("", ".", "..") for p in parts)
            or parts[0] in SPLITS
            or parts[0].startswith(METADATA_FILE)
        ):
            raise ValueError(
                f"{relative!r} is not a relative path of a dataset file outside the splits"
            )
        if relative in self._files:
            raise ValueError(f"{relative!r} is already a file of this dataset")
        path = os.path.join(self._tmp, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._files.append(relative)
        return path

    def commit(
        self,
        vocab_sizes: Dict[str, int],
        source: Optional[Dict[str, Any]] = None,
        options: Optional[Dict[str, Any]] = None,
    ) -> DatasetMetadata:
        """Closes all splits, writes the metadata and moves the dataset into place."""
        splits = {name: w.close() for name, w in self._splits.items()}
        missing = [
            f for f in self._files if not os.path.isfile(os.path.join(self._tmp, f))
        ]
        if missing:
            raise ValueError(f"dataset files {missing} were never written")
        options = dict(options or {})
        if self._files:
            options["file_sha256"] = {
                rel: file_sha256(os.path.join(self._tmp, rel)) for rel in self._files
            }
        train = self._splits.get("train")
        multi_hot = {}
        for name, bag in self._multi_hot.items():
            longest = max((w.bag_max[name] for w in self._splits.values()), default=0)
            bag = replace(bag, max_length=max(bag.max_length, longest))
            if train is not None and train.rows:
                bag = replace(bag, mean_length=train.bag_ids[name] / train.rows)
            multi_hot[name] = bag
        meta = DatasetMetadata(
            name=self._name,
            multi_hot=multi_hot,
            numeric=self._numeric,
            categorical=self._categorical,
            vocab_sizes={c: int(vocab_sizes[c]) for c in self._categorical},
            splits=splits,
            source=source or {},
            options=options,
        )
        meta.identity = meta.compute_identity()
        meta.write(self._tmp)
        publish(self._tmp, self.directory)
        self._committed = True
        return meta

    def abort(self) -> None:
        for w in self._splits.values():
            if w._writer is not None:
                w._writer.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "PreparedDatasetWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:
            self.abort()
