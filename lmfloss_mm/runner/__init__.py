"""Checkpoint and pickle loading that cannot run code from the file.

See :mod:`lmfloss_mm.runner.safe_load` and ``docs/checkpoints.md``.
"""
from .checkpoint import load_from_local
from .errors import UnreadableFileError, UnsafePickleError
from .safe_load import (MIN_TORCH_VERSION, TRUSTED_CHECKPOINTS_ENV,
                        load_checkpoint_file, load_pickle_file)

__all__ = [
    'MIN_TORCH_VERSION', 'TRUSTED_CHECKPOINTS_ENV', 'UnreadableFileError',
    'UnsafePickleError', 'load_checkpoint_file', 'load_from_local',
    'load_pickle_file'
]
