"""What a preparation needs: the readers, the layout, the split and the vocabularies.

The source modules (`torchrec_dlf.preprocessing.sources`) build a `PreparationPlan`;
`torchrec_dlf.preprocessing.preparation.prepare` carries it out.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Protocol, Sequence

from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.raw_block import RawBlock
from torchrec_dlf.preprocessing.record_layout import RecordLayout
from torchrec_dlf.preprocessing.row_split import SplitRule
from torchrec_dlf.preprocessing.vocabulary import Vocabulary

# Rows gathered before encoding: a vocabulary lookup (pyarrow's index_in) builds a hash
# table of the vocabulary on every call, so calls must cover many rows; with large
# vocabularies the batch grows up to 2x the largest vocabulary, at most 4x this.
DEFAULT_ENCODE_ROWS = 1 << 18


class RowReader(Protocol):
    """A restartable source of `RawBlock`s for one input file."""

    path: str
    columns: List[str]
    data_lines: int

    def blocks(self) -> Iterator[RawBlock]: ...


@dataclass
class VocabularyOptions:
    """
    Args:
        min_count (int): train count a value needs for an id of its own.
        hash_size (Optional[int]): hash every value into this many buckets instead
            (no counting pass).
    """

    min_count: int = 1
    hash_size: Optional[int] = None

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise PreparationError(f"min_count must be >= 1, got {self.min_count}")
        if self.hash_size is not None and self.hash_size < 1:
            raise PreparationError(f"hash_size must be >= 1, got {self.hash_size}")

    def describe(self) -> Dict[str, Any]:
        if self.hash_size is not None:
            return {
                "hash_size": self.hash_size,
                "hash": "1 + fnv1a_64(utf8 value) mod hash_size",
                "oov_id": 0,
            }
        return {
            "min_count": self.min_count,
            "built_on": "train",
            "order": "count descending, then value ascending",
            "oov_id": 0,
        }


@dataclass
class PreparationPlan:
    """
    Everything a preparation needs; the source modules (criteo, avazu, ...) build it.

    Args:
        name (str): dataset name for the metadata.
        source (str): source kind ("criteo", "avazu", "bars", "libfm", "csv").
        readers (Sequence[RowReader]): one per input file, in reading order.
        layout (RecordLayout): columns and fields.
        split (SplitRule): which split each row goes to.
        vocabulary (VocabularyOptions): counted or hashed vocabularies.
        on_bad_row (str): "error" or "skip".
        checksum (str): "sha256" or "none".
        options (Dict[str, Any]): source options to record in the metadata.
        numeric_transform (Optional[str]): the default numeric transform, recorded.
        aux_files (Dict[str, str]): other files the preparation depends on (a schema,
            a feature-index map), by role; described in the metadata like the inputs.
        encode_rows (int): rows gathered before encoding and writing.
        prefetch (bool): parse the next block in a background thread.
        spill (Optional[bool]): keep the rows parsed by the vocabulary pass on disk for
            the encoding pass (see `RowSpill`); None: when the disk has room.
        vocabularies (Optional[Dict[str, Vocabulary]]): the vocabulary of every
            categorical field, taken as they are (no vocabulary pass, no train split
            needed); see `torchrec_dlf.preprocessing.vocabulary_source`.
        vocabulary_from (Optional[str]): the prepared dataset ``vocabularies`` come from
            (recorded; never replaced by the output).
        input_roles (Sequence[str]): how the user gave each reader's file (``--train``,
            ``input file``), for messages; empty: "input file".
    """

    name: str
    source: str
    readers: Sequence[RowReader]
    layout: RecordLayout
    split: SplitRule
    vocabulary: VocabularyOptions = field(default_factory=VocabularyOptions)
    on_bad_row: str = "error"
    checksum: str = "sha256"
    options: Dict[str, Any] = field(default_factory=dict)
    numeric_transform: Optional[str] = None
    aux_files: Dict[str, str] = field(default_factory=dict)
    encode_rows: int = DEFAULT_ENCODE_ROWS
    prefetch: bool = True
    spill: Optional[bool] = None
    vocabularies: Optional[Dict[str, Vocabulary]] = None
    vocabulary_from: Optional[str] = None
    input_roles: Sequence[str] = ()

    def role(self, file_index: int) -> str:
        roles = list(self.input_roles)
        return roles[file_index] if file_index < len(roles) else "input file"
