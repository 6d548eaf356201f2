"""AtomicCheckpointHook: a save interrupted half-way leaves a run that
resumes to exactly the weights of an uninterrupted run; MMEngine's
CheckpointHook, interrupted the same way, leaves a run that cannot resume
or a truncated best checkpoint."""
import builtins
import os
import zipfile
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import CheckpointLoader, Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.engine.hooks.atomic_checkpoint_hook import (partial_path,
                                                           write_atomic)

from .tiny_runner import (PROJECT_CHECKPOINT, assert_equal_tensors,
                          resumable_config)

EPOCHS = 3
#: With lr 3e-3 the tiny run's validation accuracy rises every epoch (60,
#: 80, 85 %): each epoch's best checkpoint replaces the previous one.
LR = 3e-3
#: What the project's settings leave after an uninterrupted run.
REFERENCE_FILES = {'best_accuracy_top1_epoch_3.pth', 'epoch_3.pth',
                   'last_checkpoint'}


class SimulatedKill(BaseException):
    """Stops a run where a kill would (no ``except Exception`` catches it)."""


class _HalfWriter:
    """A file whose ``write`` writes half of the bytes, then dies."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(data[:len(data) // 2])
        self.file.close()
        raise SimulatedKill(f'killed while writing {self.file.name}')


def kill_while_writing(monkeypatch, name):
    """Make the first binary write of checkpoint ``name`` (or of its
    partial file) write half of its bytes and die."""
    real_open = builtins.open
    targets = {name, Path(partial_path(name)).name}

    def fake_open(file, mode='r', *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if 'wb' in mode and Path(str(file)).name in targets:
            monkeypatch.setattr(builtins, 'open', real_open)
            return _HalfWriter(handle)
        return handle

    monkeypatch.setattr(builtins, 'open', fake_open)




@pytest.fixture(scope='module')
def data_root(image_folder):
    return image_folder


def train(data_root, work_dir, hook='AtomicCheckpointHook', resume=False,
          epochs=EPOCHS, **checkpoint):
    cfg = resumable_config(
        data_root, work_dir, epochs, resume=resume,
        checkpoint=dict(PROJECT_CHECKPOINT, type=hook, **checkpoint),
        loss=dict(type='CrossEntropyLoss'))
    cfg['optim_wrapper'] = dict(optimizer=dict(type='Adam', lr=LR))
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    return runner


def checkpoint_files(work_dir):
    """Checkpoints, the pointer and partial files (not logs, not configs)."""
    return {p.name for p in Path(work_dir).iterdir()
            if p.suffix in ('.pth', '.partial') or p.name == 'last_checkpoint'}


def weights(path):
    return CheckpointLoader.load_checkpoint(str(path))['state_dict']


def assert_same_checkpoints(work_dir, expected_dir, names):
    for name in names - {'last_checkpoint'}:
        assert_equal_tensors(weights(work_dir / name),
                             weights(expected_dir / name), name)


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    """An uninterrupted run: its work dir and final weights."""
    work_dir = tmp_path_factory.mktemp('reference')
    runner = train(data_root, work_dir)
    assert checkpoint_files(work_dir) == REFERENCE_FILES
    assert (work_dir / 'last_checkpoint').read_text() == str(
        work_dir / 'epoch_3.pth')
    assert_equal_tensors(weights(work_dir / 'epoch_3.pth'),
                         runner.model.state_dict())
    return work_dir, runner.model.state_dict()


def test_keeps_the_checkpoints_checkpoint_hook_keeps(data_root, tmp_path):
    """Iteration checkpoints with max_keep_ckpts=2 and a best checkpoint:
    the same files with the same weights as MMEngine's hook."""
    settings = dict(by_epoch=False, interval=2, max_keep_ckpts=2)
    for hook in ('CheckpointHook', 'AtomicCheckpointHook'):
        train(data_root, tmp_path / hook, hook=hook, epochs=1, **settings)
    expected = checkpoint_files(tmp_path / 'CheckpointHook')
    # iter_2 was removed, the last two and the best one are kept
    assert expected == {'iter_4.pth', 'iter_5.pth',
                        'best_accuracy_top1_iter_5.pth', 'last_checkpoint'}
    assert checkpoint_files(tmp_path / 'AtomicCheckpointHook') == expected
    assert_same_checkpoints(tmp_path / 'AtomicCheckpointHook',
                            tmp_path / 'CheckpointHook', expected)


@pytest.mark.parametrize('interrupted', [
    'epoch_2.pth', 'best_accuracy_top1_epoch_2.pth'])
def test_interrupted_save_resumes_to_the_same_weights(
        reference, data_root, tmp_path, monkeypatch, interrupted):
    kill_while_writing(monkeypatch, interrupted)
    with pytest.raises(SimulatedKill):
        train(data_root, tmp_path)
    # the earlier complete checkpoints are all there, nothing half-written
    # killed before epoch 2's regular checkpoint was complete, or after
    last = 'epoch_1.pth' if interrupted == 'epoch_2.pth' else 'epoch_2.pth'
    before = {last, 'best_accuracy_top1_epoch_1.pth', 'last_checkpoint'}
    assert checkpoint_files(tmp_path) == before
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / last)
    for name in before - {'last_checkpoint'}:
        weights(tmp_path / name)  # loads
    # a real kill leaves the partial file behind: the next run removes it
    leftover = Path(partial_path(str(tmp_path / interrupted)))
    leftover.write_bytes(b'half a checkpoint')

    runner = train(data_root, tmp_path, resume=True)

    work_dir, final = reference
    assert_equal_tensors(runner.model.state_dict(), final)
    assert not leftover.exists()
    assert checkpoint_files(tmp_path) == REFERENCE_FILES
    assert_same_checkpoints(tmp_path, work_dir, REFERENCE_FILES)


def test_checkpoint_hook_interrupted_the_same_way_loses_the_run(
        data_root, tmp_path, monkeypatch):
    """Why the hook exists: MMEngine's hook removes the previous checkpoint
    before it writes the next one."""
    regular = tmp_path / 'regular'
    kill_while_writing(monkeypatch, 'epoch_2.pth')
    with pytest.raises(SimulatedKill):
        train(data_root, regular, hook='CheckpointHook')
    assert (regular / 'last_checkpoint').read_text() == str(
        regular / 'epoch_1.pth')
    assert not (regular / 'epoch_1.pth').exists()
    with pytest.raises(FileNotFoundError, match='epoch_1.pth'):
        train(data_root, regular, hook='CheckpointHook', resume=True)

    best = tmp_path / 'best'
    kill_while_writing(monkeypatch, 'best_accuracy_top1_epoch_2.pth')
    with pytest.raises(SimulatedKill):
        train(data_root, best, hook='CheckpointHook')
    assert checkpoint_files(best) == {
        'epoch_2.pth', 'best_accuracy_top1_epoch_2.pth', 'last_checkpoint'}
    # torch checkpoints are zip archives; this one lost its end (the zip
    # directory): the best model is lost
    assert not zipfile.is_zipfile(best / 'best_accuracy_top1_epoch_2.pth')
    assert zipfile.is_zipfile(best / 'epoch_2.pth')


def test_write_atomic_keeps_the_old_content_until_the_new_is_complete(
        tmp_path, monkeypatch):
    path = tmp_path / 'file.bin'
    write_atomic(str(path), b'old')

    def die(fd):
        raise SimulatedKill

    with monkeypatch.context() as patch:
        patch.setattr(os, 'fsync', die)
        with pytest.raises(SimulatedKill):
            write_atomic(str(path), b'new content')
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['file.bin']
    write_atomic(str(path), b'new content')
    assert path.read_bytes() == b'new content'
    assert os.listdir(tmp_path) == ['file.bin']
