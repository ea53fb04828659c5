import os
import tempfile
import unittest

from tests.preprocessing.helpers import write_text
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.options import SplitOptions
from torchrec_dlf.preprocessing.row_split import TEST, TRAIN, VALID, GivenSplit


class SplitOptionsTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.a = write_text(os.path.join(self._tmp.name, "a"), ["x"])
        self.b = write_text(os.path.join(self._tmp.name, "b"), ["x"])

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def fails(self, message: str, **options) -> None:  # pyre-ignore[2]
        with self.assertRaises(PreparationError) as ctx:
            SplitOptions(**options).resolve()
        self.assertEqual(str(ctx.exception), message)

    def test_test_split_needs_saved_vocabularies(self) -> None:
        paths, rule = SplitOptions(
            kind="test", inputs=[self.a, self.b], train_optional=True
        ).resolve(("random", "given"))
        self.assertEqual(paths, [self.a, self.b])
        self.assertIsInstance(rule, GivenSplit)
        self.assertEqual((rule.file_splits, rule.splits()), ([TEST, TEST], [TEST]))
        self.fails(
            "split 'test' (every row to the test split) needs --vocabulary_from: without a "
            "train split there is nothing to build vocabularies on",
            kind="test",
            inputs=[self.a],
        )
        self.fails(
            "a test split takes input files, not --train/--valid/--test/--valid_from_train",
            kind="test",
            test=self.a,
            train_optional=True,
        )
        self.fails("a test split needs input files", kind="test", train_optional=True)

    def test_given_split_without_train(self) -> None:
        paths, rule = SplitOptions(
            kind="given", test=self.a, train_optional=True
        ).resolve()
        self.assertEqual((paths, rule.splits()), ([self.a], [TEST]))
        paths, rule = SplitOptions(
            kind="given", valid=self.a, test=self.b, train_optional=True
        ).resolve()
        self.assertEqual((paths, rule.splits()), ([self.a, self.b], [VALID, TEST]))
        paths, rule = SplitOptions(
            kind="given", train=self.a, valid_from_train=0.5, train_optional=True
        ).resolve()
        self.assertEqual(rule.splits(), [TRAIN, VALID])
        self.fails(
            "a given split needs at least one of --train, --valid and --test",
            kind="given",
            train_optional=True,
        )
        self.fails(
            "--valid_from_train needs --train and no --valid",
            kind="given",
            valid=self.a,
            train=self.b,
            valid_from_train=0.1,
            train_optional=True,
        )
        # Without saved vocabularies a given split still needs train and test.
        self.fails(
            "a given split needs --train and --test files", kind="given", test=self.a
        )
