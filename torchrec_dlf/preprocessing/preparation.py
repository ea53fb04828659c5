"""The preparation itself: a vocabulary pass over train, then an encoding pass that writes.

Both passes stream the inputs block by block (never a whole file in memory). Pass 1
counts the categorical values of the training rows (skipped with hashed vocabularies,
and with the saved vocabularies of another prepared dataset, `PreparationPlan.vocabularies`);
pass 2 parses every row again, encodes it and writes it to its split through
`PreparedDatasetWriter`, which moves the finished dataset, saved vocabularies included,
into place atomically.
"""

import json
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
)

import numpy as np
import pyarrow as pa

from torchrec_dlf.background_iterator import BackgroundIterator
from torchrec_dlf.data.metadata import (
    FORMAT_NAME,
    METADATA_FILE,
    SPLITS,
    DatasetMetadata,
)
from torchrec_dlf.data.writer import PreparedDatasetWriter
from torchrec_dlf.preprocessing.bad_rows import BadRow, BadRowLog
from torchrec_dlf.preprocessing.column_parsers import LABEL, NumericParser
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import InputDescriptions, check_input_file
from torchrec_dlf.preprocessing.raw_block import RawBlock
from torchrec_dlf.preprocessing.record_layout import ParsedRows, RecordLayout
from torchrec_dlf.preprocessing.row_spill import RowSpill, spill_fits
from torchrec_dlf.preprocessing.row_split import TRAIN, GivenSplit, SplitRule
from torchrec_dlf.preprocessing.vocabulary import (
    CountedVocabulary,
    HashedVocabulary,
    ValueCounter,
    Vocabulary,
    save_vocabularies,
)
from torchrec_dlf.safe_output import check_output, remove_stale_siblings
from torchrec_dlf.version import __version__

# Rows gathered before encoding: a vocabulary lookup (pyarrow's index_in) builds a hash
# table of the vocabulary on every call, so calls must cover many rows; with large
# vocabularies the batch grows up to 2x the largest vocabulary, at most 4x this.
DEFAULT_ENCODE_ROWS = 1 << 18
# Stored numeric values beyond this, untransformed, are worth a warning: they go into
# the dense arch unscaled.
LARGE_UNTRANSFORMED = 1000.0


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


@dataclass
class PreparationResult:
    """
    Args:
        metadata (DatasetMetadata): the written dataset's metadata.
        bad_rows (BadRowLog): the skipped bad rows.
        seconds (float): wall time.
        lines_read (int): data lines of all inputs.
        warnings (List[str]): things the user should know about the prepared data
            (e.g. large untransformed numeric values), one line each.
    """

    metadata: DatasetMetadata
    bad_rows: BadRowLog
    seconds: float
    lines_read: int
    warnings: List[str] = field(default_factory=list)

    def summary(self) -> List[str]:
        meta = self.metadata
        lines = [
            f"prepared {meta.name!r}: {len(meta.numeric)} numeric, {len(meta.categorical)} categorical fields"
        ]
        for name in SPLITS:
            if name in meta.splits:
                s = meta.splits[name]
                share = s.positives / s.rows if s.rows else 0.0
                lines.append(
                    f"  {name}: {s.rows} rows, {s.positives} positive ({share:.2%})"
                )
        rate = self.lines_read / self.seconds if self.seconds > 0 else 0.0
        lines.append(
            f"  {self.lines_read} input lines in {self.seconds:.1f}s ({rate:,.0f} lines/s)"
        )
        return lines + self.bad_rows.summary()


def check_output_directory(
    directory: str,
    inputs: Sequence[str],
    overwrite: bool = False,
    flag: str = "--output",
) -> None:
    """
    Refuses an output that would destroy something (`torchrec_dlf.safe_output`'s
    rule): an existing directory that is not a prepared dataset (and not empty, unless
    ``overwrite``), a file, or a path that is or holds an input file. Raises
    `torchrec_dlf.user_errors.OutputError`.
    """
    check_output(
        directory,
        flag,
        "dir",
        owned=_is_prepared_dataset,
        overwrite=overwrite,
        inputs=inputs,
    )


def _is_prepared_dataset(directory: str) -> bool:
    try:
        with open(os.path.join(directory, METADATA_FILE)) as f:
            return json.load(f).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def prepare(
    plan: PreparationPlan,
    output_dir: str,
    log: Callable[[str], None] = lambda message: None,
    overwrite: bool = False,
) -> PreparationResult:
    """
    Prepares the dataset of ``plan`` into ``output_dir`` (replaced atomically when it
    holds an older prepared dataset, or anything with ``overwrite``; left as it was
    when anything fails). Temporaries of earlier runs that were killed (spill files,
    half-written datasets) are removed first.
    """
    start = time.perf_counter()
    paths = [r.path for r in plan.readers]
    for path in paths:
        check_input_file(path)
    check_output_directory(output_dir, paths + list(plan.aux_files.values()), overwrite)
    remove_stale_siblings(output_dir)
    if plan.vocabularies is not None:
        fields = plan.layout.categorical
        if sorted(plan.vocabularies) != sorted(fields):
            raise PreparationError(
                f"the given vocabularies are of the fields {sorted(plan.vocabularies)}, "
                f"the categorical fields are {sorted(fields)}"
            )
    if plan.vocabulary_from is not None and os.path.realpath(
        output_dir
    ) == os.path.realpath(plan.vocabulary_from):
        raise PreparationError(
            f"{output_dir}: the output is the dataset the vocabularies come from; "
            f"refusing to replace it"
        )
    descriptions = InputDescriptions(
        paths + list(plan.aux_files.values()), plan.checksum
    )
    try:
        _check_distinct_contents(plan, descriptions)
        run = _Run(plan, output_dir, log)
        try:
            vocabularies = run.vocabulary_pass()
            metadata = run.encoding_pass(vocabularies, descriptions)
        finally:
            run.remove_spills()
    finally:
        descriptions.close()
    return PreparationResult(
        metadata,
        run.bad,
        time.perf_counter() - start,
        sum(run.lines_per_file.values()),
        run.warnings(),
    )


def _check_distinct_contents(
    plan: PreparationPlan, descriptions: InputDescriptions
) -> None:
    """
    Refuses two inputs with the same bytes (a copy of train given as test): their
    checksums are compared before any row is read. Only files of equal size can be
    equal, so usually no checksum is waited for; without checksums copies go unseen
    (different paths to one file were refused already, `SplitOptions.resolve`).
    """
    paths = [r.path for r in plan.readers]
    by_size: Dict[int, List[int]] = {}
    for i, path in enumerate(paths):
        by_size.setdefault(os.path.getsize(path), []).append(i)
    for group in by_size.values():
        seen: Dict[str, int] = {}
        for i in group if len(group) > 1 else ():
            digest = descriptions.sha256(paths[i])
            if digest is None:
                return
            if digest in seen:
                j = seen[digest]
                raise PreparationError(
                    f"{plan.role(j)} {paths[j]} and {plan.role(i)} {paths[i]} have the same "
                    f"contents (sha256 {digest[:16]}...): the same data given twice"
                )
            seen[digest] = i


def _assign(
    split: SplitRule, file_index: int, block: RawBlock, parsed: ParsedRows, offset: int
) -> np.ndarray:
    rows = parsed.lines - block.first_data_line
    return split.assign(file_index, rows, rows + offset)


def _count_train_values(
    counter: ValueCounter, values: pa.Array, train: Optional[pa.Array]
) -> None:
    counter.add(values if train is None else values.filter(train))


class _RowBuffer:
    """Parsed rows (of any split) gathered until there are enough to encode at once."""

    def __init__(self) -> None:
        self.parts: List[ParsedRows] = []
        self.splits: List[np.ndarray] = []
        self.rows = 0

    def add(self, rows: ParsedRows, splits: np.ndarray) -> None:
        if rows.num_rows:
            self.parts.append(rows)
            self.splits.append(splits)
            self.rows += rows.num_rows

    def take(self) -> Tuple[List[ParsedRows], np.ndarray]:
        parts, splits = self.parts, self.splits
        self.parts, self.splits, self.rows = [], [], 0
        return parts, (np.concatenate(splits) if splits else np.zeros(0, np.int8))


class _Run:
    """
    One preparation: the vocabulary pass over the files that hold training rows, then
    the encoding pass over all files. Files the first pass parsed completely are spilled
    (see `RowSpill`) so that the second pass reads them back instead of parsing again;
    their bad rows are then counted in the first pass, the others' in the second.
    """

    def __init__(
        self, plan: PreparationPlan, output_dir: str, log: Callable[[str], None]
    ) -> None:
        self.plan = plan
        self.output_dir = os.path.abspath(output_dir)
        self.log = log
        self.bad = BadRowLog(plan.on_bad_row)
        self.lines_per_file: Dict[str, int] = {}
        self.spills: Dict[int, RowSpill] = {}
        self.split_rows = np.zeros(len(SPLITS), dtype=np.int64)
        # Stored (transformed) value range of every numeric field, over all splits.
        self.numeric_ranges: Dict[str, Tuple[float, float]] = {}
        train_files = [
            r.path for i, r in enumerate(plan.readers) if plan.split.has_train(i)
        ]
        parent = os.path.dirname(self.output_dir)
        os.makedirs(parent, exist_ok=True)
        self.spill = (
            plan.vocabulary.hash_size is None
            and plan.vocabularies is None
            and plan.spill is not False
            and (plan.spill is True or spill_fits(parent, train_files))
        )

    def _rows(
        self, file_index: int, offset: int, only_categorical: bool, record: bool
    ) -> Iterator[Tuple[ParsedRows, np.ndarray]]:
        """Parsed rows of one input file and their splits; counts its lines and good rows."""
        reader = self.plan.readers[file_index]
        good = skipped = 0
        first_bad: Optional[BadRow] = None
        blocks = _blocks(reader, self.plan.prefetch)
        line = 1
        while True:
            try:
                block = next(blocks, None)
                if block is None:
                    break
                parsed, bad_rows = self.plan.layout.parse(block, only_categorical)
            except pa.ArrowException as e:
                # The readers turn what they know into messages; this is the backstop
                # that keeps any other pyarrow failure on a user's file to one line.
                raise PreparationError(
                    f"{reader.path}: cannot read it at or after line {line} ({e})"
                ) from e
            if block.num_rows:
                line = int(block.lines[-1]) + 1
            self.bad.add(bad_rows, record)
            if bad_rows:
                skipped += len(bad_rows)
                first_bad = first_bad or bad_rows[0]
            good += parsed.num_rows
            yield parsed, _assign(self.plan.split, file_index, block, parsed, offset)
        self.lines_per_file[reader.path] = reader.data_lines
        if good == 0:
            raise self._no_good_rows(file_index, skipped, first_bad)

    def _no_good_rows(
        self, file_index: int, skipped: int, first_bad: Optional[BadRow]
    ) -> PreparationError:
        reader, plan = self.plan.readers[file_index], self.plan
        where = f"{plan.role(file_index)} {reader.path}"
        if isinstance(plan.split, GivenSplit):
            split = SPLITS[plan.split.file_splits[file_index]]
            where += f" (the {split} split)"
        if skipped and first_bad is not None:
            return PreparationError(
                f"{where}: no good rows: all {skipped} of its {reader.data_lines} lines are "
                f"bad rows, skipped with --on_bad_row skip (first: {first_bad.message()})"
            )
        return PreparationError(
            f"{where}: no good rows in {reader.data_lines} lines (wrong format or separator?)"
        )

    def vocabulary_pass(self) -> Dict[str, Vocabulary]:
        plan = self.plan
        categorical = plan.layout.categorical
        if plan.vocabularies is not None:
            return {c: plan.vocabularies[c] for c in categorical}
        if plan.vocabulary.hash_size is not None:
            return {c: HashedVocabulary(plan.vocabulary.hash_size) for c in categorical}
        counters = {c: ValueCounter() for c in categorical}
        # Counting (pyarrow, without the GIL) runs for two fields at a time.
        pool = ThreadPoolExecutor(2, thread_name_prefix="value-counter")
        try:
            self._count_values(counters, pool)
            min_counts = [plan.vocabulary.min_count] * len(counters)
            return dict(
                zip(
                    counters,
                    pool.map(ValueCounter.vocabulary, counters.values(), min_counts),
                )
            )
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _count_values(
        self, counters: Dict[str, ValueCounter], pool: ThreadPoolExecutor
    ) -> None:
        """Reads the files with training rows; counts their values; spills their rows."""
        plan = self.plan
        offset = 0
        for file_index, reader in enumerate(plan.readers):
            if not plan.split.has_train(file_index):
                continue
            t = time.perf_counter()
            spill = None
            if self.spill:
                spill = RowSpill(self.output_dir, plan.layout)
                self.spills[file_index] = spill
            # Without a spill the encoding pass sees every row again and counts bad rows.
            rows = self._rows(file_index, offset, spill is None, spill is not None)
            for parsed, splits in rows:
                if spill is not None:
                    spill.write(parsed, splits)
                train = splits == TRAIN
                if not train.any():
                    continue
                mask = None if train.all() else pa.array(train)
                columns = [parsed.values[c] for c in counters]
                masks = [mask] * len(columns)
                list(pool.map(_count_train_values, counters.values(), columns, masks))
            if spill is not None:
                spill.finish()
            offset += reader.data_lines
            self.log(
                f"vocabulary pass: {reader.path}: {reader.data_lines} lines in "
                f"{time.perf_counter() - t:.1f}s"
            )

    def encoding_pass(
        self, vocabularies: Dict[str, Vocabulary], descriptions: InputDescriptions
    ) -> DatasetMetadata:
        plan, layout = self.plan, self.plan.layout
        largest = max(
            (v.size for v in vocabularies.values() if isinstance(v, CountedVocabulary)),
            default=0,
        )
        encode_rows = max(plan.encode_rows, min(4 * plan.encode_rows, 2 * largest))
        writer = PreparedDatasetWriter(
            self.output_dir, plan.name, layout.numeric, layout.categorical
        )
        buffer = _RowBuffer()
        with writer, _WriteBehind(writer) as behind:

            def flush() -> None:
                parts, splits = buffer.take()
                if not parts:
                    return
                columns = _encode(parts, layout, vocabularies)
                self.split_rows += np.bincount(splits, minlength=len(SPLITS))
                self._note_ranges(columns[1 : 1 + len(layout.numeric)])
                if (splits[1:] != splits[:-1]).any():
                    # Rows grouped by split with one gather per column; input order kept.
                    order = np.argsort(splits, kind="stable")
                    splits = splits[order]
                    columns = [c[order] for c in columns]
                bounds = np.flatnonzero(np.diff(splits)) + 1
                starts = np.concatenate([[0], bounds])
                ends = np.concatenate([bounds, [len(splits)]])
                for a, b in zip(starts, ends):
                    table = pa.Table.from_arrays(
                        [pa.array(c[a:b]) for c in columns], schema=writer.schema
                    )
                    behind.write(SPLITS[splits[a]], table)

            offset = 0
            for file_index, reader in enumerate(plan.readers):
                t = time.perf_counter()
                spill = self.spills.get(file_index)
                rows = (
                    spill.read()
                    if spill is not None
                    else self._rows(file_index, offset, False, True)
                )
                for parsed, splits in rows:
                    buffer.add(parsed, splits)
                    if buffer.rows >= encode_rows:
                        flush()
                offset += self.lines_per_file[reader.path]
                if spill is not None:
                    spill.remove()
                self.log(
                    f"encoding pass: {reader.path}: {self.lines_per_file[reader.path]} lines in "
                    f"{time.perf_counter() - t:.1f}s"
                )
            flush()
            behind.drain()
            self._check_split_rows()
            for split in plan.split.splits():
                # Makes sure every split has its file (all have rows, checked above).
                writer.write_table(SPLITS[split], writer.schema.empty_table())
            options = self._options(vocabularies)
            files = save_vocabularies(vocabularies, writer.file_path)
            if files:
                options["vocabulary_files"] = files
            return writer.commit(
                vocab_sizes={c: v.size for c, v in vocabularies.items()},
                source=self._source(descriptions),
                options=options,
            )

    def _check_split_rows(self) -> None:
        """Refuses to prepare an asked-for split that got no rows (training on it, or
        evaluating on it, would run and report nothing meaningful)."""
        good = int(self.split_rows.sum())
        for split in self.plan.split.splits():
            if self.split_rows[split]:
                continue
            why = self.plan.split.why_empty(split, good)
            if self.bad.total:
                why += f"; {self.bad.total} bad rows were skipped"
            raise PreparationError(f"the {SPLITS[split]} split has no rows: {why}")

    def _note_ranges(self, numeric: List[np.ndarray]) -> None:
        for name, values in zip(self.plan.layout.numeric, numeric):
            if not len(values):
                continue
            lo, hi = float(values.min()), float(values.max())
            if name in self.numeric_ranges:
                old_lo, old_hi = self.numeric_ranges[name]
                lo, hi = min(lo, old_lo), max(hi, old_hi)
            self.numeric_ranges[name] = (lo, hi)

    def warnings(self) -> List[str]:
        """One line per numeric field stored untransformed with large values."""
        transforms = {
            f.name: p.transform
            for p in self.plan.layout.parsers
            if isinstance(p, NumericParser)
            for f in p.outputs
        }
        lines = []
        for name, (lo, hi) in self.numeric_ranges.items():
            reach = max(abs(lo), abs(hi))
            if transforms.get(name) == "none" and reach > LARGE_UNTRANSFORMED:
                lines.append(
                    f"warning: numeric field {name} reaches {reach:.2g} untransformed; "
                    f"consider --numeric log"
                )
        return lines

    def _source(self, descriptions: InputDescriptions) -> Dict[str, Any]:
        plan = self.plan
        return {
            "kind": plan.source,
            "files": [
                {**descriptions.describe(r.path), "lines": self.lines_per_file[r.path]}
                for r in plan.readers
            ],
            **{
                role: descriptions.describe(path)
                for role, path in plan.aux_files.items()
            },
            "bad_rows": self.bad.counts_by_reason(),
            "bad_row_examples": [r.message() for r in self.bad.examples],
        }

    def _options(self, vocabularies: Dict[str, Vocabulary]) -> Dict[str, Any]:
        plan = self.plan
        recorded: Dict[str, Any] = {}
        if plan.vocabulary_from is not None:
            recorded["vocabulary_from"] = os.path.abspath(plan.vocabulary_from)
        return {
            "source": plan.source,
            **plan.options,
            "split": plan.split.describe(),
            "fields": plan.layout.describe(),
            "numeric_transform": plan.numeric_transform,
            "vocabulary": {
                **plan.vocabulary.describe(),
                "fields": {c: v.describe() for c, v in vocabularies.items()},
                **recorded,
            },
            "on_bad_row": plan.on_bad_row,
            "checksum": plan.checksum,
            "numeric_ranges": {
                name: {"min": lo, "max": hi}
                for name, (lo, hi) in self.numeric_ranges.items()
            },
            "bad_rows": self.bad.counts_by_reason(),
            "prepared_by": f"torchrec_dlf {__version__}",
        }

    def remove_spills(self) -> None:
        for spill in self.spills.values():
            spill.remove()


class _WriteBehind:
    """
    Hands tables to `PreparedDatasetWriter` from one background thread, in order, so
    that Parquet encoding (which releases the GIL) overlaps the encoding of the next
    rows; at most ``depth`` tables wait.
    """

    def __init__(self, writer: PreparedDatasetWriter, depth: int = 2) -> None:
        self._writer = writer
        self._depth = depth
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self._pending: Deque[Future] = deque()

    def write(self, split: str, table: pa.Table) -> None:
        self._pending.append(self._pool.submit(self._writer.write_table, split, table))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> "_WriteBehind":
        return self

    def __exit__(self, *exc: object) -> None:
        # Before the writer commits or aborts, nothing may still be writing.
        self._pool.shutdown(wait=True, cancel_futures=True)


def _encode(
    parts: List[ParsedRows], layout: RecordLayout, vocabularies: Dict[str, Vocabulary]
) -> List[np.ndarray]:
    """The label, numeric and encoded categorical columns of the gathered rows."""

    def gather(name: str) -> Any:
        values = [p.values[name] for p in parts]
        if len(values) == 1:
            return values[0]
        if isinstance(values[0], pa.Array):
            return pa.concat_arrays(values)
        return np.concatenate(values)

    columns = [gather(LABEL).astype(np.int8, copy=False)]
    columns += [gather(n).astype(np.float32, copy=False) for n in layout.numeric]
    columns += [vocabularies[c].encode(gather(c)) for c in layout.categorical]
    return columns


def _blocks(reader: RowReader, prefetch: bool) -> Iterator[RawBlock]:
    if not prefetch:
        return reader.blocks()
    return _prefetched(reader)


def _prefetched(reader: RowReader) -> Iterator[RawBlock]:
    # pyarrow parses without the GIL, so parsing the next block overlaps the work on
    # this one; the thread starts with the first block and stops however the consumer
    # leaves.
    with BackgroundIterator(reader.blocks(), depth=2, name="block-reader") as blocks:
        yield from blocks
