# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A one-frame mailbox: the newest frame replaces the pending one, so inference never queues."""

from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar

T = TypeVar('T')


class LatestSlot(Generic[T]):
    """Holds at most one item; `put` over an unread item drops it and counts the drop."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Optional[T] = None
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store `item`; return True if it replaced (dropped) an unread one."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: Optional[float] = None) -> Optional[T]:
        """Wait for an item and remove it; None on timeout or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiter; later `take` calls return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            self._item = None
