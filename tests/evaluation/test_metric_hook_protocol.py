"""ImbalancedClsMetric(cls_num_list='auto') filled by the lead's
SetClassCountsHook, through the hook's public ``before_val``/``before_test``
entry points and a stand-in runner (no training)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

import lmfloss_mm  # noqa: F401
from lmfloss_mm.evaluation.metrics import ImbalancedClsMetric
from mmpretrain.registry import HOOKS


class TinyDataset:
    metainfo = dict(classes=('a', 'b', 'c'))

    def get_gt_labels(self):
        return np.array([0] * 150 + [1] * 50 + [2] * 5)


def fake_runner(evaluator):
    model = torch.nn.Module()
    model.head = SimpleNamespace(num_classes=3)
    return SimpleNamespace(
        model=model, _train_loop=object(),
        train_dataloader=SimpleNamespace(dataset=TinyDataset()),
        val_evaluator=evaluator, test_evaluator=evaluator)


@pytest.mark.parametrize('stage', ['before_val', 'before_test'])
def test_hook_fills_auto_metric(stage):
    auto = ImbalancedClsMetric(num_classes=3, cls_num_list='auto')
    fixed = ImbalancedClsMetric(cls_num_list=[1, 2, 3], prefix='fixed')
    evaluator = Evaluator([auto, fixed])
    hook = HOOKS.build(dict(type='SetClassCountsHook'))
    getattr(hook, stage)(fake_runner(evaluator))
    assert auto.cls_num_list == [150, 50, 5]
    assert fixed.cls_num_list == [1, 2, 3]  # not auto: left alone

    scores = torch.eye(3)[[0, 1, 2, 0]] * 0.8 + 0.2 / 3
    evaluator.process([
        dict(pred_score=s, gt_label=torch.tensor([t]))
        for s, t in zip(scores, [0, 1, 2, 1])
    ])
    out = evaluator.evaluate(4)
    # 150 > 100: many; 50 in [20, 100]: medium; 5 < 20: few
    assert out['imbalanced/many_shot_acc'] == pytest.approx(100.0)
    assert out['imbalanced/medium_shot_acc'] == pytest.approx(50.0)
    assert out['imbalanced/few_shot_acc'] == pytest.approx(100.0)
    assert 'fixed/many_shot_acc' not in out  # counts 1, 2, 3: all few-shot
    assert out['fixed/few_shot_acc'] == pytest.approx(250 / 3)
