"""Avazu CSV (``id,click,hour,C1,banner_pos,...``, with header)."""

import datetime
from typing import Any, Dict, List, Optional

import pyarrow as pa
import pyarrow.compute as pc

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import show_value
from torchrec_dlf.preprocessing.column_parsers import (
    CATEGORICAL,
    CategoricalParser,
    ColumnParser,
    LabelParser,
    OutputField,
    Outputs,
    Problem,
    as_utf8,
    value_lengths,
)
from torchrec_dlf.preprocessing.delimited_reader import DelimitedReader
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan
from torchrec_dlf.preprocessing.record_layout import RecordLayout
from torchrec_dlf.preprocessing.table_header import read_common_header

ID, LABEL_COLUMN, HOUR = "id", "click", "hour"
DEFAULT_MIN_COUNT = 2
_HOUR_FORMAT = "%y%m%d%H"


class AvazuHourParser(ColumnParser):
    """
    Avazu's ``hour`` (``YYMMDDHH``, e.g. ``14102100``) as three categorical fields:
    ``hour`` (``HH``), ``weekday`` (0 = Monday ... 6 = Sunday, from the date) and
    ``weekend`` (1 on Saturday and Sunday, else 0). A value that is not 8 digits or not
    a real date and hour is bad.
    """

    def __init__(self, column: str = HOUR) -> None:
        super().__init__(column)

    @property
    def outputs(self) -> List[OutputField]:
        return [OutputField(n, CATEGORICAL) for n in ("hour", "weekday", "weekend")]

    def parse(self, values: pa.Array) -> Optional[Outputs]:
        text = as_utf8(values)
        if text is None or text.null_count or not (value_lengths(text) == 8).all():
            return None
        if not pc.all(pc.utf8_is_digit(text)).as_py():
            return None
        stamp = pc.strptime(text, format=_HOUR_FORMAT, unit="s", error_is_null=True)
        # strptime rolls impossible dates over (140229 -> 1 March); the round trip catches them.
        if (
            stamp.null_count
            or not pc.all(
                pc.equal(pc.strftime(stamp, format=_HOUR_FORMAT), text)
            ).as_py()
        ):
            return None
        weekday = pc.day_of_week(stamp)
        return {
            "hour": pc.utf8_slice_codeunits(text, 6, 8),
            "weekday": pc.cast(weekday, pa.string()),
            "weekend": pc.cast(
                pc.cast(pc.greater_equal(weekday, 5), pa.int8()), pa.string()
            ),
        }

    def problem(self, value: Optional[bytes]) -> Optional[Problem]:
        if value is not None and len(value) == 8 and value.isdigit():
            try:
                datetime.datetime.strptime(value.decode(), _HOUR_FORMAT)
                return None
            except ValueError:
                pass
        return bad_rows.BAD_HOUR, f"{show_value(value)} is not an hour YYMMDDHH"

    def describe(self) -> Dict[str, Any]:
        return {
            "kind": CATEGORICAL,
            "column": self.column,
            "derived": {
                "hour": "HH",
                "weekday": "0=Monday..6=Sunday",
                "weekend": "0/1",
            },
        }


def avazu_plan(split: SplitOptions, options: CommonOptions) -> PreparationPlan:
    """
    Avazu rows: comma separated with a header, RFC 4180 quoting (the real files quote
    nothing; a quoted value is unquoted, see `delimited_reader`); ``id`` is dropped, ``click`` is the label,
    ``hour`` becomes ``hour``/``weekday``/``weekend`` and every other column is
    categorical. Every input file must have the same header. Splits: random or given.
    """
    paths, rule = split.resolve(("random", "given"))
    if options.numeric is not None:
        raise PreparationError("Avazu has no numeric fields (--numeric does not apply)")
    columns = read_common_header(paths, ",", quoting=True)
    missing = [c for c in (LABEL_COLUMN, HOUR) if c not in columns]
    if missing:
        raise PreparationError(
            f"{paths[0]}: the header has no {missing} column (is this Avazu data?)"
        )
    parsers: List[ColumnParser] = [LabelParser(LABEL_COLUMN), AvazuHourParser(HOUR)]
    parsers += [
        CategoricalParser(c) for c in columns if c not in (ID, LABEL_COLUMN, HOUR)
    ]
    return PreparationPlan(
        name=options.name or "avazu",
        source="avazu",
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
            "format": "avazu csv",
            "quoting": "rfc4180",
            "dropped": [c for c in columns if c == ID],
        },
        numeric_transform=None,
        input_roles=split.roles,
    )
