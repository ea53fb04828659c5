"""BARS / FuxiCTR CSV splits: ``train.csv``, ``valid.csv``, ``test.csv`` with a header."""

from typing import List, Optional, Sequence, Tuple

from torchrec_dlf.preprocessing.column_parsers import (
    CategoricalParser,
    ColumnParser,
    LabelParser,
    NumericParser,
)
from torchrec_dlf.preprocessing.delimited_reader import DelimitedReader
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan
from torchrec_dlf.preprocessing.record_layout import RecordLayout
from torchrec_dlf.preprocessing.table_header import read_common_header
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource, shown_names

LABEL_COLUMN = "label"
DEFAULT_MIN_COUNT = 1
DEFAULT_NUMERIC = "none"


def bars_plan(
    split: SplitOptions,
    options: CommonOptions,
    numeric_columns: Sequence[str] = (),
    label: str = LABEL_COLUMN,
) -> PreparationPlan:
    """
    BARS rows: comma separated with a header, RFC 4180 quoting (the published files
    quote nothing; a quoted value is unquoted, see `delimited_reader`), the label in
    ``label``, every other
    column categorical unless named in ``numeric_columns`` (transformed by
    ``options.numeric``, default ``none``; ``bucket`` gives BARS Criteo_x4's buckets).
    The three files must share one header. A numeric transform without numeric
    columns is an error (it would apply to nothing).
    """
    if options.numeric is not None and not numeric_columns:
        raise PreparationError(
            f"--numeric {options.numeric} needs --numeric_columns: without them every "
            f"column is categorical and the transform applies to nothing"
        )
    paths, rule = split.resolve(("given", "random"))
    columns = read_common_header(paths, ",", quoting=True)
    if label not in columns:
        raise PreparationError(f"{paths[0]}: the header has no label column {label!r}")
    unknown = [c for c in numeric_columns if c not in columns or c == label]
    if unknown:
        raise PreparationError(
            f"{paths[0]}: numeric columns {unknown} are not feature columns of the header"
        )
    transform = options.transform(DEFAULT_NUMERIC)
    parsers: List[ColumnParser] = [LabelParser(label)]
    for c in columns:
        if c in numeric_columns:
            parsers.append(NumericParser(c, transform))
        elif c != label:
            parsers.append(CategoricalParser(c))
    return PreparationPlan(
        name=options.name or "bars",
        source="bars",
        readers=[
            DelimitedReader(p, columns, ",", True, options.block_bytes, quoting=True)
            for p in paths
        ],
        layout=RecordLayout(columns, parsers),
        split=rule,
        vocabulary=options.vocabulary(DEFAULT_MIN_COUNT),
        on_bad_row=options.on_bad_row,
        checksum=options.checksum,
        options={
            **options.recorded(),
            "format": "bars csv",
            "quoting": "rfc4180",
            "numeric_columns": list(numeric_columns),
        },
        numeric_transform=transform if numeric_columns else None,
        input_roles=split.roles,
    )


def bars_arguments(
    source: VocabularySource, numeric_columns: Sequence[str], label: Optional[str]
) -> Tuple[List[str], str]:
    """
    The numeric columns and label column (`bars_plan`) ``source`` was prepared with;
    ``numeric_columns`` or ``label`` given with other values are an error.
    """
    recorded = list(source.options.get("numeric_columns") or [])
    if numeric_columns and sorted(numeric_columns) != sorted(recorded):
        raise source.conflict(
            "--numeric_columns",
            shown_names(numeric_columns),
            f"--numeric_columns {shown_names(recorded)}",
        )
    recorded_label = source.label_column()
    if label is not None and label != recorded_label:
        raise source.conflict("--label", label, f"--label {recorded_label}")
    return recorded, recorded_label
