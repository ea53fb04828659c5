"""libFM / libSVM files (``label index:value ...``) with fields from a map or ranges."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from torchrec_dlf.preprocessing.bag_parser import BagParser, BagSpec
from torchrec_dlf.preprocessing.column_parsers import (
    DEFAULT_LABEL_MAP,
    LABEL,
    CategoricalParser,
    ColumnParser,
    LabelParser,
    NumericParser,
)
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import sha256_of
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan
from torchrec_dlf.preprocessing.record_layout import RecordLayout
from torchrec_dlf.preprocessing.sources.libfm_fields import (
    FeatureFields,
    FeatureIndexMap,
    FieldRanges,
)
from torchrec_dlf.preprocessing.sources.libfm_reader import (
    BAG_DELIMITER,
    LibFMReader,
)
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource, shown_names

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
    multi_hot_fields: Sequence[str] = (),
    weighted_fields: Sequence[str] = (),
) -> PreparationPlan:
    """
    libFM rows, one id per field: the field of a feature index comes from a
    feature-index map (``field:value<TAB>index`` lines) or from index ranges. A field
    absent from a row gets id 0. A field in ``multi_hot_fields`` is a bag of ids, every
    index of the field in the row (none: an empty bag); its values must be 1, unless
    it is in ``weighted_fields``, where they become per-id weights (sum pooling). Labels 0/1 unless ``label_map`` says otherwise (e.g.
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
    _check_bag_fields(fields.fields, numeric_fields, multi_hot_fields, weighted_fields)
    paths, rule = split.resolve(("given", "random"))
    transform = options.transform(DEFAULT_NUMERIC)
    readers = [
        LibFMReader(
            p,
            fields,
            numeric_fields,
            multi_hot_fields=multi_hot_fields,
            weighted_fields=weighted_fields,
        )
        for p in paths
    ]
    parsers: List[ColumnParser] = [LabelParser(LABEL, label_map)]
    for name in fields.fields:
        if name in numeric_fields:
            parsers.append(NumericParser(name, transform))
        elif name in multi_hot_fields:
            spec = BagSpec(BAG_DELIMITER.decode(), weighted=name in weighted_fields)
            parsers.append(BagParser(name, spec))
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
            "label_map": label_map or dict(DEFAULT_LABEL_MAP),
            "multi_hot_fields": list(multi_hot_fields),
            "weighted_fields": list(weighted_fields),
        },
        numeric_transform=transform if numeric_fields else None,
        aux_files={"feature_index": feature_index} if feature_index is not None else {},
        input_roles=split.roles,
    )


def libfm_arguments(
    source: VocabularySource,
    feature_index: Optional[str] = None,
    field_ranges: Optional[str] = None,
    numeric_fields: Sequence[str] = (),
    label_map: Optional[Dict[str, int]] = None,
    multi_hot_fields: Sequence[str] = (),
    weighted_fields: Sequence[str] = (),
) -> Dict[str, Any]:
    """
    The keyword arguments of `libfm_plan` (but split and options) ``source`` was
    prepared with; any of them given with another value is an error.
    """
    feature_index, field_ranges = _recorded_fields(source, feature_index, field_ranges)
    recorded_numeric = list(source.options.get("numeric_fields") or [])
    if numeric_fields and sorted(numeric_fields) != sorted(recorded_numeric):
        raise source.conflict(
            "--numeric_fields",
            shown_names(numeric_fields),
            f"--numeric_fields {shown_names(recorded_numeric)}",
        )
    recorded_map = source.options.get("label_map") or dict(DEFAULT_LABEL_MAP)
    if label_map is not None and label_map != recorded_map:
        shown = ",".join(f"{k}:{v}" for k, v in recorded_map.items())
        given = ",".join(f"{k}:{v}" for k, v in label_map.items())
        raise source.conflict("--label_map", given, f"--label_map {shown}")
    recorded_bags = {}
    for flag, given in (
        ("multi_hot_fields", multi_hot_fields),
        ("weighted_fields", weighted_fields),
    ):
        recorded_bags[flag] = list(source.options.get(flag) or [])
        if given and sorted(given) != sorted(recorded_bags[flag]):
            raise source.conflict(
                f"--{flag}",
                shown_names(given),
                f"--{flag} {shown_names(recorded_bags[flag])}",
            )
    return {
        "feature_index": feature_index,
        "field_ranges": field_ranges,
        "numeric_fields": recorded_numeric,
        "label_map": recorded_map,
        **recorded_bags,
    }


def _check_bag_fields(
    fields: Sequence[str],
    numeric_fields: Sequence[str],
    multi_hot_fields: Sequence[str],
    weighted_fields: Sequence[str],
) -> None:
    """Multi-hot fields are fields and not numeric; weighted ones are multi-hot."""
    unknown = sorted(set(multi_hot_fields) - set(fields))
    if unknown:
        raise PreparationError(
            f"--multi_hot_fields {unknown} are not fields of the feature map"
        )
    both = sorted(set(multi_hot_fields) & set(numeric_fields))
    if both:
        raise PreparationError(
            f"fields {both} are given as numeric and as multi-hot fields"
        )
    single = sorted(set(weighted_fields) - set(multi_hot_fields))
    if single:
        raise PreparationError(
            f"--weighted_fields {single} are not in --multi_hot_fields (a weight "
            f"belongs to an id of a bag)"
        )


def _recorded_fields(
    source: VocabularySource,
    feature_index: Optional[str],
    field_ranges: Optional[str],
) -> Tuple[Optional[str], Optional[str]]:
    """The feature-index map or the field ranges ``source`` was prepared with."""
    recorded_ranges = source.options.get("field_ranges")
    recorded_index = source.options.get("feature_index")
    if recorded_ranges is not None:
        if feature_index is not None:
            raise source.conflict(
                "--feature_index",
                feature_index,
                f"--field_ranges {recorded_ranges}",
            )
        if field_ranges is not None and "".join(field_ranges.split()) != "".join(
            recorded_ranges.split()
        ):
            raise source.conflict(
                "--field_ranges", field_ranges, f"--field_ranges {recorded_ranges}"
            )
        return feature_index, recorded_ranges
    if recorded_index is None:
        raise PreparationError(f"{source.what}: its metadata records no libFM fields")
    if field_ranges is not None:
        raise source.conflict(
            "--field_ranges", field_ranges, f"--feature_index {recorded_index}"
        )
    return _feature_index(source, feature_index, recorded_index), field_ranges


def _feature_index(
    source: VocabularySource, given: Optional[str], recorded: str
) -> str:
    """The feature-index map: ``given`` or the recorded one, checked to be the same file."""
    described = source.metadata.source.get("feature_index") or {}
    recorded = described.get("path") or recorded  # absolute
    path = given if given is not None else recorded
    if not os.path.isfile(path):
        raise PreparationError(
            f"{source.what}: prepared with the feature-index map {recorded}, which is "
            f"gone; give its copy with --feature_index"
        )
    sha256, size = described.get("sha256"), described.get("size")
    if (sha256 is not None and sha256_of(path) != sha256) or (
        sha256 is None and size is not None and os.path.getsize(path) != size
    ):
        raise PreparationError(
            f"--feature_index {path}: not the feature-index map {source.what} was "
            f"prepared with ({recorded}: another size or sha256)"
        )
    return path
