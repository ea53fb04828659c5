"""libFM / libSVM files (``label index:value ...``) with fields from a map or ranges."""

from typing import Dict, List, Optional, Sequence

from torchrec_dlf.preprocessing.column_parsers import (
    LABEL,
    CategoricalParser,
    ColumnParser,
    LabelParser,
    NumericParser,
)
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.feature_fields import (
    FeatureFields,
    FeatureIndexMap,
    FieldRanges,
)
from torchrec_dlf.preprocessing.libfm_reader import LibFMReader
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import PreparationPlan
from torchrec_dlf.preprocessing.record_layout import RecordLayout

DEFAULT_MIN_COUNT = 1
DEFAULT_NUMERIC = "none"


def parse_label_map(text: str) -> Dict[str, int]:
    """``"-1:0,1:1"`` -> ``{"-1": 0, "1": 1}``."""
    out: Dict[str, int] = {}
    for part in text.split(","):
        raw, colon, mapped = part.strip().rpartition(":")
        if not colon or not raw or mapped not in ("0", "1") or raw in out:
            raise PreparationError(f"label map must look like -1:0,1:1, got {text!r}")
        out[raw] = int(mapped)
    return out


def libfm_plan(
    split: SplitOptions,
    options: CommonOptions,
    feature_index: Optional[str] = None,
    field_ranges: Optional[str] = None,
    numeric_fields: Sequence[str] = (),
    label_map: Optional[Dict[str, int]] = None,
) -> PreparationPlan:
    """
    libFM rows, one id per field: the field of a feature index comes from a
    feature-index map (``field:value<TAB>index`` lines) or from index ranges. A field
    absent from a row gets id 0. Labels 0/1 unless ``label_map`` says otherwise (e.g.
    ``{"-1": 0, "1": 1}`` for libSVM's -1/+1). Splits: given (with ``valid_from_train``
    when there is no valid file) or random.
    """
    if (feature_index is None) == (field_ranges is None):
        raise PreparationError("give either --feature_index or --field_ranges")
    if options.numeric is not None and not numeric_fields:
        raise PreparationError(
            f"--numeric {options.numeric} needs --numeric_fields: without them every "
            f"field is categorical and the transform applies to nothing"
        )
    fields: FeatureFields = (
        FeatureIndexMap(feature_index)
        if feature_index is not None
        else FieldRanges(field_ranges or "")
    )
    if LABEL in fields.fields:
        raise PreparationError(f"a field may not be called {LABEL!r}")
    paths, rule = split.resolve(("given", "random"))
    transform = options.transform(DEFAULT_NUMERIC)
    readers = [LibFMReader(p, fields, numeric_fields) for p in paths]
    parsers: List[ColumnParser] = [LabelParser(LABEL, label_map)]
    for name in fields.fields:
        if name in numeric_fields:
            parsers.append(NumericParser(name, transform))
        else:
            parsers.append(CategoricalParser(name))
    return PreparationPlan(
        name=options.name or "libfm",
        source="libfm",
        readers=readers,
        layout=RecordLayout(readers[0].columns, parsers),
        split=rule,
        vocabulary=options.vocabulary(DEFAULT_MIN_COUNT),
        on_bad_row=options.on_bad_row,
        checksum=options.checksum,
        options={
            **fields.describe(),
            "format": "libfm",
            "numeric_fields": list(numeric_fields),
            "label_map": label_map or {"0": 0, "1": 1},
        },
        numeric_transform=transform if numeric_fields else None,
        aux_files={"feature_index": feature_index} if feature_index is not None else {},
        input_roles=split.roles,
    )
