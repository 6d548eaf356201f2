"""Shared fixtures for the dataset tests."""
import pytest


@pytest.fixture(autouse=True)
def split_cache(tmp_path, monkeypatch):
    """Keep split files written for read-only roots out of ~/.cache."""
    cache = tmp_path / 'lmfloss_cache'
    monkeypatch.setenv('LMFLOSS_MM_CACHE', str(cache))
    return cache
