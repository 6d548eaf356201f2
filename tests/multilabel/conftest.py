"""Shared fixtures of the multi-label tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def split_cache(tmp_path, monkeypatch):
    """Keep split files written for read-only roots out of ~/.cache."""
    cache = tmp_path / 'lmfloss_cache'
    monkeypatch.setenv('LMFLOSS_MM_CACHE', str(cache))
    return cache


@pytest.fixture(scope='package', autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, 2 threads under load
    made a ResNet-50 step 15x slower than 1 thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
