"""NonFiniteLossHook stops training at the first NaN/Inf loss, before any
checkpoint holds the weights of that step; finite runs are unchanged."""
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.runner import CheckpointLoader, Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.engine import NonFiniteLossError, NonFiniteLossHook

from .tiny_runner import assert_equal_tensors, runner_config

#: Epoch 2, batch 2 of 5.
POISONED_ITER = 7


class _PoisonAt(Hook):
    """Set the head's bias to NaN before training iteration ``iteration``
    (1-based): from then on every logit, hence the loss, is NaN."""

    def __init__(self, iteration):
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.iteration:
            with torch.no_grad():
                runner.model.head.fc.bias.fill_(math.nan)




@pytest.fixture(scope='module')
def data_root(image_folder):
    return image_folder


def train(data_root, work_dir, check=True, poison_at=None):
    """Two epochs of five iterations, a checkpoint after every iteration
    from the 6th on."""
    cfg = runner_config(data_root, work_dir, max_epochs=2, hooks=False,
                        loss=dict(type='CrossEntropyLoss'))
    cfg['custom_hooks'] = [dict(type='NonFiniteLossHook')] if check else []
    cfg['default_hooks']['checkpoint'] = dict(
        type='AtomicCheckpointHook', by_epoch=False, interval=1,
        save_begin=6)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader']['dataset']['serialize_data'] = False
    runner = Runner.from_cfg(Config(cfg))
    if poison_at:
        runner.register_hook(_PoisonAt(poison_at))
    runner.train()
    return runner


def checkpoints(work_dir):
    return sorted(p.name for p in Path(work_dir).glob('iter_*.pth'))


def weights(path):
    return CheckpointLoader.load_checkpoint(str(path))['state_dict']


def test_stops_at_the_first_non_finite_loss(data_root, tmp_path):
    stopped, unchecked, finite = (tmp_path / name for name in (
        'stopped', 'unchecked', 'finite'))
    with pytest.raises(NonFiniteLossError) as error:
        train(data_root, stopped, poison_at=POISONED_ITER)
    message = str(error.value)
    assert 'iteration 7 (epoch 2, batch 2 of 5)' in message
    assert 'loss=nan' in message
    assert f'The last checkpoint is {stopped / "iter_6.pth"}' in message
    assert message.count(str(data_root)) == 4  # the batch's images
    for cause in ('learning rate too high (now lr=0.001)', 'bfloat16',
                  "loss_scale='dynamic'", 'NaN or Inf in the inputs',
                  'cls_num_list'):
        assert cause in message
    # nothing of the failing step was saved
    assert checkpoints(stopped) == ['iter_6.pth']
    assert (stopped / 'last_checkpoint').read_text() == str(
        stopped / 'iter_6.pth')

    # without the hook the run goes on and saves NaN weights
    train(data_root, unchecked, check=False, poison_at=POISONED_ITER)
    assert checkpoints(unchecked) == [
        f'iter_{i}.pth' for i in (10, 6, 7, 8, 9)]
    assert weights(unchecked / 'iter_7.pth')['head.fc.bias'].isnan().all()

    # a finite run is not stopped, and the hook changes no weight
    runner = train(data_root, finite)
    assert runner.iter == 10 and 'iter_10.pth' in checkpoints(finite)
    for run in (stopped, unchecked):
        assert_equal_tensors(weights(run / 'iter_6.pth'),
                             weights(finite / 'iter_6.pth'))


def fake_runner(lr=0.1):
    """What the hook reads from a runner, outside a training loop."""
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return SimpleNamespace(
        iter=41, epoch=0, train_loop=SimpleNamespace(),
        message_hub=MessageHub.get_instance('non-finite-loss-test'),
        optim_wrapper=OptimWrapper(optimizer))


@pytest.mark.parametrize('outputs', [
    dict(loss=torch.tensor(math.inf)),
    dict(loss=torch.tensor(1.0), loss_focal=torch.tensor(-math.inf)),
    dict(loss=math.nan),
])
def test_any_non_finite_loss_term_stops(outputs):
    with pytest.raises(NonFiniteLossError, match='at iteration 42: loss='):
        NonFiniteLossHook().after_train_iter(fake_runner(), 41,
                                             outputs=outputs)


def test_finite_losses_and_other_entries_pass():
    hook, runner = NonFiniteLossHook(), fake_runner()
    hook.after_train_iter(runner, 0, outputs=dict(
        loss=torch.tensor(0.5), loss_ldam=0.25, accuracy=math.nan))
    hook.after_train_iter(runner, 0, outputs=None)


def test_message_counts_non_finite_inputs_and_lists_the_images():
    inputs = torch.zeros(10, 3, 2, 2)
    inputs[3, 0, 0, 0] = math.nan
    inputs[5, 1] = math.inf
    samples = [SimpleNamespace(metainfo=dict(img_path=f'img{i}.png'))
               for i in range(10)]
    with pytest.raises(NonFiniteLossError) as error:
        NonFiniteLossHook().after_train_iter(
            fake_runner(lr=0.5), 0,
            data_batch=dict(inputs=inputs, data_samples=samples),
            outputs=dict(loss=torch.tensor(math.nan)))
    message = str(error.value)
    assert 'this batch has 5 non-finite input values' in message
    assert 'images of this batch: img0.png, img1.png' in message
    assert 'img7.png and 2 more' in message and 'img8.png' not in message
    assert 'now lr=0.5' in message
    assert 'No checkpoint was saved yet.' in message
