import shutil

import pytest


@pytest.fixture
def marker(tmp_path):
    """Where harmful test programs create a directory (``pickles.py``)."""
    path = tmp_path / 'created-by-the-payload'
    yield path
    shutil.rmtree(path, ignore_errors=True)
