"""Train with LMFLoss and 'auto' counts, save, resume and test a checkpoint
on the installed torch (>= 2.6 loads with weights_only=True by default)."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader, Runner

import lmfloss_mm  # noqa: F401

from .tiny_runner import assert_equal_tensors, make_image_folder, runner_config


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('run')
    data_root = make_image_folder(root / 'data')
    cfg = runner_config(data_root, root / 'work', max_epochs=1)
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    return cfg, root / 'work'


def test_resume_continues_from_the_saved_epoch(trained):
    cfg, work_dir = trained
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()
    resumed = dict(cfg, max_epochs=2, resume=True,
                   train_cfg=dict(cfg['train_cfg'], max_epochs=2),
                   experiment_name=cfg['experiment_name'] + '_resumed')
    runner = Runner.from_cfg(Config(resumed))
    runner.train()
    assert runner.epoch == 2 and runner.iter == 10  # 5 + 5 iterations
    assert (work_dir / 'epoch_2.pth').is_file()
    saved = torch.load(work_dir / 'epoch_2.pth', weights_only=False)
    assert saved['meta']['epoch'] == 2
    # margins are recomputed from the data, never stored
    assert not any('margins' in k for k in saved['state_dict'])


def test_load_from_and_test(trained):
    cfg, work_dir = trained
    test_cfg = dict(cfg, load_from=str(work_dir / 'epoch_1.pth'),
                    experiment_name=cfg['experiment_name'] + '_test')
    metrics = Runner.from_cfg(Config(test_cfg)).test()
    assert 0 <= metrics['accuracy/top1'] <= 100


def test_mim_test_loads_the_checkpoint(trained, tmp_path):
    cfg, work_dir = trained
    cfg = dict(cfg, log_level='INFO',
               custom_imports=dict(imports=['lmfloss_mm'],
                                   allow_failed_imports=False))
    cfg_file = tmp_path / 'tiny_lmf.py'
    Config(cfg).dump(str(cfg_file))
    result = subprocess.run(
        [sys.executable, '-m', 'mim', 'test', 'mmpretrain', str(cfg_file),
         '--checkpoint', str(work_dir / 'epoch_1.pth'),
         '--work-dir', str(tmp_path / 'test')],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert 'accuracy/top1' in output
    assert 'Unsupported global' not in output


def test_plain_state_dicts_load_in_safe_mode(tmp_path, monkeypatch):
    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {'epoch': 3}},
               path)
    calls = []
    original = torch.load
    monkeypatch.setattr(
        torch, 'load',
        lambda *a, **k: calls.append(k.get('weights_only')) or original(
            *a, **k))
    loaded = CheckpointLoader.load_checkpoint(str(path))
    assert loaded['meta']['epoch'] == 3 and calls == [True]


def test_schedulers_and_best_checkpoint_resume_exactly(trained, tmp_path):
    """Adam, StepLR/MultiStepLR and message-hub state that the Runner saves
    (a regular and a best checkpoint) come back unchanged through the
    restricted loader (crafted files: tests/runner/)."""
    cfg, work_dir = trained
    checkpoint_hook = dict(type='CheckpointHook', interval=1,
                           save_best='accuracy/top1', rule='greater')
    cfg = dict(cfg, work_dir=str(tmp_path), resume=True,
               default_hooks=dict(cfg['default_hooks'],
                                  checkpoint=checkpoint_hook),
               param_scheduler=[
                   dict(type='StepLR', step_size=1, gamma=0.5),
                   dict(type='MultiStepLR', milestones=[1, 3], gamma=0.1)])
    saving = Runner.from_cfg(Config(dict(
        cfg, load_from=str(work_dir / 'epoch_1.pth'),
        experiment_name=cfg['experiment_name'] + '_schedulers')))
    saving.train()  # resumes epoch 1 of 1: nothing left to train
    saving.val()  # the CheckpointHook saves the best checkpoint
    saving.save_checkpoint(str(tmp_path), 'full.pth')

    best = CheckpointLoader.load_checkpoint(
        str(tmp_path / 'best_accuracy_top1_epoch_1.pth'))
    assert_equal_tensors(best['state_dict'], saving.model.state_dict())
    assert best['message_hub']['runtime_info']['best_score'] == (
        saving.message_hub.get_info('best_score'))

    resumed = Runner.from_cfg(Config(dict(
        cfg, load_from=str(tmp_path / 'full.pth'),
        experiment_name=cfg['experiment_name'] + '_schedulers_resumed')))
    resumed.train()  # resumes after epoch 1: nothing left to train
    assert resumed.epoch == saving.epoch + 1  # saved as "after the epoch"
    assert_equal_tensors(resumed.model.state_dict(), saving.model.state_dict())
    assert_equal_tensors(resumed.optim_wrapper.state_dict(),
                         saving.optim_wrapper.state_dict())
    assert [s.state_dict() for s in resumed.param_schedulers] == [
        s.state_dict() for s in saving.param_schedulers]
    for key, buffer in saving.message_hub.log_scalars.items():
        restored = resumed.message_hub.get_scalar(key)
        assert type(restored) is HistoryBuffer
        for got, expected in zip(restored.data, buffer.data):
            assert (got == expected).all(), key


def test_other_torch_load_calls_stay_safe(trained):
    _, work_dir = trained
    with pytest.raises(pickle.UnpicklingError):
        torch.load(work_dir / 'epoch_1.pth')  # torch's own safe default
