# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rates, latencies and throttled problem reports, for logs and /diagnostics."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import threading
import time
from typing import Callable, Deque, Dict, List, Optional, Tuple

import numpy as np


class RateMeter:
    """Events per second over a sliding time window."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._window = window_s
        self._clock = clock
        self._times: Deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            now = self._clock()
            self._times.append(now)
            self._trim(now)

    def rate_hz(self) -> float:
        with self._lock:
            now = self._clock()
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()


class LatencyStats:
    """The last N latencies in milliseconds: median, p90, max."""

    def __init__(self, size: int = 100) -> None:
        self._values: Deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, latency_ms: float) -> None:
        with self._lock:
            self._values.append(latency_ms)

    def summary(self) -> Dict[str, float]:
        with self._lock:
            values = np.array(self._values, dtype=np.float64)
        if values.size == 0:
            return {}
        return {'median_ms': float(np.median(values)), 'p90_ms': float(np.percentile(values, 90)),
                'max_ms': float(values.max())}


MESSAGE_CHARS = 200  # a problem message is cut to this, whatever the data put in it
MAX_KEYS = 64  # distinct problem keys kept; callers use a fixed set of kinds anyway
OVERFLOW_KEY = 'problems.other'


def truncate(message: str, limit: int = MESSAGE_CHARS) -> str:
    """Cut `message` to `limit` characters, saying how long it was."""
    message = str(message)
    if len(message) <= limit:
        return message
    note = f'... ({len(message)} chars)'
    return message[:max(0, limit - len(note))] + note


@dataclass
class Problem:
    message: str
    count: int
    first_s: float
    last_s: float
    last_logged_s: float


class ProblemLog:
    """
    Known problems by key: say each key once per `throttle_s`, keep them for diagnostics.

    Throttling is by key (a stable kind, e.g. 'image.too_large'), never by message text: the
    text of a bad input varies from message to message. The latest message (cut to
    MESSAGE_CHARS) and a count of every occurrence are kept per key. A problem is active until
    `clear(key)` (the input is good again) or until it has not recurred for `expire_s`; the
    throttle outlives both, so a stream alternating good and bad frames is still said once
    per `throttle_s`.
    """

    def __init__(self, throttle_s: float = 10.0, expire_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._throttle = throttle_s
        self._expire = expire_s
        self._clock = clock
        self._problems: Dict[str, Problem] = {}
        self._last_logged: Dict[str, float] = {}
        self._totals: Dict[str, int] = {}
        self._lock = threading.Lock()

    def report(self, key: str, message: str) -> bool:
        """Record a problem; return True when it should be logged now (once per key and period)."""
        now = self._clock()
        message = truncate(message)
        with self._lock:
            if key not in self._totals and len(self._totals) >= MAX_KEYS:
                key = OVERFLOW_KEY
            self._totals[key] = self._totals.get(key, 0) + 1
            p = self._problems.get(key)
            if p is None:
                p = self._problems[key] = Problem(message, 0, now, now, float('-inf'))
            p.message, p.last_s = message, now
            p.count += 1
            last = self._last_logged.get(key)
            if last is None or now - last >= self._throttle:
                self._last_logged[key] = p.last_logged_s = now
                return True
            return False

    def clear(self, key: str) -> None:
        with self._lock:
            self._problems.pop(key, None)

    def clear_prefix(self, prefix: str) -> None:
        """Clear every key starting with `prefix` (e.g. 'image.' once a frame is good)."""
        with self._lock:
            for key in [k for k in self._problems if k.startswith(prefix)]:
                del self._problems[key]

    def active(self) -> List[Tuple[str, Problem]]:
        now = self._clock()
        with self._lock:
            for key in [k for k, p in self._problems.items() if now - p.last_s > self._expire]:
                del self._problems[key]
            return sorted(self._problems.items())

    def get(self, key: str) -> Optional[Problem]:
        with self._lock:
            return self._problems.get(key)

    def totals(self) -> Dict[str, int]:
        """Every occurrence per key since start, including cleared and expired problems."""
        with self._lock:
            return dict(self._totals)


class StampGaps:
    """
    Frames lost before the node saw them, estimated from gaps in the frames' header stamps.

    The camera's period is the smallest of the last `window` stamp steps (consecutive frames,
    even when most frames are lost on the way; it reads high when none of them were
    consecutive, and the count then low: an estimate); a step of more than
    1.5 periods counts round(step / period) - 1 frames lost. Frames dropped inside DDS (a
    keep-last queue overrun) or on the network appear only here: the node never sees them.
    A stamp going backwards (a bag looping, a clock reset) starts the estimate again.
    """

    def __init__(self, window: int = 200, min_steps: int = 5) -> None:
        self._steps: Deque[int] = deque(maxlen=window)
        self._min_steps = min_steps
        self._last: Optional[int] = None
        self.lost = 0
        self._lock = threading.Lock()

    def add(self, stamp_ns: Optional[int]) -> None:
        if stamp_ns is None:
            return
        with self._lock:
            last, self._last = self._last, stamp_ns
            if last is None or stamp_ns == last:
                return
            step = stamp_ns - last
            if step < 0:
                self._steps.clear()
                return
            period = self._period()
            if period and step > 1.5 * period:
                self.lost += int(round(step / period)) - 1
            self._steps.append(step)

    def _period(self) -> Optional[float]:
        if len(self._steps) < self._min_steps:
            return None
        return float(min(self._steps))

    def period_s(self) -> Optional[float]:
        """Return the camera's frame period as its stamps say (None before enough frames)."""
        with self._lock:
            period = self._period()
        return period * 1e-9 if period else None
