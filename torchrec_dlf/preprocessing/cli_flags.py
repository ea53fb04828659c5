"""The flags of ``datasets/prepare.py``: those of every source, and each source's own.

`torchrec_dlf.preprocessing.cli.build_parser` puts them together, one subcommand per
source; the order they are added in is the order ``--help`` lists them in.
"""

import argparse
from typing import List, Optional

from torchrec_dlf.preprocessing.bad_rows import ON_BAD_ROW
from torchrec_dlf.preprocessing.delimited_reader import DEFAULT_BLOCK_BYTES
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import CHECKSUMS
from torchrec_dlf.preprocessing.numeric_transform import NUMERIC_TRANSFORMS
from torchrec_dlf.preprocessing.options import TEST_SPLIT
from torchrec_dlf.preprocessing.row_split import parse_ratios
from torchrec_dlf.preprocessing.sources.libfm import parse_label_map


def _names(text: str) -> List[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _ratios(text: str):  # pyre-ignore[3]
    try:
        return parse_ratios(text)
    except PreparationError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def add_common_flags(
    p: argparse.ArgumentParser, numeric_default: Optional[str]
) -> None:
    """The flags of every source; ``--numeric`` only where a source has numeric fields."""
    _add_output_flags(p)
    _add_encoding_flags(p, numeric_default)
    _add_run_flags(p)


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--output",
        required=True,
        help="prepared dataset directory (replaced atomically)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --output that is not a prepared dataset",
    )
    p.add_argument("--name", default=None, help="dataset name in the metadata")


def _add_encoding_flags(
    p: argparse.ArgumentParser, numeric_default: Optional[str]
) -> None:
    p.add_argument(
        "--vocabulary_from",
        default=None,
        metavar="DATASET_DIR",
        help="encode with the saved vocabularies, transforms and field order of this prepared "
        "dataset (no vocabulary pass, no train split needed; unseen values -> id 0); options "
        "that change the encoding come from its metadata",
    )
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument(
        "--min_count",
        type=int,
        default=None,
        help="train count a categorical value needs for an id of its own (rarer -> id 0)",
    )
    vocab.add_argument(
        "--hash_size",
        type=int,
        default=None,
        help="no vocabulary pass: id = 1 + fnv1a_64(value) mod N",
    )
    if numeric_default is not None:
        p.add_argument(
            "--numeric",
            choices=NUMERIC_TRANSFORMS,
            default=None,
            help=f"numeric transform (default {numeric_default})",
        )


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--on_bad_row",
        choices=ON_BAD_ROW,
        default="error",
        help="error: stop at the first malformed row; skip: drop and count them",
    )
    p.add_argument(
        "--checksum",
        choices=CHECKSUMS,
        default="sha256",
        help="record the sha256 of every input (none: skip, for huge files)",
    )
    p.add_argument(
        "--block_size",
        type=int,
        default=DEFAULT_BLOCK_BYTES,
        help="bytes parsed per block of delimited text",
    )
    p.add_argument(
        "--spill",
        choices=("auto", "on", "off"),
        default="auto",
        help="keep the rows parsed by the vocabulary pass on disk (beside the output) so the "
        "second pass need not parse them again; auto: when the disk has room",
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary")


def add_split_flags(
    p: argparse.ArgumentParser, kinds: List[str], inputs: bool = True
) -> None:
    """How files and rows map to splits; ``kinds``: the split kinds of the source."""
    if inputs:
        p.add_argument(
            "inputs", nargs="*", help="input files (random, day or test split)"
        )
    p.add_argument(
        "--split",
        choices=kinds + [TEST_SPLIT],
        default=None,
        help="default: random with input files (test with --vocabulary_from), given with "
        "--train/--valid/--test; test: every row of the input files to the test split "
        "(only with --vocabulary_from)",
    )
    p.add_argument("--train", default=None, help="train file (given split)")
    p.add_argument("--valid", default=None, help="valid file (given split)")
    p.add_argument("--test", default=None, help="test file (given split)")
    p.add_argument(
        "--valid_from_train",
        type=float,
        default=None,
        help="given split without a valid file: this seeded random share of train is valid",
    )
    p.add_argument(
        "--ratios",
        type=_ratios,
        default="8,1,1",
        help="random split shares train,valid,test (each > 0)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random split / valid_from_train",
    )


def add_bars_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", default=None, help="label column (default label)")
    p.add_argument(
        "--numeric_columns", type=_names, default=[], help="numeric columns a,b,..."
    )


def add_libfm_flags(p: argparse.ArgumentParser) -> None:
    # One of the two is required unless --vocabulary_from records it (`parse_args`).
    fields = p.add_mutually_exclusive_group()
    fields.add_argument(
        "--feature_index",
        default=None,
        help="map file of 'field:value<TAB>index' lines",
    )
    fields.add_argument(
        "--field_ranges",
        default=None,
        help="index ranges per field: 0-99,100-199,... or name=lo-hi,...",
    )
    p.add_argument(
        "--numeric_fields",
        type=_names,
        default=[],
        help="fields whose value is numeric",
    )
    p.add_argument(
        "--label_map",
        type=parse_label_map,
        default=None,
        help="raw label -> 0/1, e.g. --label_map=-1:0,1:1 (with '=': the value starts with '-')",
    )
    p.add_argument(
        "--multi_hot_fields",
        type=_names,
        default=[],
        help="fields that may hold several indices in a row: a bag of ids (a list "
        "column) per row, empty when the field is absent; values must be 1",
    )
    p.add_argument(
        "--weighted_fields",
        type=_names,
        default=[],
        help="multi-hot fields whose values are kept as per-id weights (a "
        "<field>_weights list column; every field then pools by sum)",
    )


def add_csv_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--schema",
        default=None,
        help="schema JSON (see torchrec_dlf/preprocessing/sources/table_schema.py); with "
        "--vocabulary_from the one recorded in its metadata by default",
    )
