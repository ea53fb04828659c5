"""Which split (train, valid, test) every input row goes to."""

import os
import re
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from torchrec_dlf.data.metadata import SPLITS
from torchrec_dlf.preprocessing.errors import PreparationError

TRAIN, VALID, TEST = 0, 1, 2
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_DAY_FILE = re.compile(r"day_(\d+)(\..*)?")


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (a bijection of uint64 with good avalanche)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def row_uniforms(seed: int, rows: np.ndarray) -> np.ndarray:
    """
    A uniform number in [0, 1) for every row number, fixed by (seed, row) alone:
    ``u = (mix64(mix64(seed) + (row + 1) * G) >> 11) / 2**53`` with splitmix64's
    finaliser ``mix64`` and ``G = 0x9E3779B97F4A7C15`` (all mod 2**64). So a row's split
    depends neither on the block size nor on which other rows are skipped.
    """
    key = mix64(np.array([seed % 2**64], dtype=np.uint64))[0]
    with np.errstate(over="ignore"):
        h = mix64(key + (rows.astype(np.uint64) + np.uint64(1)) * _GOLDEN)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def parse_ratios(text: str) -> Tuple[float, float, float]:
    """
    ``"8,1,1"`` -> normalised (train, valid, test) fractions. Every share must be
    positive: a split with share 0 would be prepared empty, and a model trained or
    evaluated on an empty split reports nothing meaningful.
    """
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError as e:
        raise PreparationError(
            f"ratios must be three numbers like 8,1,1, got {text!r}"
        ) from e
    if len(parts) != 3 or not all(np.isfinite(parts)) or min(parts) <= 0:
        raise PreparationError(
            f"ratios must be three positive numbers like 8,1,1 (train,valid,test; "
            f"every split needs rows), got {text!r}"
        )
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


class SplitRule(ABC):
    """Assigns rows to splits."""

    @abstractmethod
    def assign(
        self, file_index: int, file_rows: np.ndarray, global_rows: np.ndarray
    ) -> np.ndarray:
        """
        Split codes (int8: TRAIN, VALID, TEST) of rows given by their 0-based data-row
        number within their file and across all input files (bad rows are numbered too).
        """

    @abstractmethod
    def has_train(self, file_index: int) -> bool:
        """
        Whether the file may hold training rows (read by the vocabulary pass). A rule
        that uses the global row numbers must say True for every file, since those
        numbers are counted over the files the vocabulary pass reads.
        """

    @abstractmethod
    def describe(self) -> Dict[str, Any]: ...

    def splits(self) -> List[int]:
        """The splits this rule is asked to produce (each must end up with rows)."""
        return [TRAIN, VALID, TEST]

    def why_empty(self, split: int, rows: int) -> str:
        """Why ``split`` got none of ``rows`` good rows (all bad rows aside)."""
        return f"none of the {rows} good rows went there"


class RandomSplit(SplitRule):
    """
    Seeded random split of the rows of all input files, taken together, by ratios:
    row r goes to train if ``u(r) < p_train``, to valid if ``u(r) < p_train + p_valid``,
    else to test, with ``u`` of `row_uniforms`. Streaming: nothing but the row number
    is needed.
    """

    def __init__(self, ratios: Sequence[float], seed: int) -> None:
        self.ratios = tuple(float(r) for r in ratios)
        self.seed = int(seed)
        self._edges = np.cumsum(self.ratios)[:2]

    def assign(
        self, file_index: int, file_rows: np.ndarray, global_rows: np.ndarray
    ) -> np.ndarray:
        u = row_uniforms(self.seed, global_rows)
        return np.searchsorted(self._edges, u, side="right").astype(np.int8)

    def has_train(self, file_index: int) -> bool:
        return True

    def splits(self) -> List[int]:
        # A share of 0 (the API allows it, the command line does not) asks for no split.
        return [s for s, r in enumerate(self.ratios) if r > 0]

    def why_empty(self, split: int, rows: int) -> str:
        return (
            f"the random split gives it {self.ratios[split]:.3g} of the {rows} good rows "
            f"and none fell there; use more rows or a larger share in --ratios"
        )

    def describe(self) -> Dict[str, Any]:
        return {
            "kind": "random",
            "ratios": list(self.ratios),
            "seed": self.seed,
            "hash": "splitmix64",
        }


class GivenSplit(SplitRule):
    """
    One split per file. With ``valid_from_train`` a seeded random fraction of each
    training file's rows (by the row's number in its file, as in `RandomSplit`) goes to
    valid instead.
    """

    def __init__(
        self,
        file_splits: Sequence[int],
        valid_from_train: Optional[float] = None,
        seed: int = 0,
    ) -> None:
        self.file_splits = list(file_splits)
        self.valid_from_train = valid_from_train
        self.seed = int(seed)
        if valid_from_train is not None and not 0.0 < valid_from_train < 1.0:
            raise PreparationError(
                f"valid_from_train must be in (0, 1), got {valid_from_train}"
            )

    def assign(
        self, file_index: int, file_rows: np.ndarray, global_rows: np.ndarray
    ) -> np.ndarray:
        split = self.file_splits[file_index]
        if split == TRAIN and self.valid_from_train is not None:
            u = row_uniforms(self.seed, file_rows)
            return np.where(u < self.valid_from_train, VALID, TRAIN).astype(np.int8)
        return np.full(file_rows.shape[0], split, dtype=np.int8)

    def has_train(self, file_index: int) -> bool:
        return self.file_splits[file_index] == TRAIN

    def why_empty(self, split: int, rows: int) -> str:
        if split == VALID and VALID not in self.file_splits:
            return (
                f"--valid_from_train {self.valid_from_train} of the train file's rows "
                f"gave none; use a larger share or a --valid file"
            )
        return "its file has no good rows"

    def splits(self) -> List[int]:
        out = set(self.file_splits)
        if TRAIN in out and self.valid_from_train is not None:
            out.add(VALID)
        return sorted(out)

    def describe(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "kind": "given",
            "files": [SPLITS[s] for s in self.file_splits],
        }
        if self.valid_from_train is not None:
            out.update(
                valid_from_train=self.valid_from_train,
                seed=self.seed,
                hash="splitmix64",
            )
        return out


class DaySplit(SplitRule):
    """
    Criteo 1TB by day: every file but the last is train; the last day's first half of
    rows (``ceil(n / 2)`` of its ``n`` data lines) is valid, the rest test.

    Args:
        num_files (int): number of day files.
        last_file_rows (int): data lines of the last file (counted in a first pass).
    """

    def __init__(self, num_files: int, last_file_rows: int) -> None:
        if num_files < 2:
            raise PreparationError("--split day needs at least two day files")
        self.num_files = num_files
        self.last_file_rows = last_file_rows
        self._valid_rows = (last_file_rows + 1) // 2

    def assign(
        self, file_index: int, file_rows: np.ndarray, global_rows: np.ndarray
    ) -> np.ndarray:
        if file_index < self.num_files - 1:
            return np.full(file_rows.shape[0], TRAIN, dtype=np.int8)
        return np.where(file_rows < self._valid_rows, VALID, TEST).astype(np.int8)

    def has_train(self, file_index: int) -> bool:
        return file_index < self.num_files - 1

    def why_empty(self, split: int, rows: int) -> str:
        return (
            f"the last day file has {self.last_file_rows} lines; valid takes the first "
            f"{self._valid_rows}, test the rest, and none of them was good"
        )

    def describe(self) -> Dict[str, Any]:
        return {
            "kind": "day",
            "train_days": self.num_files - 1,
            "last_day_lines": self.last_file_rows,
            "last_day_valid_lines": self._valid_rows,
        }


def order_day_files(paths: Sequence[str]) -> List[str]:
    """Day files ``day_N[.ext]`` sorted by N (a shell glob would put day_10 before day_2)."""
    numbered = []
    for p in paths:
        m = _DAY_FILE.fullmatch(os.path.basename(p))
        if not m:
            raise PreparationError(
                f"{p}: --split day needs files named day_N (day_0 ... day_23)"
            )
        numbered.append((int(m.group(1)), p))
    days = [n for n, _ in numbered]
    if len(set(days)) != len(days):
        raise PreparationError(f"--split day got a day twice: {sorted(days)}")
    return [p for _, p in sorted(numbered)]
