"""Parsed rows kept on disk between the vocabulary pass and the encoding pass."""

import os
import shutil
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from torchrec_dlf.preprocessing.column_parsers import LABEL
from torchrec_dlf.preprocessing.record_layout import ParsedRows, RecordLayout
from torchrec_dlf.safe_output import temp_sibling

_LINE, _SPLIT = "__line__", "__split__"
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
# Bytes of spill per byte of input (Criteo TSV: ~1.3, an 8-digit hash takes 12 bytes
# instead of 9), with room to spare; compressed inputs expand several times.
_SPILL_PER_INPUT_BYTE = 1.6
_SPILL_PER_COMPRESSED_BYTE = 8.0


def spill_fits(directory: str, inputs: Sequence[str]) -> bool:
    """Whether spilling ``inputs`` beside ``directory`` leaves room for the output too."""
    estimate = sum(
        os.path.getsize(p)
        * (
            _SPILL_PER_COMPRESSED_BYTE
            if p.endswith(_COMPRESSED)
            else _SPILL_PER_INPUT_BYTE
        )
        for p in inputs
    )
    free = shutil.disk_usage(directory).free
    return free > 2 * estimate + (1 << 30)


class RowSpill:
    """
    The parsed rows of one input file (label, numeric values, categorical values, line
    and split of every row) as an Arrow IPC stream. The vocabulary pass has to parse and
    check every row of the files that hold training rows anyway; writing what it parsed
    lets the encoding pass skip parsing them a second time, the costliest part of a
    preparation. The file is hidden beside the output, named by `temp_sibling` after
    this host and process (``.<output>.spill-<host>-<pid>-<hex>.arrow``), and removed at
    the end; one left by a killed run is removed by the next run
    (`torchrec_dlf.safe_output.remove_stale_siblings`).

    Args:
        output_dir (str): the output; the spill file goes beside it.
        layout (RecordLayout): fields of the rows.
    """

    def __init__(self, output_dir: str, layout: RecordLayout) -> None:
        self.path = temp_sibling(output_dir, "spill", suffix=".arrow")
        self._layout = layout
        self._schema = pa.schema(
            [
                pa.field(_LINE, pa.int64()),
                pa.field(_SPLIT, pa.int8()),
                pa.field(LABEL, pa.int8()),
            ]
            + [pa.field(n, pa.float32()) for n in layout.numeric]
            + [
                pa.field(c, pa.list_(pa.string()) if c in layout.bags else pa.string())
                for c in layout.categorical
            ]
            + [pa.field(w, pa.list_(pa.float32())) for w in layout.weights]
        )
        self._sink: Optional[pa.NativeFile] = pa.OSFile(self.path, "wb")
        self._writer: Optional[pa.ipc.RecordBatchStreamWriter] = pa.ipc.new_stream(
            self._sink, self._schema
        )

    def write(self, rows: ParsedRows, splits: np.ndarray) -> None:
        if not rows.num_rows:
            return
        assert self._writer is not None
        arrays: List[pa.Array] = [
            pa.array(rows.lines),
            pa.array(splits),
            pa.array(rows.values[LABEL]),
        ]
        arrays += [pa.array(rows.values[n]) for n in self._layout.numeric]
        arrays += [
            rows.values[c].cast(self._schema.field(c).type)
            for c in self._layout.categorical
        ]
        arrays += [rows.values[w] for w in self._layout.weights]
        self._writer.write_batch(
            pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        )

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def read(self) -> Iterator[Tuple[ParsedRows, np.ndarray]]:
        """The rows again, batch by batch, with their splits."""
        self.finish()
        with pa.OSFile(self.path, "rb") as source:
            for batch in pa.ipc.open_stream(source):
                values = {LABEL: batch.column(LABEL).to_numpy()}
                values.update(
                    {n: batch.column(n).to_numpy() for n in self._layout.numeric}
                )
                values.update({c: batch.column(c) for c in self._layout.categorical})
                values.update({w: batch.column(w) for w in self._layout.weights})
                lines = batch.column(_LINE).to_numpy()
                yield ParsedRows(lines, values), batch.column(_SPLIT).to_numpy()

    def remove(self) -> None:
        self.finish()
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
