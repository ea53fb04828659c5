import os
import re
import tempfile
import unittest

from torchrec_dlf.preprocessing.criteo_format import write_criteo_tsv


class WriteCriteoTsvTest(unittest.TestCase):
    def test_exact_format(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "train.txt")
            write_criteo_tsv(path, 2000, seed=3)
            with open(path, "rb") as f:
                data = f.read()
            self.assertTrue(data.endswith(b"\n"))
            self.assertNotIn(b"\r", data)
            lines = data.decode().split("\n")[:-1]
            self.assertEqual(len(lines), 2000)
            fields = [line.split("\t") for line in lines]
            self.assertTrue(all(len(f) == 40 for f in fields))
            self.assertEqual({f[0] for f in fields}, {"0", "1"})
            integers = [v for f in fields for v in f[1:14]]
            self.assertTrue(all(re.fullmatch(r"-?[0-9]+|", v) for v in integers))
            self.assertIn("", integers)
            self.assertTrue(any(v.startswith("-") for v in integers))
            hashes = [v for f in fields for v in f[14:]]
            self.assertTrue(all(re.fullmatch(r"[0-9a-f]{8}|", v) for v in hashes))
            self.assertIn("", hashes)

    def test_deterministic_and_line_endings(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            a, b, c = (os.path.join(d, n) for n in "abc")
            write_criteo_tsv(a, 300, seed=1)
            write_criteo_tsv(b, 300, seed=1, line_ending="\r\n", final_newline=False)
            write_criteo_tsv(c, 300, seed=2)
            with open(a, "rb") as fa, open(b, "rb") as fb, open(c, "rb") as fc:
                da, db, dc = fa.read(), fb.read(), fc.read()
            self.assertEqual(da, db.replace(b"\r\n", b"\n") + b"\n")
            self.assertNotEqual(da, dc)
