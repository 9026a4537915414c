# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip_depth_ros: metric depth from a frozen CLIP, as a library, tools and a ROS 2 node."""

__version__ = '0.1.0'

__all__ = ['DepthEstimator', 'ModelConfig', 'InferenceConfig', '__version__']


def __getattr__(name: str):
    # Lazy: `import clip_depth_ros` stays cheap for tools that only need the config.
    if name == 'DepthEstimator':
        from clip_depth_ros.engine.inference import DepthEstimator
        return DepthEstimator
    if name in ('ModelConfig', 'InferenceConfig'):
        from clip_depth_ros import config
        return getattr(config, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
