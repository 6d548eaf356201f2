"""``http(s)://`` checkpoints (``init_cfg=dict(type='Pretrained',
checkpoint='https://...')``) are read from torch hub's cache with the
restricted loader. The download is replaced by a local copy."""
import shutil
from collections import OrderedDict

import pytest
import torch
from mmengine.runner import CheckpointLoader, load_checkpoint

import lmfloss_mm  # noqa: F401  (registers the checkpoint loaders)
from lmfloss_mm.runner import UnsafePickleError

from .pickles import call, global_, program, text, torch_zip, write

URL = 'https://download.example.org/v0/resnet_8xb32_in1k_20210831-ea4938fc.pth'


class FakeServer:
    """Serves ``files[url]`` for ``torch.hub.download_url_to_file`` and
    records the urls downloaded."""

    def __init__(self):
        self.files, self.downloaded = {}, []

    def download(self, url, dst, hash_prefix=None, progress=True):
        self.downloaded.append(url)
        shutil.copy(self.files[url], dst)


@pytest.fixture
def server(tmp_path, monkeypatch):
    server = FakeServer()
    monkeypatch.setattr(torch.hub, 'download_url_to_file', server.download)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    return server


def test_published_weights_are_downloaded_once_and_loaded(tmp_path, server):
    model = torch.nn.Linear(3, 2)
    published = tmp_path / 'published.pth'
    torch.save(dict(meta=dict(dataset_meta=dict(classes=('a', 'b'))),
                    state_dict=OrderedDict(model.state_dict())), published)
    server.files[URL] = published
    target = torch.nn.Linear(3, 2)
    load_checkpoint(target, URL, map_location='cpu')
    assert torch.equal(target.weight, model.weight)
    cached = tmp_path / 'hub' / 'checkpoints' / URL.rsplit('/', 1)[1]
    assert cached.is_file()
    loaded = CheckpointLoader.load_checkpoint(URL, map_location='cpu')
    assert loaded['meta']['dataset_meta'] == dict(classes=('a', 'b'))
    assert server.downloaded == [URL]  # the second load reads the cache


def test_crafted_download_or_cache_file_is_refused(tmp_path, server):
    marker = tmp_path / 'marker'
    evil = write(tmp_path / 'evil.pth', torch_zip(program(
        call(global_('os', 'mkdir'), text(str(marker))))))
    server.files[URL] = evil
    with pytest.raises(UnsafePickleError) as info:
        CheckpointLoader.load_checkpoint(URL, map_location='cpu')
    assert 'hub/checkpoints/resnet_8xb32' in str(info.value)
    assert not marker.exists()
