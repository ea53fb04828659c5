import os
import subprocess
import sys
import tempfile
import unittest

from torchrec_dlf.safe_output import (
    check_output,
    check_writable_directory,
    discard,
    publish,
    remove_stale_siblings,
    temp_sibling,
    write_text_atomically,
)
from torchrec_dlf.user_errors import OutputError


def _write(path: str, text: str = "x") -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


class CheckOutputTest(unittest.TestCase):
    def test_refuses_what_it_did_not_write(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            foreign = os.path.join(d, "foreign")
            _write(os.path.join(foreign, "notes.txt"))
            with self.assertRaisesRegex(
                OutputError,
                r"^--output .*/foreign: a non-empty directory this command did not write",
            ):
                check_output(foreign, "--output", owned=lambda p: False)
            check_output(
                foreign, "--output", owned=lambda p: True
            )  # its own earlier output
            check_output(foreign, "--output", owned=lambda p: False, overwrite=True)
            check_output(os.path.join(d, "empty_or_new"), "--output")
            os.mkdir(os.path.join(d, "empty"))
            check_output(os.path.join(d, "empty"), "--output")

    def test_kinds(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            f = _write(os.path.join(d, "f"))
            with self.assertRaisesRegex(OutputError, "exists and is not a directory"):
                check_output(f, "--output", kind="dir")
            with self.assertRaisesRegex(
                OutputError, "is a directory, expected a file path"
            ):
                check_output(d, "--output", kind="file")
            with self.assertRaisesRegex(
                OutputError, "a file this command did not write"
            ):
                check_output(f, "--output", kind="file")
            check_output(f, "--output", kind="file", owned=lambda p: True)
            with self.assertRaisesRegex(
                OutputError, "is a file, not a directory|not a directory"
            ):
                check_output(os.path.join(f, "below"), "--output", kind="file")

    def test_refuses_to_replace_an_input(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "data")
            _write(os.path.join(data, "part"))
            link = os.path.join(d, "link")
            os.symlink(data, link)
            for out in (data, d, link):
                with self.assertRaisesRegex(
                    OutputError, "the output would replace the input"
                ):
                    check_output(out, "--output", owned=lambda p: True, inputs=[data])

    def test_writable_directory_probe_leaves_nothing(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            check_writable_directory(os.path.join(d, "a", "b", "c"), "--output_dir")
            self.assertEqual(os.listdir(d), [])
            _write(os.path.join(d, "file"))
            with self.assertRaisesRegex(OutputError, "exists and is not a directory"):
                check_writable_directory(os.path.join(d, "file"), "--output_dir")
            with self.assertRaisesRegex(OutputError, "is a file, not a directory"):
                check_writable_directory(os.path.join(d, "file", "x"), "--output_dir")
        with self.assertRaisesRegex(
            OutputError, r"^--output_dir /proc/x/y: cannot write there"
        ):
            check_writable_directory("/proc/x/y", "--output_dir")


class PublishTest(unittest.TestCase):
    def test_directory_replaces_the_old_one_only_when_complete(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            final = os.path.join(d, "out")
            _write(os.path.join(final, "old.txt"), "old")
            tmp = temp_sibling(final)
            self.assertTrue(os.path.basename(tmp).startswith(".out.tmp-"))
            _write(os.path.join(tmp, "new.txt"), "new")
            publish(tmp, final)
            self.assertEqual(os.listdir(final), ["new.txt"])
            self.assertEqual(os.listdir(d), ["out"])  # no temporary, no old copy

    def test_file(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            final = _write(os.path.join(d, "m.pt"), "old")
            write_text_atomically(final, "new")
            self.assertEqual(_read(final), "new")
            self.assertEqual(os.listdir(d), ["m.pt"])
            tmp = _write(temp_sibling(final))
            discard(tmp)
            discard(tmp)  # already gone
            self.assertEqual(os.listdir(d), ["m.pt"])


class RemoveStaleSiblingsTest(unittest.TestCase):
    def test_removes_only_temporaries_of_dead_processes_of_this_host(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out")
            dead = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; sys.path.insert(0, sys.argv[2]);"
                    "from torchrec_dlf.safe_output import temp_sibling;"
                    "import os; p = temp_sibling(sys.argv[1]); os.makedirs(p);"
                    "open(os.path.join(p, 'big'), 'w').write('x' * 1000);"
                    "open(temp_sibling(sys.argv[1], 'spill', '.arrow'), 'w').write('y')",
                    out,
                    os.getcwd(),
                ],
                check=True,
            )
            self.assertEqual(dead.returncode, 0)
            mine = temp_sibling(out)
            os.makedirs(mine)
            other_host = os.path.join(d, ".out.tmp-otherhost-1-abcdef12")
            os.makedirs(other_host)
            unrelated = _write(os.path.join(d, ".other.tmp-x-1-y"))
            user_file = _write(os.path.join(d, "out.tmp"))
            removed = remove_stale_siblings(out)
            self.assertEqual(len(removed), 2)
            self.assertEqual(
                sorted(os.listdir(d)),
                sorted(
                    os.path.basename(p)
                    for p in (mine, other_host, unrelated, user_file)
                ),
            )


if __name__ == "__main__":
    unittest.main()
