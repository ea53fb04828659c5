import os
import tempfile
import unittest

from tests.preprocessing.helpers import read_split, write_text
from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.preprocessing.errors import BadRowError
from torchrec_dlf.preprocessing.options import CommonOptions, SplitOptions
from torchrec_dlf.preprocessing.output_directory import check_output_directory
from torchrec_dlf.preprocessing.preparation import prepare
from torchrec_dlf.preprocessing.sources.criteo import criteo_plan, write_criteo_tsv
from torchrec_dlf.user_errors import OutputError


class PrepareTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.path = os.path.join(self.dir, "day_0")
        write_criteo_tsv(self.path, 500, seed=2)
        self.out = os.path.join(self.dir, "out")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def plan(self, **options):  # pyre-ignore[2,3]
        if "hash_size" not in options:
            options["min_count"] = 1
        return criteo_plan(SplitOptions(inputs=[self.path]), CommonOptions(**options))

    def test_prefetch_and_encode_size_change_nothing(self) -> None:
        prepare(self.plan(), self.out)
        plan = self.plan(block_bytes=8 << 10)
        plan.prefetch = False
        plan.spill = False
        plan.encode_rows = 37
        other = os.path.join(self.dir, "other")
        prepare(plan, other)
        for split in ("train", "valid", "test"):
            self.assertTrue(
                read_split(other, split).equals(read_split(self.out, split))
            )

    def test_spill_changes_nothing_but_speed(self) -> None:
        with open(self.path) as f:
            lines = f.read().split("\n")[:-1]
        lines[3], lines[77], lines[300] = (
            "",
            "1\tx",
            lines[300].replace("\t", "\t-x", 1),
        )
        write_text(self.path, lines, eol="\r\n")
        results = {}
        for spill in (True, False):
            plan = self.plan(on_bad_row="skip")
            plan.spill = spill
            out = os.path.join(self.dir, f"out_{spill}")
            results[spill] = prepare(plan, out)
        for split in ("train", "valid", "test"):
            self.assertTrue(
                read_split(os.path.join(self.dir, "out_True"), split).equals(
                    read_split(os.path.join(self.dir, "out_False"), split)
                )
            )
        self.assertEqual(
            results[True].metadata.source["bad_row_examples"],
            results[False].metadata.source["bad_row_examples"],
        )
        self.assertEqual(
            results[True].bad_rows.counts_by_reason(),
            {"empty line": 1, "not a number": 1, "wrong number of fields": 1},
        )
        self.assertEqual(
            sorted(os.listdir(self.dir)), ["day_0", "out_False", "out_True"]
        )

    def test_failed_run_keeps_the_old_output(self) -> None:
        prepare(self.plan(), self.out)
        before = DatasetMetadata.read(self.out)
        with open(self.path, "a") as f:
            f.write("2\tbroken\n")
        with self.assertRaises(BadRowError):
            prepare(self.plan(hash_size=10), self.out)  # fails in the writing pass
        for spill in (True, False):
            plan = self.plan()
            plan.spill = spill
            with self.assertRaises(BadRowError):
                prepare(plan, self.out)  # fails in the vocabulary pass
        self.assertEqual(DatasetMetadata.read(self.out), before)
        self.assertEqual(sorted(os.listdir(self.dir)), ["day_0", "out"])

    def test_refuses_to_replace_what_is_not_a_dataset(self) -> None:
        os.makedirs(os.path.join(self.out, "mine"))
        with self.assertRaises(OutputError) as ctx:
            prepare(self.plan(), self.out)
        self.assertEqual(
            str(ctx.exception),
            f"--output {self.out}: a non-empty directory this command did not write; "
            f"refusing to replace it (choose another path or pass --overwrite)",
        )
        self.assertTrue(os.path.isdir(os.path.join(self.out, "mine")))
        empty = os.path.join(self.dir, "empty")
        os.makedirs(empty)
        prepare(self.plan(), empty)  # an empty directory is fine
        with self.assertRaisesRegex(OutputError, "the output would replace the input"):
            check_output_directory(self.dir, [self.path])
        not_dir = write_text(os.path.join(self.dir, "file"), ["x"])
        with self.assertRaisesRegex(OutputError, "exists and is not a directory"):
            check_output_directory(not_dir, [self.path])
        prepare(self.plan(), self.out, overwrite=True)  # asked for: replaced
        self.assertFalse(os.path.exists(os.path.join(self.out, "mine")))
