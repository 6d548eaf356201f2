"""The project's imbalance defaults as config keys for any config.

Import them right after the ``_base_`` line of an MMPretrain config::

    _base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
    from lmfloss_mm.configs.imbalanced_runtime import *  # noqa: F401,F403

The names are the keys that ``configs/_base_/imbalanced_runtime.py`` sets on
top of MMPretrain's default runtime (read from that file, see
:func:`lmfloss_mm.configs.runtime_overrides`): ``ImbalancedClsMetric``
as ``val_evaluator`` and ``test_evaluator`` (replacing the base's), the
checkpoint with the best validation macro-F1 in ``default_hooks``, the
project's ``custom_hooks`` (``SetClassCountsHook`` among them, which fills
``cls_num_list='auto'``) and the other runtime keys of that file.  A key
written after the import line replaces the imported one: extend the hooks
with ``custom_hooks = custom_hooks + [...]``.
"""
import copy

from . import runtime_overrides

_KEYS = runtime_overrides('_base_/imbalanced_runtime.py')
__all__ = sorted(_KEYS)


def __getattr__(name: str):
    """A fresh copy of a key on every access: MMEngine edits a config's
    values in place while it merges them (it pops ``_delete_``), and the
    next config parsed in the same process must get the original."""
    if name in _KEYS:
        return copy.deepcopy(_KEYS[name])
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return list(__all__)
