"""What the metadata of a prepared dataset records about its making."""

import os
from typing import Any, Dict

from torchrec_dlf.preprocessing.input_files import InputDescriptions
from torchrec_dlf.preprocessing.input_rows import InputRows
from torchrec_dlf.preprocessing.numeric_ranges import NumericRanges
from torchrec_dlf.preprocessing.vocabulary import Vocabulary
from torchrec_dlf.version import __version__


def source_description(
    rows: InputRows, descriptions: InputDescriptions
) -> Dict[str, Any]:
    """The metadata's ``source``: the input and auxiliary files, and the bad rows."""
    plan = rows.plan
    return {
        "kind": plan.source,
        "files": [
            {**descriptions.describe(r.path), "lines": rows.lines_per_file[r.path]}
            for r in plan.readers
        ],
        **{role: descriptions.describe(path) for role, path in plan.aux_files.items()},
        "bad_rows": rows.bad.counts_by_reason(),
        "bad_row_examples": [r.message() for r in rows.bad.examples],
    }


def recorded_options(
    rows: InputRows,
    vocabularies: Dict[str, Vocabulary],
    numeric_ranges: NumericRanges,
) -> Dict[str, Any]:
    """
    The metadata's ``options``: everything that decided the encoding (a preparation
    with ``--vocabulary_from`` reads it back, `VocabularySource`).
    """
    plan = rows.plan
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
        "numeric_ranges": numeric_ranges.describe(),
        "bad_rows": rows.bad.counts_by_reason(),
        "prepared_by": f"torchrec_dlf {__version__}",
    }
