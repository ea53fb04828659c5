"""Options every source shares: how rows are split, and the common preparation knobs."""

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from torchrec_dlf.preprocessing.bad_rows import ON_BAD_ROW
from torchrec_dlf.preprocessing.delimited_reader import DEFAULT_BLOCK_BYTES
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import CHECKSUMS, check_input_file
from torchrec_dlf.preprocessing.numeric_transform import NUMERIC_TRANSFORMS
from torchrec_dlf.preprocessing.preparation_plan import VocabularyOptions
from torchrec_dlf.preprocessing.row_split import (
    TEST,
    TRAIN,
    VALID,
    DaySplit,
    GivenSplit,
    RandomSplit,
    SplitRule,
    order_day_files,
)
from torchrec_dlf.preprocessing.text_files import count_lines

SPLIT_KINDS = ("random", "given", "day")
# Every row of the input files goes to the test split: files to score with the
# vocabularies of another dataset (there is no train split to build them on).
TEST_SPLIT = "test"


@dataclass
class SplitOptions:
    """
    How input files and rows map to splits.

    Args:
        kind (str): "random" (``inputs`` split by ``ratios`` with ``seed``), "given"
            (``train``/``valid``/``test`` files) or "day" (Criteo 1TB ``day_N`` files in
            ``inputs``: all but the last day train, the last day halved into valid/test).
        inputs (Sequence[str]): input files of the random and day splits.
        train (Optional[str]): train file of the given split.
        valid (Optional[str]): valid file of the given split.
        test (Optional[str]): test file of the given split.
        ratios (Tuple[float, float, float]): train/valid/test shares of the random split.
        seed (int): seed of the random split and of ``valid_from_train``.
        valid_from_train (Optional[float]): with a given split and no valid file, this
            seeded random share of the train file's rows is valid.
        train_optional (bool): the vocabularies come from elsewhere (``--vocabulary_from``),
            so no train split is needed: a given split takes any of train/valid/test,
            and the kind "test" puts every row of ``inputs`` in the test split.
    """

    kind: str = "random"
    inputs: Sequence[str] = ()
    train: Optional[str] = None
    valid: Optional[str] = None
    test: Optional[str] = None
    ratios: Tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    valid_from_train: Optional[float] = None
    train_optional: bool = False
    # How the user named each input of the last `resolve` (``--train``, ``input file``),
    # in reading order: messages about an input say which flag gave it.
    roles: List[str] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def resolve(
        self, allowed: Sequence[str] = SPLIT_KINDS
    ) -> Tuple[List[str], SplitRule]:
        """The input files in reading order and the rule that splits their rows."""
        if self.kind == TEST_SPLIT:
            if not self.train_optional:
                raise PreparationError(
                    "split 'test' (every row to the test split) needs --vocabulary_from: "
                    "without a train split there is nothing to build vocabularies on"
                )
        elif self.kind not in allowed:
            raise PreparationError(
                f"split {self.kind!r} is not available here (choose from {list(allowed)})"
            )
        if self.kind == "given":
            return self._resolve_given()
        return self._resolve_inputs()

    def _resolve_given(self) -> Tuple[List[str], SplitRule]:
        """The given split: one file per split, from --train/--valid/--test."""
        given = [self.train, self.valid, self.test]
        if self.inputs:
            raise PreparationError(
                "a given split takes --train/--valid/--test, not input files"
            )
        if self.train_optional:
            if all(p is None for p in given):
                raise PreparationError(
                    "a given split needs at least one of --train, --valid and --test"
                )
            if self.valid_from_train is not None and (
                self.train is None or self.valid is not None
            ):
                raise PreparationError(
                    "--valid_from_train needs --train and no --valid"
                )
        else:
            if self.train is None or self.test is None:
                raise PreparationError("a given split needs --train and --test files")
            if (self.valid is None) == (self.valid_from_train is None):
                raise PreparationError(
                    "a given split needs either --valid or --valid_from_train"
                )
        paths = [p for p in given if p is not None]
        splits = [s for p, s in zip(given, (TRAIN, VALID, TEST)) if p is not None]
        flags = ("--train", "--valid", "--test")
        self.roles = [f for p, f in zip(given, flags) if p is not None]
        _check(paths, self.roles)
        return paths, GivenSplit(splits, self.valid_from_train, self.seed)

    def _resolve_inputs(self) -> Tuple[List[str], SplitRule]:
        """The random, day and test splits: rows of the input files."""
        given = [self.train, self.valid, self.test]
        if any(p is not None for p in given) or self.valid_from_train is not None:
            raise PreparationError(
                f"a {self.kind} split takes input files, not --train/--valid/--test/--valid_from_train"
            )
        if not self.inputs:
            raise PreparationError(f"a {self.kind} split needs input files")
        paths = (
            order_day_files(self.inputs) if self.kind == "day" else list(self.inputs)
        )
        self.roles = ["input file"] * len(paths)
        _check(paths, self.roles)
        if self.kind == "random":
            return paths, RandomSplit(self.ratios, self.seed)
        if self.kind == TEST_SPLIT:
            return paths, GivenSplit([TEST] * len(paths))
        return paths, DaySplit(len(paths), count_lines(paths[-1]))


def _check(paths: Sequence[str], roles: Sequence[str]) -> None:
    """
    Every input a readable file, and no file given twice: not by the same path, nor
    by two paths to one file (``./train.csv``, a symbolic or a hard link). Copies are
    caught later, by their checksums (`preparation.prepare`).
    """
    for p in paths:
        check_input_file(p)
    for i, a in enumerate(paths):
        for j in range(i + 1, len(paths)):
            b = paths[j]
            if os.path.realpath(a) == os.path.realpath(b) or os.path.samefile(a, b):
                raise PreparationError(
                    f"{roles[i]} {a} and {roles[j]} {b} are the same file (an input "
                    f"given twice)"
                )


@dataclass
class CommonOptions:
    """
    Preparation options of every source (None = the source's default).

    Args:
        name (Optional[str]): dataset name in the metadata.
        numeric (Optional[str]): numeric transform ("log", "bucket", "none").
        min_count (Optional[int]): train count a categorical value needs for its own id.
        hash_size (Optional[int]): hash values into this many buckets instead.
        on_bad_row (str): "error" or "skip".
        checksum (str): "sha256" or "none".
        block_bytes (int): bytes per parsed block of delimited files.
    """

    name: Optional[str] = None
    numeric: Optional[str] = None
    min_count: Optional[int] = None
    hash_size: Optional[int] = None
    on_bad_row: str = "error"
    checksum: str = "sha256"
    block_bytes: int = DEFAULT_BLOCK_BYTES

    def __post_init__(self) -> None:
        if self.numeric is not None and self.numeric not in NUMERIC_TRANSFORMS:
            raise PreparationError(
                f"numeric transform must be one of {NUMERIC_TRANSFORMS}, got {self.numeric!r}"
            )
        if self.on_bad_row not in ON_BAD_ROW:
            raise PreparationError(
                f"on_bad_row must be one of {ON_BAD_ROW}, got {self.on_bad_row!r}"
            )
        if self.checksum not in CHECKSUMS:
            raise PreparationError(
                f"checksum must be one of {CHECKSUMS}, got {self.checksum!r}"
            )
        if self.min_count is not None and self.hash_size is not None:
            raise PreparationError("give either min_count or hash_size, not both")
        if self.block_bytes < 1 << 10:
            raise PreparationError(
                f"block size must be at least 1 KiB, got {self.block_bytes}"
            )

    def vocabulary(self, default_min_count: int) -> VocabularyOptions:
        if self.hash_size is not None:
            return VocabularyOptions(hash_size=self.hash_size)
        min_count = default_min_count if self.min_count is None else self.min_count
        return VocabularyOptions(min_count=min_count)

    def transform(self, default: str) -> str:
        return self.numeric or default

    def recorded(self) -> Dict[str, Any]:
        """The options as recorded in the metadata."""
        return {"block_bytes": self.block_bytes}
