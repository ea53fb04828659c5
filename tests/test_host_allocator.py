import os
import subprocess
import sys
import textwrap
import unittest

from torchrec_dlf.host_allocator import _glibc

# Runs in a fresh interpreter: the allocator's settings are per process. Prints what
# keep_freed_host_memory returned and how many bytes glibc had mmapped while a 64 MiB
# tensor lived, beyond what it had before.
PROBE = textwrap.dedent(
    """
    import ctypes, sys
    import torch
    from torchrec_dlf.host_allocator import host_allocator_mode, keep_freed_host_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    applied = keep_freed_host_memory()
    assert keep_freed_host_memory() == applied  # once per process
    before = libc.mallinfo2().hblkhd
    big = torch.ones(16 << 20)  # 64 MiB
    mapped = libc.mallinfo2().hblkhd - before
    del big
    print(applied, host_allocator_mode(), mapped)
    """
)


def _probe(mode: "str | None") -> "tuple[int, str]":
    env = dict(os.environ)
    env.pop("TORCHREC_DLF_HOST_ALLOCATOR", None)
    if mode is not None:
        env["TORCHREC_DLF_HOST_ALLOCATOR"] = mode
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True
    )
    return out.returncode, out.stdout + out.stderr


def _has_mallinfo2() -> bool:
    libc = _glibc()
    return libc is not None and hasattr(libc, "mallinfo2")


@unittest.skipUnless(_has_mallinfo2(), "needs glibc >= 2.33 (mallinfo2)")
class KeepFreedHostMemoryTest(unittest.TestCase):
    def test_large_tensor_comes_from_the_heap(self) -> None:
        rc, out = _probe(None)
        self.assertEqual(rc, 0, out)
        applied, mode, mapped = out.split()
        self.assertEqual((applied, mode, int(mapped)), ("True", "keep", 0))

    def test_system_leaves_glibc_mapping_large_blocks(self) -> None:
        rc, out = _probe("system")
        self.assertEqual(rc, 0, out)
        applied, mode, mapped = out.split()
        self.assertEqual((applied, mode), ("False", "system"))
        # glibc's own behaviour, which "keep" changes: a 64 MiB block is mmapped.
        self.assertGreaterEqual(int(mapped), 64 << 20)

    def test_bad_value_names_the_variable(self) -> None:
        rc, out = _probe("jemalloc")
        self.assertNotEqual(rc, 0)
        self.assertIn(
            "TORCHREC_DLF_HOST_ALLOCATOR must be one of ('keep', 'system'), "
            "got 'jemalloc'",
            out,
        )

    def test_training_command_line_reports_bad_value_in_one_line(self) -> None:
        env = dict(os.environ, TORCHREC_DLF_HOST_ALLOCATOR="tcmalloc")
        out = subprocess.run(
            [sys.executable, "-m", "torchrec_dlf.train", "--epochs", "1"],
            env=env,
            capture_output=True,
            text=True,
        )
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(
            out.stderr.strip().splitlines(),
            [
                "error: TORCHREC_DLF_HOST_ALLOCATOR must be one of ('keep', "
                "'system'), got 'tcmalloc'"
            ],
        )


if __name__ == "__main__":
    unittest.main()
