"""Train with LMFLoss and 'auto' counts, save, resume and test a checkpoint
on the installed torch (>= 2.6 loads with weights_only=True by default)."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader, Runner

import lmfloss_mm  # noqa: F401

from .tiny_runner import make_image_folder, runner_config


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


class _Payload:
    """Unpickling this would create a file: a stand-in for malicious code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_foreign_pickles_are_refused(tmp_path):
    marker = tmp_path / 'created-by-unpickling'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _Payload(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"never contain: \[.io.open.\]"):
        CheckpointLoader.load_checkpoint(str(path))
    assert not marker.exists()


def test_other_torch_load_calls_stay_safe(trained):
    _, work_dir = trained
    with pytest.raises(pickle.UnpicklingError):
        torch.load(work_dir / 'epoch_1.pth')  # torch's own safe default
