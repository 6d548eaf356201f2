import pytest

from .tiny_runner import make_image_folder


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """The tiny image folder of tiny_runner, once per module."""
    return make_image_folder(tmp_path_factory.mktemp('data'))
