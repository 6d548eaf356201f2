"""Load MMEngine checkpoints on torch >= 2.6 without disabling safe loading.

torch 2.6 made ``torch.load(weights_only=True)`` the default. MMEngine 0.10.7
calls ``torch.load`` without ``weights_only``, and the checkpoints it writes
hold training state (``message_hub`` with ``HistoryBuffer`` objects, numpy
arrays and scalars) that the safe unpickler refuses. ``resume=True``,
``load_from=<local file>`` and ``tools/test.py CONFIG CKPT`` (``mim test``)
therefore fail.

This module replaces MMEngine's loader for local paths (the ``''`` scheme of
``mmengine.runner.CheckpointLoader``), and nothing else:

1. The file is loaded with ``weights_only=True`` and, for this call only
   (``torch.serialization.safe_globals``), the numpy and MMEngine types that
   MMEngine checkpoints contain. State dicts and published checkpoints load
   this way.
2. If the safe load still fails, the globals the file needs are listed
   without executing it (``get_unsafe_globals_in_checkpoint``). Only when all
   of them are ones MMEngine's own checkpoints use (they include
   ``builtins.getattr``, which the safe unpickler cannot allow without
   losing its guarantees) is the file loaded with ``weights_only=False``,
   and a warning names it. Any other global raises an error that lists it.

Every other ``torch.load`` in the process keeps PyTorch's safe default.
Checkpoints are code: only resume from or test files you trust.
"""
import logging
import os.path as osp
import pickle
from typing import List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner import CheckpointLoader

#: Types MMEngine checkpoints contain, allowed for the safe first attempt.
SAFE_CHECKPOINT_TYPES = [HistoryBuffer, np.ndarray, np.dtype] + [
    getattr(np.dtypes, name) for name in dir(np.dtypes)
    if name.endswith('DType')
]
try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar
SAFE_CHECKPOINT_TYPES += [_reconstruct, scalar]

#: Module prefixes of every global found in checkpoints written by MMEngine.
MMENGINE_CHECKPOINT_GLOBAL_PREFIXES = (
    'mmengine.', 'numpy.', 'collections.', 'torch.', 'builtins.getattr',
    '_codecs.encode')


def _unexpected_globals(filename: str) -> List[str]:
    needed = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    return [g for g in needed
            if not g.startswith(MMENGINE_CHECKPOINT_GLOBAL_PREFIXES)]


def load_from_local_trusted(filename, map_location):
    """Load a local checkpoint: safely when possible, else as described in
    :mod:`lmfloss_mm.runner.checkpoint`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_TYPES):
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as safe_error:
        unexpected = _unexpected_globals(filename)
        if unexpected:
            raise pickle.UnpicklingError(
                f'{filename} needs globals that MMEngine checkpoints never '
                f'contain: {unexpected}. It was not loaded. If you trust '
                'this file, load it with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 '
                'set in the environment.') from safe_error
    print_log(
        f'lmfloss_mm: {filename} holds MMEngine training state that '
        "torch.load's safe mode cannot read; loading it with "
        'weights_only=False (only resume from or test checkpoints you '
        'trust).',
        logger='current',
        level=logging.WARNING)
    return torch.load(filename, map_location=map_location, weights_only=False)


def install() -> None:
    """Register the loader for local paths (idempotent)."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_trusted, force=True)


install()
