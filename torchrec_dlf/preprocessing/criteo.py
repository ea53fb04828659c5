"""Criteo TSV (Kaggle ``train.txt``, 1TB ``day_N``): ``label``, ``I1..I13``, ``C1..C26``."""

from torchrec_dlf.preprocessing.column_parsers import (
    CategoricalParser,
    LabelParser,
    NumericParser,
)
from torchrec_dlf.preprocessing.criteo_format import (
    CATEGORICAL_FIELDS,
    FIELDS,
    INTEGER_FIELDS,
)
from torchrec_dlf.preprocessing.delimited_reader import DelimitedReader
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import PreparationPlan
from torchrec_dlf.preprocessing.record_layout import RecordLayout

DEFAULT_MIN_COUNT = 10
DEFAULT_NUMERIC = "log"


def criteo_plan(split: SplitOptions, options: CommonOptions) -> PreparationPlan:
    """
    Criteo rows: tab separated, no header, a 0/1 label, 13 integer fields (empty or
    negative allowed; transformed by ``options.numeric``, default ``log``) and 26
    categorical fields (empty or 8 lowercase hex digits). No quoting: a ``"`` is a plain
    character (and so no hex digit: a bad row). Splits: random, given or day.
    """
    paths, rule = split.resolve(("random", "given", "day"))
    transform = options.transform(DEFAULT_NUMERIC)
    parsers = (
        [LabelParser("label")]
        + [NumericParser(c, transform) for c in INTEGER_FIELDS]
        + [CategoricalParser(c, hex_hash=True) for c in CATEGORICAL_FIELDS]
    )
    return PreparationPlan(
        name=options.name or "criteo",
        source="criteo",
        readers=[
            DelimitedReader(p, FIELDS, "\t", False, options.block_bytes) for p in paths
        ],
        layout=RecordLayout(FIELDS, parsers),
        split=rule,
        vocabulary=options.vocabulary(DEFAULT_MIN_COUNT),
        on_bad_row=options.on_bad_row,
        checksum=options.checksum,
        options={**options.recorded(), "format": "criteo tsv"},
        numeric_transform=transform,
        input_roles=split.roles,
    )
