# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The depth node's /diagnostics: one status for the model, one per camera.

What each status says is decided in `serving.camera_stream` (plain Python, tested without a
graph); this module only turns those (level, message, values) into diagnostic_msgs.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header


def status(name: str, level: int, message: str, hardware_id: str,
           values: Dict[str, str]) -> DiagnosticStatus:
    """Build one DiagnosticStatus from its parts."""
    return DiagnosticStatus(level=bytes([level]), name=name, message=message,
                            hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=v) for k, v in values.items()])


def diagnostic_array(stamp, statuses: Sequence[Tuple[str, int, str, str, Dict[str, str]]]
                     ) -> DiagnosticArray:
    """Build a DiagnosticArray stamped `stamp` of (name, level, message, hardware_id, values)."""
    return DiagnosticArray(header=Header(stamp=stamp),
                           status=[status(*entry) for entry in statuses])
