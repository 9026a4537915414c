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


@dataclass
class Problem:
    message: str
    count: int
    first_s: float
    last_s: float
    last_logged_s: float


class ProblemLog:
    """
    Known problems by key: say each once per `throttle_s`, keep them for diagnostics.

    A problem is active until `clear(key)` (the input is good again) or until it has not
    recurred for `expire_s`.
    """

    def __init__(self, throttle_s: float = 10.0, expire_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._throttle = throttle_s
        self._expire = expire_s
        self._clock = clock
        self._problems: Dict[str, Problem] = {}
        self._lock = threading.Lock()

    def report(self, key: str, message: str) -> bool:
        """Record a problem; return True when it should be logged now."""
        now = self._clock()
        with self._lock:
            p = self._problems.get(key)
            if p is None or p.message != message:
                self._problems[key] = Problem(message, 1, now, now, now)
                return True
            p.count += 1
            p.last_s = now
            if now - p.last_logged_s >= self._throttle:
                p.last_logged_s = now
                return True
            return False

    def clear(self, key: str) -> None:
        with self._lock:
            self._problems.pop(key, None)

    def active(self) -> List[Tuple[str, Problem]]:
        now = self._clock()
        with self._lock:
            for key in [k for k, p in self._problems.items() if now - p.last_s > self._expire]:
                del self._problems[key]
            return sorted(self._problems.items())

    def get(self, key: str) -> Optional[Problem]:
        with self._lock:
            return self._problems.get(key)
