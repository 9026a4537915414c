# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The steps every front end takes with a frame before the model, so all treat it alike.

The node, the bag tool, `clip-depth-infer` and evaluation call these: a frame the node skips
and counts by kind is skipped and counted by the same kind in a bag, and named with that kind's
message where one file is the job. Order: decode (limits and format checked first, inside the
decoder) -> the model's input rule -> the camera's intrinsics for this frame's size.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

from clip_depth_ros.frames.geometry import Intrinsics, InvalidIntrinsics
from clip_depth_ros.frames.limits import FrameRejected
import numpy as np

# What is published without usable camera_info, said the same way by every front end.
CANONICAL_FALLBACK = ('depth assumes the canonical camera; no depth/camera_info and no points')


def decode_for_model(decode: Callable[[], np.ndarray], estimator) -> np.ndarray:
    """
    Decode a frame and check it against the model's input rule.

    Every refusal is a FrameRejected whose `.kind` names the problem ('size' for the input
    rule's, the decoder's kinds otherwise; 'invalid' for any other ValueError of the decoder),
    so every front end can skip, count or report it by the same name.
    """
    try:
        rgb = decode()
    except FrameRejected:
        raise
    except ValueError as e:
        raise FrameRejected(str(e), 'invalid') from e
    try:
        estimator.input_size(rgb.shape[0], rgb.shape[1])  # FrameSizeError, kind 'size'
    except FrameRejected:
        raise
    except ValueError as e:  # another engine's rule (an ONNX model exported for one size)
        raise FrameRejected(str(e), 'size') from e
    return rgb


def usable_intrinsics(intr: Optional[Intrinsics], error: str, width: int,
                      height: int) -> Tuple[Optional[Intrinsics], str]:
    """
    Return the camera's intrinsics for a frame of `width` x `height`, or (None, why not).

    `intr`/`error` are what reading the camera_info gave (None and the reason when it could
    not be read). Intrinsics of another size than the frame's are not usable: the depth of
    such a frame assumes the canonical camera, and no camera_info or cloud goes with it.
    """
    if intr is None:
        return None, error
    try:
        intr.check_image_size(width, height)
    except InvalidIntrinsics as e:
        return None, str(e)
    return intr, ''


def read_intrinsics(to_intrinsics: Callable[[], Intrinsics]) -> Tuple[Optional[Intrinsics], str]:
    """(intrinsics, '') from a camera_info reader, or (None, why) when it holds none."""
    try:
        return to_intrinsics(), ''
    except InvalidIntrinsics as e:
        return None, str(e)
