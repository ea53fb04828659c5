"""Pass 1 of a preparation: the vocabularies, counted over the training rows."""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Optional

import pyarrow as pa
import pyarrow.compute as pc

from torchrec_dlf.preprocessing.input_rows import InputRows
from torchrec_dlf.preprocessing.row_spill import RowSpill
from torchrec_dlf.preprocessing.row_split import TRAIN
from torchrec_dlf.preprocessing.vocabulary import (
    HashedVocabulary,
    ValueCounter,
    Vocabulary,
)


def vocabulary_pass(
    rows: InputRows,
    spills: Dict[int, RowSpill],
    spill_dir: Optional[str],
    log: Callable[[str], None],
) -> Dict[str, Vocabulary]:
    """
    The vocabulary of every categorical field: the plan's given vocabularies, hashing,
    or the values counted over the files with training rows. With ``spill_dir`` the
    rows of those files are spilled there (into ``spills``, by file index) for the
    encoding pass.
    """
    plan = rows.plan
    categorical = plan.layout.categorical
    if plan.vocabularies is not None:
        return {c: plan.vocabularies[c] for c in categorical}
    if plan.vocabulary.hash_size is not None:
        return {c: HashedVocabulary(plan.vocabulary.hash_size) for c in categorical}
    counters = {c: ValueCounter() for c in categorical}
    # Counting (pyarrow, without the GIL) runs for two fields at a time.
    pool = ThreadPoolExecutor(2, thread_name_prefix="value-counter")
    try:
        offset = 0
        for file_index, reader in enumerate(plan.readers):
            if not plan.split.has_train(file_index):
                continue
            spill = None
            if spill_dir is not None:
                spill = RowSpill(spill_dir, plan.layout)
                spills[file_index] = spill
            _count_file(rows, file_index, offset, counters, pool, spill, log)
            offset += reader.data_lines
        min_counts = [plan.vocabulary.min_count] * len(counters)
        return dict(
            zip(
                counters,
                pool.map(ValueCounter.vocabulary, counters.values(), min_counts),
            )
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _count_file(
    rows: InputRows,
    file_index: int,
    offset: int,
    counters: Dict[str, ValueCounter],
    pool: ThreadPoolExecutor,
    spill: Optional[RowSpill],
    log: Callable[[str], None],
) -> None:
    """
    Reads one file with training rows (its first row is row ``offset`` of the split
    rule); counts the values of those rows; spills all its rows into ``spill``.
    """
    reader = rows.plan.readers[file_index]
    t = time.perf_counter()
    # Without a spill the encoding pass sees every row again and counts bad rows.
    parsed_rows = rows.read(file_index, offset, spill is None, spill is not None)
    for parsed, splits in parsed_rows:
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
    log(
        f"vocabulary pass: {reader.path}: {reader.data_lines} lines in "
        f"{time.perf_counter() - t:.1f}s"
    )


def _count_train_values(
    counter: ValueCounter, values: pa.Array, train: Optional[pa.Array]
) -> None:
    values = values if train is None else values.filter(train)
    if pa.types.is_list(values.type):
        # A multi-hot field: every value of every bag is counted.
        values = pc.list_flatten(values)
    counter.add(values)
