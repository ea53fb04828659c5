"""Pass 2 of a preparation: every row parsed (or read back), encoded and written."""

import time
from typing import Any, Callable, Dict, List

import numpy as np
import pyarrow as pa

from torchrec_dlf.data.metadata import SPLITS, DatasetMetadata
from torchrec_dlf.data.writer import PreparedDatasetWriter
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
            self.output_dir, plan.name, layout.numeric, layout.categorical
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
        columns = _encode(parts, layout, vocabularies)
        self.split_rows += np.bincount(splits, minlength=len(SPLITS))
        self.numeric_ranges.note(layout.numeric, columns[1 : 1 + len(layout.numeric)])
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
        return writer.commit(
            vocab_sizes={c: v.size for c, v in vocabularies.items()},
            source=source_description(self.rows, descriptions),
            options=options,
        )


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
