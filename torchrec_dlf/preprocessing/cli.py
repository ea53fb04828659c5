"""Command-line interface of data preparation (``datasets/prepare.py``).

Every user error (a bad flag, a missing or malformed input, a bad row with
``--on_bad_row error``) is one line on stderr, ``error: <what>`` naming the file, line,
field or flag, and exit status 2; only bugs print a traceback. SIGTERM stops a run like
Ctrl-C does: the temporaries (spill files, the half-written dataset) are removed and
the output is left as it was (exit status 143).
"""

import argparse
import gc
import os
import sys
from typing import Callable, List, Optional

from torchrec_dlf.preprocessing.cli_flags import (
    add_bars_flags,
    add_common_flags,
    add_csv_flags,
    add_libfm_flags,
    add_split_flags,
)
from torchrec_dlf.preprocessing.options import TEST_SPLIT, CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.preparation_plan import PreparationPlan
from torchrec_dlf.preprocessing.preparation_result import PreparationResult
from torchrec_dlf.preprocessing.sigterm import (
    TERMINATED_EXIT,
    Terminated,
    sigterm_unwinds,
)
from torchrec_dlf.preprocessing.sources.avazu import avazu_plan
from torchrec_dlf.preprocessing.sources.bars import bars_arguments, bars_plan
from torchrec_dlf.preprocessing.sources.criteo import criteo_plan
from torchrec_dlf.preprocessing.sources.csv import csv_plan, csv_schema
from torchrec_dlf.preprocessing.sources.libfm import libfm_arguments, libfm_plan
from torchrec_dlf.preprocessing.sources.table_schema import TableSchema
from torchrec_dlf.preprocessing.vocabulary_source import VocabularySource
from torchrec_dlf.user_errors import CommandLineParser, run_command


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per source, each with its split kinds."""
    parser = CommandLineParser(
        prog="prepare.py",
        description="Prepare a CTR dataset (Parquet splits + metadata.json) for torchrec_dlf.",
    )
    # Subcommands get one-line errors and shown defaults too.
    sub = parser.add_subparsers(
        dest="source", required=True, metavar="source", parser_class=CommandLineParser
    )

    p = sub.add_parser("criteo", help="Criteo TSV (Kaggle train.txt, 1TB day_N)")
    add_split_flags(p, ["random", "given", "day"])
    add_common_flags(p, "log")

    p = sub.add_parser("avazu", help="Avazu CSV with header")
    add_split_flags(p, ["random", "given"])
    add_common_flags(p, None)

    p = sub.add_parser("bars", help="BARS/FuxiCTR train/valid/test CSV")
    add_split_flags(p, ["given", "random"])
    add_common_flags(p, "none")
    add_bars_flags(p)

    p = sub.add_parser("libfm", help="libFM/libSVM 'label idx:val ...' files")
    add_split_flags(p, ["given", "random"])
    add_common_flags(p, "none")
    add_libfm_flags(p)

    p = sub.add_parser("csv", help="any delimited file described by a schema JSON")
    add_split_flags(p, ["random", "given"])
    add_common_flags(p, "the schema's numeric_transform, else none")
    add_csv_flags(p)
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
    """The plan of the subcommand's source; with ``source``, in its options."""
    split = _split_options(args, scoring=source is not None)
    options = _common_options(args, source)
    if args.source == "criteo":
        return criteo_plan(split, options)
    if args.source == "avazu":
        return avazu_plan(split, options)
    if args.source == "bars":
        numeric_columns, label = args.numeric_columns, args.label or "label"
        if source is not None:
            numeric_columns, label = bars_arguments(
                source, args.numeric_columns, args.label
            )
        return bars_plan(split, options, numeric_columns, label)
    if args.source == "libfm":
        fields = {
            "feature_index": args.feature_index,
            "field_ranges": args.field_ranges,
            "numeric_fields": args.numeric_fields,
            "label_map": args.label_map,
            "multi_hot_fields": args.multi_hot_fields,
            "weighted_fields": args.weighted_fields,
        }
        if source is not None:
            fields = libfm_arguments(source, **fields)
        return libfm_plan(split, options, **fields)
    schema = TableSchema.load(args.schema) if args.schema is not None else None
    if source is not None:
        schema = csv_schema(source, schema)
    assert schema is not None
    return csv_plan(schema, split, options)


def _split_options(args: argparse.Namespace, scoring: bool) -> SplitOptions:
    """
    The split flags; without ``--split``: random with input files (test when
    ``scoring`` with another dataset's vocabularies), else given.
    """
    inputs = getattr(args, "inputs", [])
    kind = args.split or ((TEST_SPLIT if scoring else "random") if inputs else "given")
    return SplitOptions(
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


def _common_options(
    args: argparse.Namespace, source: Optional[VocabularySource]
) -> CommonOptions:
    """The flags of every source; with ``source``, checked against its options."""
    options = CommonOptions(
        name=args.name,
        numeric=getattr(args, "numeric", None),
        min_count=args.min_count,
        hash_size=args.hash_size,
        on_bad_row=args.on_bad_row,
        checksum=args.checksum,
        block_bytes=args.block_size,
    )
    return options if source is None else source.common_options(options)


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


def main(argv: Optional[List[str]] = None) -> int:
    """The command: exit 0, 2 for a user error (one ``error:`` line); on SIGTERM the
    process cleans up and exits 143 itself."""
    try:
        with sigterm_unwinds():
            status = run_command(lambda: run(argv))
        # Frees what an error left behind (readers held by its traceback) while pyarrow
        # is still whole, not in the interpreter's teardown, where freeing them can
        # abort the process after the error line.
        gc.collect()
        return status
    except Terminated:
        print(
            "error: terminated (SIGTERM); temporary files removed",
            file=sys.stderr,
            flush=True,
        )
        # Everything is cleaned up; leave without the interpreter's teardown. An input
        # reader or value counter thread can still be inside pyarrow, and tearing down
        # native state under it aborts the process ("terminate called without an
        # active exception", SIGABRT) instead of exiting 143.
        sys.stdout.flush()
        os._exit(TERMINATED_EXIT)
