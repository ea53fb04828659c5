"""Pass 2 of a preparation: every row parsed (or read back), encoded and written."""

import time
from typing import Any, Callable, Dict, List

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from torchrec_dlf.data.metadata import SPLITS, DatasetMetadata
from torchrec_dlf.data.writer import PreparedDatasetWriter
from torchrec_dlf.preprocessing.bag_parser import truncate_bags
from torchrec_dlf.preprocessing.column_parsers import LABEL
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import InputDescriptions
from torchrec_dlf.preprocessing.input_rows import InputRows
from torchrec_dlf.preprocessing.numeric_ranges import NumericRanges
from torchrec_dlf.preprocessing.prepared_metadata import (
    recorded_options,
    source_description,
)
from torchrec_dlf.preprocessing.record_layout import ParsedRows, RecordLayout
from torchrec_dlf.preprocessing.row_buffer import RowBuffer
from torchrec_dlf.preprocessing.row_spill import RowSpill
from torchrec_dlf.preprocessing.vocabulary import (
    CountedVocabulary,
    Vocabulary,
    save_vocabularies,
)
from torchrec_dlf.preprocessing.write_behind import WriteBehind


class EncodingPass:
    """
    Encodes the rows of all input files with the vocabularies and writes them to their
    splits: files spilled by the vocabulary pass are read back (their bad rows counted
    there), the others parsed again. Commits the dataset, saved vocabularies included.

    Args:
        rows (InputRows): the plan's inputs, their bad-row log and line counts.
        spills (Dict[int, RowSpill]): the spilled files, by file index.
        output_dir (str): the dataset directory (absolute).
        log (Callable[[str], None]): progress lines.
    """

    def __init__(
        self,
        rows: InputRows,
        spills: Dict[int, RowSpill],
        output_dir: str,
        log: Callable[[str], None],
    ) -> None:
        self.rows = rows
        self.plan = rows.plan
        self.spills = spills
        self.output_dir = output_dir
        self.log = log
        self.split_rows = np.zeros(len(SPLITS), dtype=np.int64)
        self.numeric_ranges = NumericRanges()
        # Per multi-hot field: bags cut to max_length and the values they lost.
        self.truncated: Dict[str, List[int]] = {
            name: [0, 0] for name in self.plan.layout.bags
        }

    def run(
        self, vocabularies: Dict[str, Vocabulary], descriptions: InputDescriptions
    ) -> DatasetMetadata:
        """Writes and commits the dataset; returns its metadata."""
        plan, layout = self.plan, self.plan.layout
        largest = max(
            (v.size for v in vocabularies.values() if isinstance(v, CountedVocabulary)),
            default=0,
        )
        encode_rows = max(plan.encode_rows, min(4 * plan.encode_rows, 2 * largest))
        writer = PreparedDatasetWriter(
            self.output_dir,
            plan.name,
            layout.numeric,
            layout.categorical,
            multi_hot={n: p.bag_info() for n, p in layout.bags.items()},
        )
        buffer = RowBuffer()
        with writer, WriteBehind(writer) as behind:
            offset = 0
            for file_index, reader in enumerate(plan.readers):
                t = time.perf_counter()
                spill = self.spills.get(file_index)
                rows = (
                    spill.read()
                    if spill is not None
                    else self.rows.read(file_index, offset, False, True)
                )
                for parsed, splits in rows:
                    buffer.add(parsed, splits)
                    if buffer.rows >= encode_rows:
                        self._flush(buffer, vocabularies, writer, behind)
                lines = self.rows.lines_per_file[reader.path]
                offset += lines
                if spill is not None:
                    spill.remove()
                self.log(
                    f"encoding pass: {reader.path}: {lines} lines in "
                    f"{time.perf_counter() - t:.1f}s"
                )
            self._flush(buffer, vocabularies, writer, behind)
            behind.drain()
            self._check_split_rows()
            return self._commit(writer, vocabularies, descriptions)

    def _flush(
        self,
        buffer: RowBuffer,
        vocabularies: Dict[str, Vocabulary],
        writer: PreparedDatasetWriter,
        behind: WriteBehind,
    ) -> None:
        """Encodes the gathered rows and hands them to the writer, split by split."""
        parts, splits = buffer.take()
        if not parts:
            return
        layout = self.plan.layout
        columns = _encode(parts, layout, vocabularies, self.truncated)
        self.split_rows += np.bincount(splits, minlength=len(SPLITS))
        self.numeric_ranges.note(layout.numeric, columns[1 : 1 + len(layout.numeric)])
        if (splits[1:] != splits[:-1]).any():
            # Rows grouped by split with one gather per column; input order kept.
            order = np.argsort(splits, kind="stable")
            splits = splits[order]
            columns = [_take(c, order) for c in columns]
        bounds = np.flatnonzero(np.diff(splits)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(splits)]])
        for a, b in zip(starts, ends):
            table = pa.Table.from_arrays(
                [_slice(c, a, b) for c in columns], schema=writer.schema
            )
            behind.write(SPLITS[splits[a]], table)

    def _check_split_rows(self) -> None:
        """Refuses to prepare an asked-for split that got no rows (training on it, or
        evaluating on it, would run and report nothing meaningful)."""
        good = int(self.split_rows.sum())
        bad = self.rows.bad
        for split in self.plan.split.splits():
            if self.split_rows[split]:
                continue
            why = self.plan.split.why_empty(split, good)
            if bad.total:
                why += f"; {bad.total} bad rows were skipped"
            raise PreparationError(f"the {SPLITS[split]} split has no rows: {why}")

    def _commit(
        self,
        writer: PreparedDatasetWriter,
        vocabularies: Dict[str, Vocabulary],
        descriptions: InputDescriptions,
    ) -> DatasetMetadata:
        for split in self.plan.split.splits():
            # Makes sure every split has its file (all have rows, checked above).
            writer.write_table(SPLITS[split], writer.schema.empty_table())
        options = recorded_options(self.rows, vocabularies, self.numeric_ranges)
        files = save_vocabularies(vocabularies, writer.file_path)
        if files:
            options["vocabulary_files"] = files
        if self.truncated:
            options["bags"] = {
                name: {
                    **self.plan.layout.bags[name].spec.describe(),
                    "truncated_bags": bags,
                    "dropped_values": values,
                }
                for name, (bags, values) in self.truncated.items()
            }
        return writer.commit(
            vocab_sizes={c: v.size for c, v in vocabularies.items()},
            source=source_description(self.rows, descriptions),
            options=options,
        )


def _encode(
    parts: List[ParsedRows],
    layout: RecordLayout,
    vocabularies: Dict[str, Vocabulary],
    truncated: Dict[str, List[int]],
) -> List[Any]:
    """
    The label, numeric, encoded categorical and weights columns of the gathered rows
    (ndarrays; Arrow list arrays for multi-hot fields and weights). Bags longer than
    their field's ``max_length`` are cut, counted in ``truncated``.
    """

    def gather(name: str) -> Any:
        values = [p.values[name] for p in parts]
        if len(values) == 1:
            return values[0]
        if isinstance(values[0], pa.Array):
            return pa.concat_arrays(values)
        return np.concatenate(values)

    columns: List[Any] = [gather(LABEL).astype(np.int8, copy=False)]
    columns += [gather(n).astype(np.float32, copy=False) for n in layout.numeric]
    weights: Dict[str, Any] = {}
    for c in layout.categorical:
        parser = layout.bags.get(c)
        if parser is None:
            columns.append(vocabularies[c].encode(gather(c)))
            continue
        bags = gather(c)
        bag_weights = gather(parser.weights) if parser.weights else None
        limit = parser.spec.max_length
        if limit is not None:
            bags, bag_weights, cut, dropped = truncate_bags(bags, limit, bag_weights)
            truncated[c][0] += cut
            truncated[c][1] += dropped
        ids = vocabularies[c].encode(pc.list_flatten(bags))
        offsets = pc.subtract(bags.offsets, bags.offsets[0])
        columns.append(pa.ListArray.from_arrays(offsets, pa.array(ids)))
        if parser.weights:
            weights[parser.weights] = bag_weights
    columns += [weights[w] for w in layout.weights]
    return columns


def _take(column: Any, order: np.ndarray) -> Any:
    if isinstance(column, pa.Array):
        return column.take(pa.array(order))
    return column[order]


def _slice(column: Any, start: int, end: int) -> pa.Array:
    if isinstance(column, pa.Array):
        return column.slice(start, end - start)
    return pa.array(column[start:end])
