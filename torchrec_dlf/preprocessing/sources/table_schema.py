"""The schema JSON that describes a delimited file to the ``csv`` source (`csv_plan`).

A schema::

    {
      "name": "criteo_sample",                 optional, the dataset name
      "separator": ",",                        one character, default ","
      "quoting": "rfc4180",                    "rfc4180" (default: "x" is x, "a,b" is
                                               one value, see rfc4180) or
                                               "none" (a quote is a plain character)
      "header": true,                          true: the first line names the columns;
                                               false: no header, columns in the order
                                               label, numeric..., categorical...;
                                               a list of names: no header, these columns
      "label": "label",                        the 0/1 label column
      "label_map": {"0": 0, "1": 1},           optional: raw label -> 0/1
      "numeric": ["I1", "I2"],                 numeric columns (may be empty)
      "categorical": ["C1", "C2"],             categorical columns
      "drop": ["id"],                          optional: columns read but not used
      "numeric_transform": "log",              optional default: log, bucket or none
      "transforms": {"I2": "bucket"},          optional, per column
      "bags": {"tags": {"delimiter": "|",      optional: multi-valued categorical
                        "max_length": 3,       columns (see `bag_parser`): values
                        "truncate": true,      split at the delimiter, each its own
                        "pooling": "sum",      vocabulary entry, an empty cell an
                        "weighted": false}}    empty bag; max_length caps a bag
                                               (longer ones cut and counted, or with
                                               "truncate": false bad rows); pooling
                                               sum (default) or mean; weighted:
                                               values are value:weight
    }

Every column of the file must be named in exactly one of label, numeric, categorical
and drop, so a schema that does not describe the file is an error, never a silent
mis-assignment.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from torchrec_dlf.data.metadata import POOLINGS
from torchrec_dlf.preprocessing.bag_parser import BagSpec
from torchrec_dlf.preprocessing.column_parsers import DEFAULT_LABEL_MAP
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import check_input_file
from torchrec_dlf.preprocessing.numeric_transform import NUMERIC_TRANSFORMS
from torchrec_dlf.preprocessing.table_header import check_header

QUOTING = ("rfc4180", "none")
_KEYS = {
    "name",
    "separator",
    "quoting",
    "header",
    "label",
    "label_map",
    "numeric",
    "categorical",
    "drop",
    "numeric_transform",
    "transforms",
    "description",
    "bags",
}
_BAG_KEYS = {"delimiter", "max_length", "truncate", "pooling", "weighted"}


@dataclass
class TableSchema:
    """A parsed, checked schema (see the module docstring)."""

    label: str
    numeric: List[str]
    categorical: List[str]
    header: Union[bool, List[str]] = True
    separator: str = ","
    drop: List[str] = field(default_factory=list)
    label_map: Optional[Dict[str, int]] = None
    numeric_transform: Optional[str] = None
    transforms: Dict[str, str] = field(default_factory=dict)
    name: Optional[str] = None
    path: Optional[str] = None
    quoting: str = "rfc4180"
    bags: Dict[str, BagSpec] = field(default_factory=dict)

    @property
    def quoted(self) -> bool:
        return self.quoting == "rfc4180"

    @classmethod
    def load(cls, path: str) -> "TableSchema":
        check_input_file(path, "schema")
        with open(path, "rb") as f:
            try:
                raw = json.loads(f.read().decode("utf-8"))
            except UnicodeDecodeError as e:
                raise PreparationError(f"{path}: not valid UTF-8 ({e})") from e
            except json.JSONDecodeError as e:
                raise PreparationError(f"{path}: not valid JSON ({e})") from e
        return cls.from_dict(raw, where=path)

    @classmethod
    def from_dict(cls, raw: Any, where: str = "schema") -> "TableSchema":
        """The schema of the JSON object ``raw``, checked; errors name ``where``."""

        def fail(message: str) -> PreparationError:
            return PreparationError(f"{where}: {message}")

        if not isinstance(raw, dict):
            raise fail("a schema is a JSON object")
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise fail(f"unknown keys {unknown} (known: {sorted(_KEYS)})")
        for key in ("label", "categorical"):
            if key not in raw:
                raise fail(f"missing {key!r}")
        label = raw["label"]
        if not isinstance(label, str) or not label:
            raise fail("'label' must be a column name")
        header = raw.get("header", True)
        if not isinstance(header, bool) and not (
            isinstance(header, list) and all(isinstance(h, str) and h for h in header)
        ):
            raise fail("'header' must be true, false or a list of column names")
        separator, quoting = _separator_and_quoting(raw, fail)
        numeric, categorical, drop = (
            _names(raw, "numeric", fail),
            _names(raw, "categorical", fail),
            _names(raw, "drop", fail),
        )
        _check_roles(label, numeric, categorical, drop, header, fail)
        default, transforms = _transforms(raw, numeric, fail)
        label_map = raw.get("label_map")
        if label_map is not None and (
            not isinstance(label_map, dict)
            or not label_map
            or any(v not in (0, 1) or isinstance(v, bool) for v in label_map.values())
        ):
            raise fail("'label_map' maps raw labels (strings) to 0 or 1")
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise fail("'name' must be a string")
        bags = _bags(raw, categorical, separator, quoting, fail)
        return cls(
            label=label,
            numeric=numeric,
            categorical=categorical,
            header=header,
            separator=separator,
            drop=drop,
            label_map=label_map,
            numeric_transform=default,
            transforms=dict(transforms),
            name=name,
            path=None if where == "schema" else where,
            quoting=quoting,
            bags=bags,
        )

    @property
    def has_header_line(self) -> bool:
        return self.header is True

    def file_columns(self, path: str) -> List[str]:
        """The columns of ``path`` in file order, checked against the schema."""
        used = [self.label] + self.numeric + self.categorical + self.drop
        if self.header is True:
            return check_header(path, self.separator, used, self.quoted)
        # Without a header there is nothing to check up front: a file of another shape
        # fails on its first line (or, skipping bad rows, has no good rows).
        return list(self.header) if isinstance(self.header, list) else used

    def to_dict(self) -> Dict[str, Any]:
        """The schema as JSON (`from_dict` reads it back), recorded in the metadata."""
        out: Dict[str, Any] = {
            "separator": self.separator,
            "quoting": self.quoting,
            "header": list(self.header)
            if isinstance(self.header, list)
            else self.header,
            "label": self.label,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "drop": list(self.drop),
            "transforms": dict(self.transforms),
        }
        if self.label_map is not None:
            out["label_map"] = dict(self.label_map)
        if self.numeric_transform is not None:
            out["numeric_transform"] = self.numeric_transform
        if self.name is not None:
            out["name"] = self.name
        if self.bags:
            out["bags"] = {c: b.describe() for c, b in self.bags.items()}
        return out

    def describe(self) -> Dict[str, Any]:
        return {
            "schema": self.path,
            "separator": self.separator,
            "quoting": self.quoting,
            "header": self.header,
            "label": self.label,
            "label_map": self.label_map or dict(DEFAULT_LABEL_MAP),
            "drop": self.drop,
        }


# The checks of `TableSchema.from_dict`, one group of keys each; ``fail`` makes the
# error naming the schema.
_Fail = Callable[[str], PreparationError]


def _names(raw: Dict[str, Any], key: str, fail: _Fail) -> List[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail(f"{key!r} must be a list of column names")
    return value


def _separator_and_quoting(raw: Dict[str, Any], fail: _Fail) -> Tuple[str, str]:
    separator = raw.get("separator", ",")
    if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n":
        raise fail(f"'separator' must be one character, got {separator!r}")
    quoting = raw.get("quoting", "rfc4180")
    if quoting not in QUOTING:
        raise fail(f"'quoting' must be one of {list(QUOTING)}, got {quoting!r}")
    if quoting == "rfc4180" and separator == '"':
        raise fail("the separator cannot be the quote character")
    return separator, quoting


def _check_roles(
    label: str,
    numeric: List[str],
    categorical: List[str],
    drop: List[str],
    header: Union[bool, List[str]],
    fail: _Fail,
) -> None:
    """Every column in one role, at least one categorical, and the header agrees."""
    used = [label] + numeric + categorical + drop
    twice = sorted({c for c in used if used.count(c) > 1})
    if twice:
        raise fail(f"columns {twice} are named more than once")
    if not categorical:
        raise fail("at least one categorical column is needed")
    if header is False and drop:
        raise fail("'drop' needs the column order, from a header or a list of names")
    if isinstance(header, list):
        if sorted(header) != sorted(used):
            extra = [h for h in header if h not in used]
            missing = [c for c in used if c not in header]
            raise fail(f"'header' lists {extra} without a role and misses {missing}")


def _transforms(
    raw: Dict[str, Any], numeric: List[str], fail: _Fail
) -> Tuple[Optional[str], Dict[str, str]]:
    """The default numeric transform and the transforms per column."""
    default = raw.get("numeric_transform")
    if default is not None and default not in NUMERIC_TRANSFORMS:
        raise fail(f"'numeric_transform' must be one of {NUMERIC_TRANSFORMS}")
    transforms = raw.get("transforms", {})
    if not isinstance(transforms, dict):
        raise fail("'transforms' maps numeric columns to transforms")
    for column, transform in transforms.items():
        if column not in numeric:
            raise fail(f"'transforms' names {column!r}, which is not a numeric column")
        if transform not in NUMERIC_TRANSFORMS:
            raise fail(f"transform of {column!r} must be one of {NUMERIC_TRANSFORMS}")
    return default, transforms


def _bags(
    raw: Dict[str, Any],
    categorical: List[str],
    separator: str,
    quoting: str,
    fail: _Fail,
) -> Dict[str, BagSpec]:
    """The multi-valued categorical columns and how their cells are split."""
    bags = raw.get("bags", {})
    if not isinstance(bags, dict):
        raise fail("'bags' maps categorical columns to {'delimiter': ...}")
    out: Dict[str, BagSpec] = {}
    for column, spec in bags.items():
        where = f"'bags' of {column!r}"
        if column not in categorical:
            raise fail(f"{where}: {column!r} is not a categorical column")
        if not isinstance(spec, dict) or "delimiter" not in spec:
            raise fail(f"{where} must be an object with a 'delimiter'")
        unknown = sorted(set(spec) - _BAG_KEYS)
        if unknown:
            raise fail(f"{where}: unknown keys {unknown} (known: {sorted(_BAG_KEYS)})")
        delimiter = spec["delimiter"]
        if (
            not isinstance(delimiter, str)
            or len(delimiter) != 1
            or delimiter in "\r\n\x00"
            or delimiter == separator
            or (quoting == "rfc4180" and delimiter == '"')
        ):
            raise fail(
                f"{where}: 'delimiter' must be one character other than the separator "
                f"(and the quote), got {delimiter!r}"
            )
        max_length = spec.get("max_length")
        if max_length is not None and (
            not isinstance(max_length, int)
            or isinstance(max_length, bool)
            or max_length < 1
        ):
            raise fail(f"{where}: 'max_length' must be an integer >= 1")
        truncate = spec.get("truncate", True)
        weighted = spec.get("weighted", False)
        if not isinstance(truncate, bool) or not isinstance(weighted, bool):
            raise fail(f"{where}: 'truncate' and 'weighted' are true or false")
        pooling = spec.get("pooling", "sum")
        if pooling not in POOLINGS:
            raise fail(f"{where}: 'pooling' must be one of {list(POOLINGS)}")
        if weighted and delimiter == ":":
            raise fail(f"{where}: a weighted bag's delimiter cannot be ':'")
        out[column] = BagSpec(delimiter, max_length, truncate, pooling, weighted)
    if any(b.weighted for b in out.values()) and any(
        b.pooling == "mean" for b in out.values()
    ):
        # Embedding bags take per-id weights with sum pooling only (see BagInfo).
        raise fail("'bags': with a weighted bag every bag must pool by sum")
    return out
