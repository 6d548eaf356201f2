"""ImbalancedClsMetric logs a per-class table and the headline metrics, and
CompactLogProcessor keeps the per-class lists out of the one-line log while
the test JSON keeps them.  Expected values come from scikit-learn."""
import glob
import json
import logging
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,
                             precision_recall_fscore_support)

from lmfloss_mm.evaluation import ImbalancedClsMetric
from tests.engine.tiny_runner import CLASSES, make_image_folder, runner_config

NAMES = ('melanoma', 'nevus', 'bcc', 'df')


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():
    """Messages logged to a fresh current MMLogger."""
    logger = MMLogger.get_instance(f'table_{uuid.uuid4().hex}')
    records = Records()
    logger.addHandler(records)
    yield records.messages
    logger.removeHandler(records)


def evaluate(metric, scores, target):
    metric.dataset_meta = dict(classes=NAMES)
    metric.process(None, [
        dict(gt_label=torch.tensor(t), pred_score=torch.tensor(s))
        for s, t in zip(scores, target)
    ])
    return metric.evaluate(len(target))


def test_table_rows_are_the_independent_per_class_values(logged):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, 80)
    scores = rng.random((80, 4)) + np.eye(4)[target] * 0.6
    scores /= scores.sum(1, keepdims=True)
    train_counts = [40, 300, 25, 6]
    evaluate(ImbalancedClsMetric(cls_num_list=train_counts), scores, target)
    (table, ) = [m for m in logged if 'ImbalancedClsMetric' in m]
    lines = table.splitlines()
    assert lines[0] == 'ImbalancedClsMetric (imbalanced): 80 samples'
    assert lines[1].split() == ['class', 'precision', 'recall', 'F1',
                                'support', 'train']
    pred = scores.argmax(1)
    p, r, f, s = precision_recall_fscore_support(
        target, pred, labels=range(4), zero_division=0)
    for i, name in enumerate(NAMES):
        assert lines[2 + i].split() == [
            name, f'{100 * p[i]:.1f}', f'{100 * r[i]:.1f}',
            f'{100 * f[i]:.1f}', str(s[i]), str(train_counts[i])]
    assert lines[6].split() == [
        'macro', f'{100 * p.mean():.1f}', f'{100 * r.mean():.1f}',
        f'{100 * f.mean():.1f}', '80', str(sum(train_counts))]
    headline = lines[7]
    assert headline.startswith(
        f'accuracy {100 * accuracy_score(target, pred):.2f}, balanced '
        f'accuracy {100 * balanced_accuracy_score(target, pred):.2f}, '
        f'macro-F1 {100 * f.mean():.2f}, weighted F1 ')
    assert 'macro AUC' in headline and 'ECE' in headline


def test_table_can_be_switched_off(logged):
    target = np.array([0, 1, 2, 3])
    evaluate(ImbalancedClsMetric(log_table=False), np.eye(4), target)
    assert not [m for m in logged if 'ImbalancedClsMetric' in m]


def test_compact_log_line_and_full_test_json(tmp_path):
    root = make_image_folder(tmp_path / 'data')
    cfg = runner_config(root, tmp_path / 'work', hooks=False,
                        loss=dict(type='CrossEntropyLoss'),
                        evaluator=dict(type='ImbalancedClsMetric'))
    cfg.update(log_processor=dict(type='CompactLogProcessor'),
               log_level='INFO')
    runner = Runner.from_cfg(cfg)
    runner.test()
    (log_file, ) = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(log_file) as f:
        log = f.read()
    (line, ) = [x for x in log.splitlines() if 'Epoch(test) [5/5]' in x
                and 'imbalanced/' in x]
    assert 'imbalanced/macro_f1' in line
    assert 'classwise' not in line and 'confusion_matrix' not in line
    for name in CLASSES:  # the table instead
        assert f'\n{name} ' in log
    (json_file, ) = glob.glob(osp.join(runner.log_dir, '*.json'))
    with open(json_file) as f:
        record = json.loads(f.read().splitlines()[-1])
    assert len(record['imbalanced/f1_classwise']) == 3
    assert sum(record['imbalanced/support_classwise']) == 20
    assert len(record['imbalanced/confusion_matrix']) == 3
