import os
import tempfile
import unittest

from tests.preprocessing.helpers import write_bytes
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.table_header import split_header
from torchrec_dlf.preprocessing.text_files import read_first_line


class HeaderTest(unittest.TestCase):
    def test_header(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = write_bytes(os.path.join(d, "h.csv"), b"\xef\xbb\xbfa,b\r\n1,2\r\n")
            self.assertEqual(split_header(path, ","), ["a", "b"])
            self.assertEqual(read_first_line(path), (b"\xef\xbb\xbfa,b", True))
            only = write_bytes(os.path.join(d, "o.csv"), b"a,b\n")
            with self.assertRaisesRegex(PreparationError, "has a header but no rows"):
                split_header(only, ",")
            twice = write_bytes(os.path.join(d, "t.csv"), b"a,b,a\n1,2,3\n")
            with self.assertRaisesRegex(
                PreparationError, r"names \['a'\] more than once"
            ):
                split_header(twice, ",")
