"""MMEngine's checkpoint loading, through the restricted loader.

MMEngine 0.10.7 reads local checkpoints with ``torch.load(filename)``. On
torch >= 2.6 that is the weights-only unpickler without the types MMEngine
checkpoints contain, so ``resume=True``, ``load_from=<file>`` and
``tools/test.py CONFIG CHECKPOINT`` (``mim test``) fail; with
``weights_only=False`` a crafted checkpoint could run any code.

MMEngine's ``http://``/``https://`` loader downloads into torch hub's cache
and reads the file with ``torch.hub.load_state_dict_from_url``, whose
default is full unpickling; a file already in the cache is read without a
download or a hash check.

Importing :mod:`lmfloss_mm` registers, in
:class:`mmengine.runner.CheckpointLoader`, :func:`load_from_local` for local
paths (the ``''`` scheme) and :func:`load_from_http` for ``http://`` and
``https://``. Every such load of MMEngine (resume, ``load_from``,
``init_cfg=dict(type='Pretrained', ...)``,
``mmengine.runner.load_checkpoint``) then goes through
:func:`~lmfloss_mm.runner.safe_load.load_checkpoint_file`. The other
schemes (``open-mmlab://``, ``torchvision://``, ``pavi://``, ``s3://``)
keep MMEngine's loaders.
"""
import os
import os.path as osp
from typing import Any, Optional
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.runner import CheckpointLoader

from .safe_load import load_checkpoint_file


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """Load a local checkpoint without running code from it.

    Args:
        filename (str): Path of the checkpoint (``~`` is expanded).
        map_location: Passed to :func:`torch.load`. Defaults to None.

    Returns:
        The checkpoint, as :func:`torch.load` returns it.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location=map_location)


#: Former name of :func:`load_from_local`, kept for existing imports.
load_from_local_trusted = load_from_local


def cached_download(url: str,
                    model_dir: Optional[str] = None,
                    progress: bool = True) -> str:
    """The file ``torch.hub.load_state_dict_from_url`` would read for
    ``url``: ``<model_dir>/<file name of the url>``, downloaded first when
    missing.

    Args:
        url (str): ``http://`` or ``https://`` address of the checkpoint.
        model_dir (str, optional): Cache folder. Defaults to
            ``<torch.hub.get_dir()>/checkpoints``.
        progress (bool): Show a download progress bar. Defaults to True.

    Returns:
        str: Path of the cached file.
    """
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        torch.hub.download_url_to_file(url, cached, None, progress=progress)
    return cached


def load_from_http(filename: str,
                   map_location: Any = None,
                   model_dir: Optional[str] = None,
                   progress: bool = os.isatty(0)) -> Any:
    """MMEngine's ``http(s)://`` loader with the restricted loader: rank 0
    downloads into the cache (:func:`cached_download`), then every rank
    reads the cached file with :func:`load_checkpoint_file`.

    Args:
        filename (str): ``http://`` or ``https://`` address.
        map_location: Passed to :func:`torch.load`. Defaults to None.
        model_dir (str, optional): Cache folder (see
            :func:`cached_download`). Defaults to None.
        progress (bool): Show a download progress bar. Defaults to whether
            standard input is a terminal.

    Returns:
        The checkpoint, as :func:`torch.load` returns it.
    """
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = cached_download(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = cached_download(filename, model_dir, progress)
    return load_checkpoint_file(cached, map_location=map_location)


def install() -> None:
    """Register :func:`load_from_local` for local paths and
    :func:`load_from_http` for ``http(s)://`` (idempotent)."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_http, force=True)


install()
