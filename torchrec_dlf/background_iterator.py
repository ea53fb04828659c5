"""An iterator run in a background thread a few items ahead of its consumer."""

import atexit
import queue
import threading
import weakref
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class BackgroundIterator(Generic[T]):
    """
    Runs ``source`` in a daemon thread, ``depth`` items ahead. Used where the producer
    spends its time in native code that releases the GIL (pyarrow reading row groups or
    parsing CSV blocks), so producing the next item overlaps the consumer's work on the
    current one. An exception raised by ``source`` is re-raised by ``next`` in the
    consumer, after the items produced before it.

    ``close`` stops the thread and waits for it (it finishes the item it is producing).
    Iterators abandoned mid-way are closed at interpreter exit, because a daemon thread
    still inside native code while the interpreter finalises can abort the process
    ("terminate called without an active exception").

    Args:
        source (Iterator[T]): the items, produced in the background thread.
        depth (int): items produced ahead of the consumer (>= 1).
        name (str): the thread's name.

    Example::

        for block in BackgroundIterator(reader.blocks(), depth=2, name="block-reader"):
            ...
    """

    _END = object()

    def __init__(self, source: Iterator[T], depth: int = 2, name: str = "") -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._queue: "queue.Queue[object]" = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._run,
            args=(source,),
            name=name or "background-iterator",
            daemon=True,
        )
        self._thread.start()
        _LIVE.add(self)

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as e:  # handed to the consumer
            self._put(e)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> "BackgroundIterator[T]":
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is self._END:
            self._done = True
            self._stop.set()
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            self._stop.set()
            raise item
        return item  # pyre-ignore[7]

    def close(self, timeout: float = 30.0) -> None:
        """Stops the thread and waits up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> "BackgroundIterator[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __del__(self) -> None:
        self._stop.set()


_LIVE: "weakref.WeakSet[BackgroundIterator]" = weakref.WeakSet()


@atexit.register
def close_all() -> None:
    """Closes every live iterator (runs at interpreter exit)."""
    for iterator in list(_LIVE):
        iterator.close()
