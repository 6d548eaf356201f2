import pytest

from .tiny_runner import make_image_folder, one_torch_thread


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op torch thread for a module (see one_torch_thread)."""
    with one_torch_thread():
        yield


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """The tiny image folder of tiny_runner, once per module."""
    return make_image_folder(tmp_path_factory.mktemp('data'))
