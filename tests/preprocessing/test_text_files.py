import os
import tempfile
import unittest

from tests.preprocessing.helpers import write_bytes
from torchrec_dlf.preprocessing.text_files import count_lines


class CountLinesTest(unittest.TestCase):
    def test_count_lines(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(
                count_lines(write_bytes(os.path.join(d, "a"), b"1\n2\n")), 2
            )
            self.assertEqual(
                count_lines(write_bytes(os.path.join(d, "b"), b"1\r\n2")), 2
            )
            self.assertEqual(count_lines(write_bytes(os.path.join(d, "c"), b"\n\n")), 2)
