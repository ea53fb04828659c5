import unittest

from torchrec_dlf.preprocessing import bad_rows
from torchrec_dlf.preprocessing.bad_rows import BadRow, BadRowLog, show_value
from torchrec_dlf.preprocessing.errors import BadRowError


class BadRowTest(unittest.TestCase):
    def test_message_names_file_line_and_field(self) -> None:
        row = BadRow(
            "train.txt", 1234, bad_rows.NOT_A_NUMBER, "'abc' is not a number", "I5"
        )
        self.assertEqual(
            row.message(), "'abc' is not a number (train.txt:1234, field I5)"
        )
        row = BadRow(
            "t.txt", 3, bad_rows.WRONG_FIELD_COUNT, "expected 40 fields, found 39"
        )
        self.assertEqual(row.message(), "expected 40 fields, found 39 (t.txt:3)")

    def test_show_value(self) -> None:
        self.assertEqual(show_value(b"abc"), "'abc'")
        self.assertEqual(show_value(b"a\xffb"), "'a\\\\xffb'")
        self.assertEqual(show_value(None), "(absent)")
        self.assertEqual(show_value(b"x" * 50), repr("x" * 40 + "..."))


class BadRowLogTest(unittest.TestCase):
    def rows(self):  # pyre-ignore[3]
        return [
            BadRow("f", 2, bad_rows.EMPTY_LINE, "empty line"),
            BadRow(
                "f",
                5,
                bad_rows.BAD_LABEL,
                "'2' is not a label (expected 0, 1)",
                "label",
            ),
            BadRow("f", 9, bad_rows.EMPTY_LINE, "empty line"),
        ]

    def test_error_policy_raises_first(self) -> None:
        log = BadRowLog("error")
        with self.assertRaises(BadRowError) as ctx:
            log.add(self.rows())
        self.assertEqual(str(ctx.exception), "empty line (f:2)")
        self.assertEqual(ctx.exception.bad_row.line, 2)

    def test_skip_policy_counts_and_keeps_examples(self) -> None:
        log = BadRowLog("skip", max_examples=2)
        log.add(self.rows())
        self.assertEqual(log.counts_by_reason(), {"bad label": 1, "empty line": 2})
        self.assertEqual(log.total, 3)
        self.assertEqual([r.line for r in log.examples], [2, 5])
        self.assertEqual(
            log.summary(),
            [
                "skipped 3 bad rows:",
                "  1 x bad label",
                "  2 x empty line",
                "first 2:",
                "  empty line (f:2)",
                "  '2' is not a label (expected 0, 1) (f:5, field label)",
            ],
        )

    def test_not_recording(self) -> None:
        log = BadRowLog("skip", record=False)
        log.add(self.rows())
        self.assertEqual(log.total, 0)
        self.assertEqual(log.summary(), [])

    def test_unknown_policy(self) -> None:
        with self.assertRaisesRegex(ValueError, "on_bad_row"):
            BadRowLog("ignore")
