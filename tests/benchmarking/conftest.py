"""Fixtures of the benchmark tests: the cross-validation tool as a module,
a small generated copy of the ISIC 2018 Task 3 test set layout and the
real one when it is present."""
import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO  # noqa: F401  (used by the test modules)
GT_HEADER = ['image', 'MEL', 'NV', 'BCC', 'AKIEC', 'BKL', 'DF', 'VASC']
#: ISIC 2018 one-hot column -> HAM10000 class index (akiec, bcc, bkl, df,
#: mel, nv, vasc)
COLUMN_TO_INDEX = dict(MEL=4, NV=5, BCC=1, AKIEC=0, BKL=2, DF=3, VASC=6)


def make_isic2018_like(root, counts, image_size=16, seed=0,
                       image_folder='images'):
    """Write ``root/<image_folder>/ISIC_<n>.jpg`` and the one-hot
    ``ISIC2018_Task3_Test_GroundTruth.csv`` (values ``0.0``/``1.0``).

    Args:
        counts (dict): ISIC column -> number of images.

    Returns:
        dict: image id -> HAM10000 class index.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / image_folder).mkdir(parents=True, exist_ok=True)
    labels, rows, number = {}, [], 34524
    for column, n in counts.items():
        for _ in range(n):
            image_id = f'ISIC_{number:07d}'
            number += 1
            colour = 40 * COLUMN_TO_INDEX[column] + 20
            pixels = np.clip(colour + rng.normal(0, 10, (image_size,
                                                         image_size, 3)),
                             0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / image_folder /
                                         f'{image_id}.jpg')
            rows.append([image_id] + [
                '1.0' if c == column else '0.0' for c in GT_HEADER[1:]
            ])
            labels[image_id] = COLUMN_TO_INDEX[column]
    order = rng.permutation(len(rows))  # file order != class order
    with open(root / 'ISIC2018_Task3_Test_GroundTruth.csv', 'w',
              newline='') as f:
        writer = csv.writer(f)
        writer.writerow(GT_HEADER)
        writer.writerows(rows[i] for i in order)
    return labels


@pytest.fixture(scope='session')
def bench_tool(load_tool):
    """tools/benchmark_isic2018_cv.py as a module."""
    return load_tool('benchmark_isic2018_cv')


@pytest.fixture
def real_data(shared_data):
    """The real ISIC 2018 Task 3 test set; skipped when absent."""
    path = shared_data / 'isic2018_task3_test'
    if not (path / 'ISIC2018_Task3_Test_GroundTruth.csv').is_file():
        pytest.skip(f'real ISIC 2018 Task 3 test data not available ({path})')
    return path
