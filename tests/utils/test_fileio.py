"""lmfloss_mm.fileio: atomic writes of text and bytes, with and without
syncing to disk."""
import os

import pytest

from lmfloss_mm import fileio


def test_bytes_replace_the_target_in_one_step(tmp_path):
    target = tmp_path / 'sub' / 'image.png'
    fileio.write_bytes_atomic(str(target), b'\x89PNG first')
    assert target.read_bytes() == b'\x89PNG first'
    fileio.write_bytes_atomic(str(target), b'second')
    assert target.read_bytes() == b'second'
    assert sorted(os.listdir(target.parent)) == ['image.png']


def test_a_failed_write_keeps_the_old_content(tmp_path):
    target = tmp_path / 'a.bin'
    target.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='half-way'):
        with fileio.atomic_open(str(target), binary=True) as f:
            f.write(b'new')
            raise RuntimeError('stopped half-way')
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['a.bin']  # no partial file left


@pytest.mark.parametrize('sync, fsyncs', [(True, 2), (False, 0)])
def test_sync_flushes_the_file_and_its_folder(tmp_path, monkeypatch, sync,
                                              fsyncs):
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync',
                        lambda fd: calls.append(fd) or real_fsync(fd))
    target = tmp_path / 'b.bin'
    fileio.write_bytes_atomic(str(target), b'data', sync=sync)
    assert target.read_bytes() == b'data'
    expected = fsyncs if os.name == 'posix' else fsyncs // 2
    assert len(calls) == expected
