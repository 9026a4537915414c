# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One-frame mailboxes: the newest frame replaces the pending one, so inference never queues."""

from __future__ import annotations

import threading
from typing import Callable, Dict, Generic, Hashable, List, Optional, Sequence, TypeVar

T = TypeVar('T')


class FrameSlots(Generic[T]):
    """
    One newest-frame slot per camera, and one condition the inference thread waits on.

    `take` hands out a batch: the pending camera that has cost least so far (`charge`: its
    decoding, refusals and inference, in seconds), together with every other pending camera
    of the same batch key (frame size). Turns are shared by cost, not by count: a camera whose
    frames are expensive (large, or bad and slow to refuse) cannot take more than its share of
    the inference thread, however fast it sends; a 5 Hz camera next to a 30 Hz one keeps its
    rate. A camera coming back after a pause starts level with the others, not with a credit.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self._cond = threading.Condition()
        self._items: Dict[str, Optional[T]] = dict.fromkeys(names)
        self._spent: Dict[str, float] = dict.fromkeys(names, 0.0)
        self._level = 0.0  # cost of the camera served last: where a returning camera starts
        self._closed = False
        self.dropped: Dict[str, int] = dict.fromkeys(names, 0)

    @property
    def names(self) -> List[str]:
        return list(self._items)

    def put(self, name: str, item: T) -> bool:
        """Store `item` as `name`'s newest frame; return True if it replaced an unread one."""
        with self._cond:
            replaced = self._items[name] is not None
            if replaced:
                self.dropped[name] += 1
            else:
                self._spent[name] = max(self._spent[name], self._level)
            self._items[name] = item
            self._cond.notify()
            return replaced

    def pending(self) -> List[str]:
        """List the cameras with a frame waiting."""
        with self._cond:
            return [n for n, v in self._items.items() if v is not None]

    def take(self, key: Callable[[str, T], Hashable] = lambda name, item: None,
             timeout: Optional[float] = None) -> Optional[Dict[str, T]]:
        """
        Wait for a frame; return {camera: item} for one batch, or None on timeout or close.

        `key(camera, item)` groups frames that can share a batch (their size).
        """
        with self._cond:
            self._cond.wait_for(lambda: self._closed or any(
                v is not None for v in self._items.values()), timeout)
            pending = [n for n, v in self._items.items() if v is not None]
            if not pending:
                return None
            first = min(pending, key=lambda n: self._spent[n])
            self._level = self._spent[first]
            batch_key = key(first, self._items[first])
            chosen = [n for n in pending
                      if n == first or key(n, self._items[n]) == batch_key]
            out = {}
            for n in chosen:
                out[n], self._items[n] = self._items[n], None
                self._spent[n] += 1e-6  # a turn costs something even when charged nothing
            return out

    def charge(self, name: str, seconds: float) -> None:
        """Count `seconds` of the inference thread's work toward `name`'s turns."""
        with self._cond:
            self._spent[name] += max(seconds, 0.0)

    def close(self) -> None:
        """Wake the waiter; later `take` calls return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            for n in self._items:
                self._items[n] = None
