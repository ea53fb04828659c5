"""Command-line interface of data preparation (``datasets/prepare.py``).

Every user error (a bad flag, a missing or malformed input, a bad row with
``--on_bad_row error``) is one line on stderr, ``error: <what>`` naming the file, line,
field or flag, and exit status 2; only bugs print a traceback. SIGTERM stops a run like
Ctrl-C does: the temporaries (spill files, the half-written dataset) are removed and
the output is left as it was (exit status 143).
"""

import argparse
import signal
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional

from torchrec_dlf.preprocessing.avazu import avazu_plan
from torchrec_dlf.preprocessing.bad_rows import ON_BAD_ROW
from torchrec_dlf.preprocessing.bars import bars_plan
from torchrec_dlf.preprocessing.criteo import criteo_plan
from torchrec_dlf.preprocessing.delimited_reader import DEFAULT_BLOCK_BYTES
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.input_files import CHECKSUMS
from torchrec_dlf.preprocessing.libfm import libfm_plan, parse_label_map
from torchrec_dlf.preprocessing.numeric_transform import NUMERIC_TRANSFORMS
from torchrec_dlf.preprocessing.options import TEST_SPLIT, CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import (
    PreparationPlan,
    PreparationResult,
    prepare,
)
from torchrec_dlf.preprocessing.row_split import parse_ratios
from torchrec_dlf.preprocessing.table_schema import TableSchema, csv_plan
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource
from torchrec_dlf.user_errors import CommandLineParser, run_command

# Exit status of a run stopped by SIGTERM (128 + the signal's number, as a shell says).
TERMINATED_EXIT = 128 + signal.SIGTERM


def _names(text: str) -> List[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _ratios(text: str):  # pyre-ignore[3]
    try:
        return parse_ratios(text)
    except PreparationError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _add_common(p: argparse.ArgumentParser, numeric_default: Optional[str]) -> None:
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


def _add_split(
    p: argparse.ArgumentParser, kinds: List[str], inputs: bool = True
) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="prepare.py",
        description="Prepare a CTR dataset (Parquet splits + metadata.json) for torchrec_dlf.",
    )
    # Subcommands get one-line errors and shown defaults too.
    sub = parser.add_subparsers(
        dest="source", required=True, metavar="source", parser_class=CommandLineParser
    )

    p = sub.add_parser("criteo", help="Criteo TSV (Kaggle train.txt, 1TB day_N)")
    _add_split(p, ["random", "given", "day"])
    _add_common(p, "log")

    p = sub.add_parser("avazu", help="Avazu CSV with header")
    _add_split(p, ["random", "given"])
    _add_common(p, None)

    p = sub.add_parser("bars", help="BARS/FuxiCTR train/valid/test CSV")
    _add_split(p, ["given", "random"])
    _add_common(p, "none")
    p.add_argument("--label", default=None, help="label column (default label)")
    p.add_argument(
        "--numeric_columns", type=_names, default=[], help="numeric columns a,b,..."
    )

    p = sub.add_parser("libfm", help="libFM/libSVM 'label idx:val ...' files")
    _add_split(p, ["given", "random"])
    _add_common(p, "none")
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

    p = sub.add_parser("csv", help="any delimited file described by a schema JSON")
    _add_split(p, ["random", "given"])
    _add_common(p, "the schema's numeric_transform, else none")
    p.add_argument(
        "--schema",
        default=None,
        help="schema JSON (see torchrec_dlf/preprocessing/table_schema.py); with "
        "--vocabulary_from the one recorded in its metadata by default",
    )
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The parsed command line; options needed unless ``--vocabulary_from`` supplies them."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.vocabulary_from is None:
        if (
            args.source == "libfm"
            and args.feature_index is None
            and args.field_ranges is None
        ):
            parser.error(
                "libfm: one of the arguments --feature_index --field_ranges is required"
            )
        if args.source == "csv" and args.schema is None:
            parser.error("csv: the argument --schema is required")
    return args


def build_plan(args: argparse.Namespace) -> PreparationPlan:
    source = (
        VocabularySource.load(args.vocabulary_from, args.source)
        if args.vocabulary_from is not None
        else None
    )
    plan = _source_plan(args, source)
    return plan if source is None else source.apply(plan)


def _source_plan(
    args: argparse.Namespace, source: Optional[VocabularySource]
) -> PreparationPlan:
    inputs = getattr(args, "inputs", [])
    scoring = source is not None
    kind = args.split or ((TEST_SPLIT if scoring else "random") if inputs else "given")
    split = SplitOptions(
        kind=kind,
        inputs=inputs,
        train=args.train,
        valid=args.valid,
        test=args.test,
        ratios=args.ratios,
        seed=args.seed,
        valid_from_train=args.valid_from_train,
        train_optional=scoring,
    )
    options = CommonOptions(
        name=args.name,
        numeric=getattr(args, "numeric", None),
        min_count=args.min_count,
        hash_size=args.hash_size,
        on_bad_row=args.on_bad_row,
        checksum=args.checksum,
        block_bytes=args.block_size,
    )
    if source is not None:
        options = source.common_options(options)
    if args.source == "criteo":
        return criteo_plan(split, options)
    if args.source == "avazu":
        return avazu_plan(split, options)
    if args.source == "bars":
        numeric_columns, label = args.numeric_columns, args.label or "label"
        if source is not None:
            numeric_columns, label = source.bars_arguments(
                args.numeric_columns, args.label
            )
        return bars_plan(split, options, numeric_columns, label)
    if args.source == "libfm":
        fields = {
            "feature_index": args.feature_index,
            "field_ranges": args.field_ranges,
            "numeric_fields": args.numeric_fields,
            "label_map": args.label_map,
        }
        if source is not None:
            fields = source.libfm_arguments(**fields)
        return libfm_plan(split, options, **fields)
    schema = TableSchema.load(args.schema) if args.schema is not None else None
    if source is not None:
        schema = source.csv_schema(schema)
    assert schema is not None
    return csv_plan(schema, split, options)


def run(
    argv: Optional[List[str]] = None,
    out: Callable[[str], None] = print,
    warn: Optional[Callable[[str], None]] = None,
) -> PreparationResult:
    """
    Parses ``argv``, prepares the dataset and prints a summary (``out``) and warnings
    (``warn``, default stderr); errors propagate.
    """
    args = parse_args(argv)
    plan = build_plan(args)
    plan.spill = {"auto": None, "on": True, "off": False}[args.spill]
    result = prepare(
        plan,
        args.output,
        log=(lambda m: None) if args.quiet else out,
        overwrite=args.overwrite,
    )
    for line in result.summary():
        out(line)
    out(f"written to {args.output}")
    for line in result.warnings:
        (warn or _to_stderr)(line)
    return result


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Terminated(SystemExit):
    """SIGTERM arrived: unwinds like an exception so every ``finally`` cleans up."""


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """
    While inside, SIGTERM raises `Terminated` in the main thread (by default it kills
    the process on the spot, leaving spill files and temporary directories behind).
    The previous handler is restored on the way out.
    """

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(TERMINATED_EXIT)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Optional[List[str]] = None) -> int:
    """The command: exit 0, 2 for a user error (one ``error:`` line), 143 on SIGTERM."""
    try:
        with sigterm_unwinds():
            return run_command(lambda: run(argv))
    except Terminated:
        print(
            "error: terminated (SIGTERM); temporary files removed",
            file=sys.stderr,
            flush=True,
        )
        return TERMINATED_EXIT
