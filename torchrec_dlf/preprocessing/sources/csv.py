"""Any delimited file described by a schema JSON (the ``csv`` source, `TableSchema`)."""

from typing import Any, Dict, List, Optional

from torchrec_dlf.preprocessing.bag_parser import BagParser
from torchrec_dlf.preprocessing.column_parsers import (
    DEFAULT_LABEL_MAP,
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
from torchrec_dlf.preprocessing.sources.table_schema import TableSchema
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource

DEFAULT_MIN_COUNT = 1
DEFAULT_NUMERIC = "none"


def csv_plan(
    schema: TableSchema, split: SplitOptions, options: CommonOptions
) -> PreparationPlan:
    """
    Any delimited file described by ``schema``. Numeric transforms: the schema's
    per-column ``transforms``, else ``options.numeric``, else the schema's
    ``numeric_transform``, else ``none``. Splits: random or given; all files must have
    the same columns.
    """
    paths, rule = split.resolve(("random", "given"))
    columns = schema.file_columns(paths[0])
    for path in paths[1:]:
        other = schema.file_columns(path)
        if other != columns:
            raise PreparationError(
                f"{path}: columns in another order than in {paths[0]}: {other}"
            )
    default = options.numeric or schema.numeric_transform or DEFAULT_NUMERIC
    parsers: List[ColumnParser] = [LabelParser(schema.label, schema.label_map)]
    parsers += [
        NumericParser(c, schema.transforms.get(c, default)) for c in schema.numeric
    ]
    parsers += [
        BagParser(c, schema.bags[c]) if c in schema.bags else CategoricalParser(c)
        for c in schema.categorical
    ]
    return PreparationPlan(
        name=options.name or schema.name or "csv",
        source="csv",
        readers=[
            DelimitedReader(
                p,
                columns,
                schema.separator,
                schema.has_header_line,
                options.block_bytes,
                quoting=schema.quoted,
            )
            for p in paths
        ],
        layout=RecordLayout(columns, parsers),
        split=rule,
        vocabulary=options.vocabulary(DEFAULT_MIN_COUNT),
        on_bad_row=options.on_bad_row,
        checksum=options.checksum,
        options={
            **options.recorded(),
            "format": "delimited",
            **schema.describe(),
            "table_schema": schema.to_dict(),
        },
        numeric_transform=default if schema.numeric else None,
        aux_files={"schema": schema.path} if schema.path else {},
        input_roles=split.roles,
    )


def csv_schema(source: VocabularySource, given: Optional[TableSchema]) -> TableSchema:
    """
    The schema of the raw files to encode like ``source``: ``given`` (its separator,
    header and dropped columns may differ from the source's; its label, label map,
    columns and transforms may not), else the one recorded in the source's metadata.
    """
    raw = source.options.get("table_schema")
    recorded = None
    if raw is not None:
        recorded = TableSchema.from_dict(
            raw, where=f"{source.what}: the recorded schema"
        )
        recorded.path = None
    if given is None:
        if recorded is None:
            raise PreparationError(
                f"{source.what}: its metadata does not record the schema; give --schema"
            )
        return recorded
    if recorded is not None:
        mine = _schema_encoding(source, given)
        theirs = _schema_encoding(source, recorded)
        for key in mine:
            if mine[key] != theirs[key]:
                raise PreparationError(
                    f"--schema {given.path or '(given)'} conflicts with {source.what}: "
                    f"{key} {mine[key]} here, {theirs[key]} there; leave --schema out "
                    f"(the recorded schema is used) or describe the same fields"
                )
    return given


def _schema_encoding(source: VocabularySource, schema: TableSchema) -> Dict[str, Any]:
    """What of ``schema`` decides the encoding (with ``source``'s default transform)."""
    default = (
        source.options.get("numeric_transform") or schema.numeric_transform or "none"
    )
    return {
        "label": schema.label,
        "label_map": schema.label_map or dict(DEFAULT_LABEL_MAP),
        "numeric columns (transforms)": {
            c: schema.transforms.get(c, default) for c in sorted(schema.numeric)
        },
        "categorical columns": sorted(schema.categorical),
        "bags": {c: b.describe() for c, b in sorted(schema.bags.items())},
    }
