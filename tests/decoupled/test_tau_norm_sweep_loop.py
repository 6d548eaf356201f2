"""TauNormSweepLoop: validates every tau in order, keeps the first best,
reports what it did, and refuses what cannot work. (A real run through
MMEngine's Runner, with the best checkpoint, is in
test_decoupled_configs.py.)"""
from types import SimpleNamespace

import pytest
import torch.nn as nn
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import LOOPS

from lmfloss_mm.engine.loops import DEFAULT_TAUS, TauNormSweepLoop
from lmfloss_mm.models.heads import TauNormClsHead

KEY = 'imbalanced/macro_f1'


class Model(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head = head


class FakeValLoop:
    """Scores each tau from a table and records the order of the calls."""

    def __init__(self, head, scores):
        self.head, self.scores, self.seen = head, scores, []

    def run(self):
        tau = float(self.head.tau)
        self.seen.append(tau)
        return {KEY: self.scores[tau], 'imbalanced/accuracy': 50.0}


def make_runner(scores, head=None, hooks=(), name='tau'):
    head = head or TauNormClsHead(3, 4)
    calls = []
    runner = SimpleNamespace(
        model=Model(head), val_loop=FakeValLoop(head, scores),
        hooks=list(hooks), calls=calls,
        call_hook=lambda name, **kwargs: calls.append(name),
        message_hub=MessageHub.get_instance(f'test_{name}_{id(calls)}'))
    return runner


def test_every_tau_is_validated_and_the_first_best_kept():
    scores = {0.0: 10.0, 0.5: 30.0, 1.0: 30.0, 2.0: 20.0}
    runner = make_runner(scores)
    loop = TauNormSweepLoop(runner, dataloader=[], taus=[0, 0.5, 1, 2])
    epochs = []
    runner.val_loop.run = (lambda run: lambda: (epochs.append(loop.epoch),
                                                run())[1])(runner.val_loop.run)
    assert runner.model is loop.run()
    assert runner.val_loop.seen == [0.0, 0.5, 1.0, 2.0]
    assert epochs == [1, 2, 3, 4]  # validation k counts as epoch k
    assert loop.results == [(0.0, 10.0), (0.5, 30.0), (1.0, 30.0),
                            (2.0, 20.0)]
    assert loop.best_tau == 0.5  # a tie keeps the first, as save_best does
    assert float(runner.model.head.tau) == 0.5
    assert runner.message_hub.get_info('tau_norm/best_tau') == 0.5
    assert runner.calls == ['before_train', 'after_train']
    assert (loop.max_epochs, loop.max_iters, loop.iter) == (4, 0, 0)


def test_the_default_grid_is_kangs():
    runner = make_runner({t: t for t in DEFAULT_TAUS})
    loop = TauNormSweepLoop(runner, dataloader=[])
    assert loop.taus == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
                         1.0]
    loop.run()
    assert loop.best_tau == 1.0 and len(runner.val_loop.seen) == 11
    assert LOOPS.get('TauNormSweepLoop') is TauNormSweepLoop


@pytest.mark.parametrize('taus', [[], [0.1, -0.2], [float('nan')], [True],
                                  [0.5, 0.5], '01'])
def test_invalid_taus_are_refused(taus):
    with pytest.raises(ValueError, match='taus'):
        TauNormSweepLoop(make_runner({}), dataloader=[], taus=taus)


def test_the_head_must_be_tau_normalised():
    runner = make_runner({}, head=LinearClsHead(3, 4))
    with pytest.raises(TypeError, match='needs model.head of type '
                       'TauNormClsHead, got LinearClsHead'):
        TauNormSweepLoop(runner, dataloader=[]).run()


def test_a_validation_set_and_the_metric_are_needed():
    runner = make_runner({0.0: 1.0})
    runner.val_loop = None
    with pytest.raises(ValueError, match='needs val_dataloader'):
        TauNormSweepLoop(runner, dataloader=[], taus=[0]).run()
    runner = make_runner({0.0: 1.0})
    with pytest.raises(KeyError, match="no 'single-label/f1-score'"):
        TauNormSweepLoop(runner, dataloader=[], taus=[0],
                         metric='single-label/f1-score').run()


def test_the_checkpoint_hook_must_keep_the_same_metric():
    other = CheckpointHook(save_best='imbalanced/accuracy')
    runner = make_runner({0.0: 1.0}, hooks=[other])
    with pytest.raises(ValueError, match='another metric'):
        TauNormSweepLoop(runner, dataloader=[], taus=[0]).run()
    same = CheckpointHook(save_best=KEY, rule='greater')
    runner = make_runner({0.0: 1.0}, hooks=[same, CheckpointHook()])
    TauNormSweepLoop(runner, dataloader=[], taus=[0]).run()
