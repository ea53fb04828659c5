import threading
import time
import unittest
from typing import Iterator

from torchrec_dlf.background_iterator import BackgroundIterator, close_all


def _numbers(n: int, fail_at: int = -1) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise OSError(f"bad block {i}")
        yield i


class BackgroundIteratorTest(unittest.TestCase):
    def test_items_in_order(self) -> None:
        self.assertEqual(
            list(BackgroundIterator(_numbers(50), depth=3)), list(range(50))
        )

    def test_items_come_from_another_thread(self) -> None:
        seen = []

        def source() -> Iterator[str]:
            seen.append(threading.current_thread().name)
            yield "x"

        self.assertEqual(list(BackgroundIterator(source(), name="reader-1")), ["x"])
        self.assertEqual(seen, ["reader-1"])

    def test_error_after_the_items_before_it(self) -> None:
        it = BackgroundIterator(_numbers(10, fail_at=4), depth=2)
        got = []
        with self.assertRaisesRegex(OSError, "bad block 4"):
            for x in it:
                got.append(x)
        self.assertEqual(got, [0, 1, 2, 3])
        self.assertRaises(StopIteration, next, it)

    def test_stays_depth_ahead(self) -> None:
        produced = []

        def source() -> Iterator[int]:
            for i in range(100):
                produced.append(i)
                yield i

        it = BackgroundIterator(source(), depth=2)
        next(it)
        time.sleep(0.3)
        # one handed out, two queued, one waiting to be queued
        self.assertLessEqual(len(produced), 4)
        it.close()
        self.assertFalse(it.running)

    def test_close_stops_an_abandoned_thread(self) -> None:
        it = BackgroundIterator(_numbers(10**9), depth=1)
        next(it)
        self.assertTrue(it.running)
        with it:
            pass
        self.assertFalse(it.running)

    def test_close_all_stops_every_live_iterator(self) -> None:
        its = [BackgroundIterator(_numbers(10**9), depth=1) for _ in range(3)]
        for it in its:
            next(it)
        close_all()  # what runs at interpreter exit
        self.assertEqual([it.running for it in its], [False] * 3)

    def test_depth_must_be_positive(self) -> None:
        with self.assertRaisesRegex(ValueError, "depth must be >= 1"):
            BackgroundIterator(_numbers(1), depth=0)


if __name__ == "__main__":
    unittest.main()
