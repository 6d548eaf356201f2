"""Clear errors for files the restricted loader cannot read, the trusted
files escape hatch, and the torch version check."""
import os
import pickle
import tarfile

import pytest
import torch
from mmengine.runner import CheckpointLoader

import lmfloss_mm  # noqa: F401  (registers the local checkpoint loader)
from lmfloss_mm.runner import (TRUSTED_CHECKPOINTS_ENV, UnreadableFileError,
                               UnsafePickleError, load_checkpoint_file,
                               load_pickle_file)
from lmfloss_mm.runner import safe_load

from .pickles import call, global_, program, text, torch_zip, write

DAMAGED_FIX = 'work_dir/last_checkpoint'


def _saved(path, **kwargs):
    torch.save({'state_dict': {'w': torch.arange(100.0)}}, path, **kwargs)
    return str(path)


def _truncated(path):
    with open(path, 'rb') as f:
        data = f.read()
    return write(path, data[:len(data) // 2])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nothing.pth'))


def test_empty_file(tmp_path):
    path = write(tmp_path / 'empty.pth', b'')
    with pytest.raises(UnreadableFileError) as info:
        CheckpointLoader.load_checkpoint(path)
    assert f'{path} is empty (0 bytes)' in str(info.value)
    assert DAMAGED_FIX in str(info.value)


@pytest.mark.parametrize('zip_format', [True, False], ids=['zip', 'legacy'])
def test_truncated_checkpoint(tmp_path, zip_format):
    path = _truncated(_saved(tmp_path / 'cut.pth',
                             _use_new_zipfile_serialization=zip_format))
    with pytest.raises(UnreadableFileError) as info:
        load_checkpoint_file(path)
    assert f'{path} is truncated or damaged' in str(info.value)
    assert DAMAGED_FIX in str(info.value)


def test_legacy_non_zip_checkpoint_loads(tmp_path):
    path = _saved(tmp_path / 'legacy.pth',
                  _use_new_zipfile_serialization=False)
    loaded = load_checkpoint_file(path)
    assert torch.equal(loaded['state_dict']['w'], torch.arange(100.0))


def test_tar_format_of_old_torch(tmp_path):
    path = tmp_path / 'old.pth'
    member = write(tmp_path / 'storages', pickle.dumps(0, protocol=2))
    with tarfile.open(path, 'w') as tar:
        tar.add(member, arcname='storages')
    with pytest.raises(UnreadableFileError) as info:
        load_checkpoint_file(str(path))
    message = str(info.value)
    assert f'{path} cannot be loaded: it is in the .tar format' in message
    assert TRUSTED_CHECKPOINTS_ENV in message


@pytest.mark.parametrize('content', [
    pickle.dumps({'state_dict': {}}), b'not a checkpoint\n', b'\x00' * 64
], ids=['plain-pickle', 'text', 'zeros'])
def test_not_a_torch_file(tmp_path, content):
    path = write(tmp_path / 'other.pth', content)
    with pytest.raises(UnreadableFileError,
                       match='neither in the zip format of torch.save'):
        load_checkpoint_file(path)


# ----------------------------------------------------------- pickle files
def test_pickle_file_errors(tmp_path):
    with pytest.raises(UnreadableFileError, match='empty.pkl cannot be read'):
        load_pickle_file(write(tmp_path / 'empty.pkl', b''))
    data = pickle.dumps([{'pred_score': [0.5, 0.5]}] * 50)
    with pytest.raises(UnreadableFileError, match='cut.pkl cannot be read'):
        load_pickle_file(write(tmp_path / 'cut.pkl', data[:len(data) // 2]))
    with pytest.raises(UnreadableFileError,
                       match='ckpt.pth is a zip archive'):
        load_pickle_file(_saved(tmp_path / 'ckpt.pth'))
    with pytest.raises(FileNotFoundError):
        load_pickle_file(tmp_path / 'missing.pkl')


# ------------------------------------------------------- trusted files
@pytest.fixture
def crafted(tmp_path):
    """A checkpoint that creates ``marker`` when fully unpickled."""
    marker = tmp_path / 'marker'
    path = write(tmp_path / 'mine.pth', torch_zip(program(
        call(global_('os', 'mkdir'), text(str(marker))))))
    return path, marker


@pytest.fixture
def warnings_logged(monkeypatch):
    logged = []
    monkeypatch.setattr(safe_load, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    return logged


def test_listed_file_is_loaded_fully_with_a_warning(
        crafted, tmp_path, monkeypatch, warnings_logged):
    path, marker = crafted
    other = str(tmp_path / 'other.pth')
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, os.pathsep.join(
        [other, path]))
    load_checkpoint_file(path)  # full unpickling: the payload runs
    assert marker.is_dir()
    assert len(warnings_logged) == 1 and path in warnings_logged[0]
    assert 'os.mkdir' in warnings_logged[0]


def test_relative_and_linked_paths_name_the_same_file(
        crafted, tmp_path, monkeypatch, warnings_logged):
    path, marker = crafted
    link = tmp_path / 'link.pth'
    link.symlink_to(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, 'mine.pth')
    load_checkpoint_file(str(link))
    assert marker.is_dir()


@pytest.mark.parametrize('listed', ['{dir}/mine', '{dir}/mine.pth.bak', ''],
                         ids=['prefix', 'other-file', 'empty'])
def test_other_entries_do_not_trust_the_file(crafted, tmp_path, monkeypatch,
                                             listed, warnings_logged):
    path, marker = crafted
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, listed.format(dir=tmp_path))
    with pytest.raises(UnsafePickleError, match='os.mkdir'):
        load_checkpoint_file(path)
    assert not marker.exists() and not warnings_logged


def test_directories_cannot_be_trusted(crafted, tmp_path, monkeypatch):
    path, marker = crafted
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, str(tmp_path))
    with pytest.raises(ValueError, match='lists the directory'):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_listed_file_that_is_safe_loads_restricted(tmp_path, monkeypatch,
                                                   warnings_logged):
    path = _saved(tmp_path / 'fine.pth')
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, path)
    assert torch.equal(load_checkpoint_file(path)['state_dict']['w'],
                       torch.arange(100.0))
    assert not warnings_logged


def test_torch_without_named_safe_globals(tmp_path, monkeypatch, crafted,
                                          warnings_logged):
    """On torch < 2.6 nothing is unpickled unless the file is listed."""
    monkeypatch.setattr(torch, '__version__', '2.5.1')
    path = _saved(tmp_path / 'fine.pth')
    with pytest.raises(UnreadableFileError, match=r'needs torch>=2\.6\.0'):
        load_checkpoint_file(path)
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, path)
    assert 'state_dict' in load_checkpoint_file(path)
    assert len(warnings_logged) == 1
