"""Encoding raw files with the vocabularies of a prepared dataset (``--vocabulary_from``).

A model trained on a prepared dataset can only score data encoded exactly like its
training data: the same fields in the same order, the same numeric transforms, the same
ids for the same categorical values and the same vocabulary sizes. `VocabularySource`
reads all of that from a prepared dataset (its ``metadata.json`` and its saved
vocabularies, ``vocabulary/<field>.parquet``) and turns a preparation of other raw files
into one that encodes them that way: no vocabulary pass, values missing from the saved
vocabularies get id 0 (as valid and test rows do in the original preparation), and the
output's ``numeric``, ``categorical`` and ``vocab_sizes`` equal the source's.

Every option that changes the encoding comes from the source's metadata; the same option
given again with another value is a `PreparationError`, as is a source that is not a
prepared dataset, has no saved vocabularies, was prepared from another kind of data, or
whose fields differ from those of the raw files. All of this is checked before any row
is read. The options of one kind of source are taken over by its module in
`torchrec_dlf.preprocessing.sources` (``bars_arguments``, ``libfm_arguments``,
``csv_schema``).

Example::

    source = VocabularySource.load("data/criteo_kaggle", "criteo")
    split = SplitOptions(kind="test", inputs=["new.txt"], train_optional=True)
    plan = source.apply(criteo_plan(split, source.common_options(CommonOptions())))
    prepare(plan, "data/new")
"""

import dataclasses
import json
import os
from typing import Any, Dict, Optional, Sequence

from torchrec_dlf.data.metadata import (
    METADATA_FILE,
    DatasetFormatError,
    DatasetMetadata,
)
from torchrec_dlf.preprocessing.column_parsers import LABEL
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions
from torchrec_dlf.preprocessing.preparation_plan import (
    PreparationPlan,
    VocabularyOptions,
)
from torchrec_dlf.preprocessing.vocabulary import (
    HashedVocabulary,
    Vocabulary,
    load_vocabulary,
)


def shown_names(values: Sequence[str]) -> str:
    """Column or field names as a flag takes them (``a,b``), for messages."""
    return ",".join(values) if values else "(none)"


class VocabularySource:
    """
    A prepared dataset whose vocabularies and transforms encode other raw files.

    Args:
        directory (str): the prepared dataset directory.
        metadata (DatasetMetadata): its metadata.
    """

    def __init__(self, directory: str, metadata: DatasetMetadata) -> None:
        self.directory = directory
        self.metadata = metadata
        self.options: Dict[str, Any] = metadata.options
        vocabulary = self.options.get("vocabulary") or {}
        self.hash_size: Optional[int] = vocabulary.get("hash_size")
        self.min_count: Optional[int] = vocabulary.get("min_count")
        self.files: Dict[str, str] = self.options.get("vocabulary_files") or {}
        self.kind: Optional[str] = self.options.get("source")

    @property
    def what(self) -> str:
        return f"--vocabulary_from {self.directory}"

    @classmethod
    def load(cls, directory: str, kind: str) -> "VocabularySource":
        """
        The prepared dataset in ``directory``, checked to be usable for raw files of
        ``kind`` ("criteo", "avazu", "bars", "libfm", "csv"): its metadata, its saved
        vocabulary files (or hashing) and the kind of data it was prepared from. Its
        splits need not be there.
        """
        what = f"--vocabulary_from {directory}"
        if not os.path.isdir(directory):
            raise PreparationError(f"{what}: no such directory")
        path = os.path.join(directory, METADATA_FILE)
        if not os.path.isfile(path):
            raise PreparationError(
                f"{what}: not a prepared dataset (no {METADATA_FILE})"
            )
        try:
            with open(path) as f:
                raw = json.load(f)
        except (OSError, ValueError) as e:
            raise PreparationError(
                f"{what}: not a prepared dataset ({METADATA_FILE} does not read: {e})"
            ) from e
        if not isinstance(raw, dict):
            raise PreparationError(
                f"{what}: not a prepared dataset ({METADATA_FILE} is no object)"
            )
        try:
            metadata = DatasetMetadata.from_dict(raw, where=path)
        except DatasetFormatError as e:
            raise PreparationError(f"{what}: not a usable prepared dataset: {e}") from e
        source = cls(directory, metadata)
        if source.hash_size is None and not source.files:
            raise PreparationError(
                f"{what}: has no saved vocabularies (its metadata lists no vocabulary_files: "
                f"prepared before they were saved, or not by datasets/prepare.py); prepare "
                f"its training data again"
            )
        if source.kind != kind:
            raise PreparationError(
                f"{what}: prepared from {source.kind} data, not {kind} data "
                f"(encode {source.kind} files with `datasets/prepare.py {source.kind}`)"
            )
        if source.hash_size is None:
            missing = [c for c in metadata.categorical if c not in source.files]
            if missing:
                raise PreparationError(
                    f"{what}: no vocabulary file for the fields {missing}"
                )
            for field in metadata.categorical:
                rel = source.files[field]
                if not os.path.isfile(os.path.join(directory, *rel.split("/"))):
                    raise PreparationError(
                        f"{what}: the vocabulary file {rel} of field {field} is missing"
                    )
        return source

    def conflict(self, option: str, given: Any, recorded: str) -> PreparationError:
        """The error for ``option`` given as ``given``, recorded in the source as ``recorded``."""
        return PreparationError(
            f"{option} {given} conflicts with {self.what}, prepared with {recorded}; "
            f"leave {option} out (the dataset's is used)"
        )

    # Options of every source.

    def vocabulary_options(self) -> VocabularyOptions:
        if self.hash_size is not None:
            return VocabularyOptions(hash_size=self.hash_size)
        return VocabularyOptions(min_count=self.min_count or 1)

    def _recorded_vocabulary(self) -> str:
        if self.hash_size is not None:
            return f"--hash_size {self.hash_size}"
        return f"--min_count {self.min_count}"

    def common_options(self, given: CommonOptions) -> CommonOptions:
        """
        ``given`` with the source's vocabulary options and numeric transform; an
        ``min_count``, ``hash_size`` or ``numeric`` given with another value is an error.
        """
        if given.hash_size is not None and given.hash_size != self.hash_size:
            raise self.conflict(
                "--hash_size", given.hash_size, self._recorded_vocabulary()
            )
        if given.min_count is not None and (
            self.hash_size is not None or given.min_count != self.min_count
        ):
            raise self.conflict(
                "--min_count", given.min_count, self._recorded_vocabulary()
            )
        numeric = self.options.get("numeric_transform")
        if (
            given.numeric is not None
            and numeric is not None
            and given.numeric != numeric
        ):
            raise self.conflict("--numeric", given.numeric, f"--numeric {numeric}")
        return dataclasses.replace(
            given,
            numeric=numeric,
            min_count=self.min_count if self.hash_size is None else None,
            hash_size=self.hash_size,
        )

    # Options of one source (the rest is in `torchrec_dlf.preprocessing.sources`).

    def label_column(self) -> str:
        """The raw column the source's label came from."""
        for column, description in (self.options.get("fields") or {}).items():
            if isinstance(description, dict) and description.get("kind") == LABEL:
                return column
        raise PreparationError(f"{self.what}: its metadata names no label column")

    # The plan.

    def vocabularies(self) -> Dict[str, Vocabulary]:
        """The saved vocabulary of every categorical field (read and checked)."""
        meta = self.metadata
        out: Dict[str, Vocabulary] = {}
        described = (self.options.get("vocabulary") or {}).get("fields") or {}
        for field in meta.categorical:
            if self.hash_size is not None:
                vocabulary: Vocabulary = HashedVocabulary(self.hash_size)
            else:
                distinct = (described.get(field) or {}).get("distinct_in_train", 0)
                vocabulary = load_vocabulary(
                    self.directory, self.files[field], distinct, self.min_count or 1
                )
            if vocabulary.size != meta.vocab_sizes[field]:
                raise PreparationError(
                    f"{self.what}: the vocabulary of field {field} has {vocabulary.size} ids, "
                    f"its metadata says vocab size {meta.vocab_sizes[field]}"
                )
            out[field] = vocabulary
        return out

    def apply(self, plan: PreparationPlan) -> PreparationPlan:
        """
        Makes ``plan`` (built with this source's options) encode like the source: checks
        that the raw files give the source's fields, made the same way, puts them in the
        source's order and hands over the saved vocabularies. Returns ``plan``.
        """
        if plan.source != self.kind:
            raise PreparationError(
                f"{self.what}: prepared from {self.kind} data, not {plan.source} data"
            )
        meta, layout = self.metadata, plan.layout
        where = plan.readers[0].path if plan.readers else "the input"
        mine = [(n, "numeric") for n in layout.numeric]
        mine += [(n, "categorical") for n in layout.categorical]
        theirs = [(n, "numeric") for n in meta.numeric]
        theirs += [(n, "categorical") for n in meta.categorical]
        missing = [f"{n} ({k})" for n, k in theirs if (n, k) not in mine]
        unexpected = [f"{n} ({k})" for n, k in mine if (n, k) not in theirs]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unexpected:
                parts.append(f"unexpected {unexpected}")
            raise PreparationError(
                f"{where}: its fields do not match those of {self.what}: {', '.join(parts)}"
            )
        recorded = self.options.get("fields") or {}
        described = json.loads(json.dumps(layout.describe()))
        for column in sorted(set(recorded) | set(described)):
            if recorded.get(column) != described.get(column):
                raise PreparationError(
                    f"{where}: column {column} would be read as {described.get(column)}, "
                    f"{self.what} read it as {recorded.get(column)}"
                )
        layout.numeric = list(meta.numeric)
        layout.categorical = list(meta.categorical)
        plan.vocabulary = self.vocabulary_options()
        plan.vocabularies = self.vocabularies()
        plan.vocabulary_from = self.directory
        return plan
