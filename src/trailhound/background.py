"""Run an iterator on a background thread, a bounded queue ahead of its consumer.

Used where producing the next item waits on something other than the consumer's CPU work:
reading and gunzipping log objects while DuckDB processes the previous batch, listing S3
while downloads run. Order is kept, an exception in the producer is raised in the consumer,
and closing the consumer stops the producer (its generator is closed on its own thread, so
its `finally` blocks run there) before returning.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def ahead(items: Iterator[T], *, maxsize: int, name: str) -> Iterator[T]:
    q: queue.Queue[object] = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as e:  # surfaced in the consumer
            put(e)
        finally:
            close = getattr(items, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while t.is_alive():  # drain so a blocked producer sees `stop` and exits
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
