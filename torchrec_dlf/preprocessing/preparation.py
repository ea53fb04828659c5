"""The preparation itself: a vocabulary pass over train, then an encoding pass that writes.

Both passes stream the inputs block by block (never a whole file in memory). Pass 1
(`vocabulary_pass`) counts the categorical values of the training rows (skipped with
hashed vocabularies, and with the saved vocabularies of another prepared dataset,
`PreparationPlan.vocabularies`); pass 2 (`EncodingPass`) parses every row again,
encodes it and writes it to its split through `PreparedDatasetWriter`, which moves the
finished dataset, saved vocabularies included, into place atomically. Files the first
pass parsed completely are spilled (see `RowSpill`) so that the second pass reads them
back instead of parsing again; their bad rows are then counted in the first pass, the
others' in the second.
"""

import os
import time
from typing import Callable, Dict, List

from torchrec_dlf.preprocessing.encoding_pass import EncodingPass
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import InputDescriptions, check_input_file
from torchrec_dlf.preprocessing.input_rows import InputRows
from torchrec_dlf.preprocessing.output_directory import check_output_directory
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.row_spill import RowSpill, spill_fits
from torchrec_dlf.preprocessing.vocabulary_pass import vocabulary_pass
from torchrec_dlf.safe_output import remove_stale_siblings


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
    _check_given_vocabularies(plan, output_dir)
    descriptions = InputDescriptions(
        paths + list(plan.aux_files.values()), plan.checksum
    )
    try:
        _check_distinct_contents(plan, descriptions)
        output_dir = os.path.abspath(output_dir)
        rows = InputRows(plan)
        spills: Dict[int, RowSpill] = {}
        spill_dir = output_dir if _spills(plan, output_dir) else None
        try:
            vocabularies = vocabulary_pass(rows, spills, spill_dir, log)
            encoding = EncodingPass(rows, spills, output_dir, log)
            metadata = encoding.run(vocabularies, descriptions)
        finally:
            for spill in spills.values():
                spill.remove()
    finally:
        descriptions.close()
    return PreparationResult(
        metadata,
        rows.bad,
        time.perf_counter() - start,
        sum(rows.lines_per_file.values()),
        encoding.numeric_ranges.warnings(plan.layout),
    )


def _check_given_vocabularies(plan: PreparationPlan, output_dir: str) -> None:
    """Refuses given vocabularies of other fields, and replacing their dataset."""
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


def _spills(plan: PreparationPlan, output_dir: str) -> bool:
    """
    Whether the vocabulary pass spills its rows (beside ``output_dir``, whose parent is
    made here): only when it counts, unless asked, when the disk has room.
    """
    train_files = [
        r.path for i, r in enumerate(plan.readers) if plan.split.has_train(i)
    ]
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    return (
        plan.vocabulary.hash_size is None
        and plan.vocabularies is None
        and plan.spill is not False
        and (plan.spill is True or spill_fits(parent, train_files))
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
