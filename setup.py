# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_python package; also a plain pip-installable Python package."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'clip_depth_ros'


def share(folder: str, pattern: str = '*'):
    files = sorted(f for f in glob(os.path.join(folder, pattern)) if os.path.isfile(f))
    return (os.path.join('share', PACKAGE, folder), files)


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'benchmarks']),
    package_data={PACKAGE: ['model_configs/*.json', 'data/*/*.txt', 'data/*/*.md',
                            'data/*/rgb/*.png', 'data/*/depth/*.png']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        share('launch', '*.launch.py'),
        share('config'),
        share('rviz', '*.rviz'),
    ],
    python_requires='>=3.10',
    install_requires=[
        'setuptools',
        'numpy',
        'torch>=2.4',
        'torchvision',
        'open_clip_torch>=2.24',
        'safetensors',
        'opencv-python-headless<5',
        'PyYAML',
        'h5py',
        'scipy',
        'tqdm',
        'rosbags>=0.10',
    ],
    extras_require={
        'test': ['pytest', 'pytest-timeout', 'mcap', 'mcap-ros2-support', 'pillow',
                 # what ament_flake8 / ament_pep257 run, as ROS 2 configures them
                 'flake8', 'pydocstyle', 'flake8-quotes', 'flake8-import-order',
                 'flake8-builtins', 'flake8-comprehensions', 'flake8-docstrings'],
        'train': ['tensorboard'],
        'export': ['onnx', 'onnxruntime'],
        'bench': ['transformers'],
    },
    zip_safe=True,
    maintainer='clip_depth_ros maintainers',
    maintainer_email='maintainers@clip-depth-ros.invalid',
    description='Metric depth from a monocular camera with a frozen CLIP (CLIP2Depth), for ROS 2',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'clip-depth-init = clip_depth_ros.cli.init:main',
            'clip-depth-infer = clip_depth_ros.cli.infer:main',
            'clip-depth-bag = clip_depth_ros.cli.bag:main',
            'clip-depth-export = clip_depth_ros.cli.export:main',
            'clip-depth-demo = clip_depth_ros.ros.demo:main',
            'clip-depth-train = clip_depth_ros.cli.train:main',
            'clip-depth-eval = clip_depth_ros.cli.eval:main',
            'depth_node = clip_depth_ros.ros.run_node:main',
        ],
    },
)
