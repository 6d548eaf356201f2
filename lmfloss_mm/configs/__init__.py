"""The project's configs, for configs outside this repository.

MMEngine 0.10.7 resolves ``package::path`` config bases only for the
OpenMMLab packages it lists (``mmpretrain::...`` works, ``lmfloss_mm::...``
fails with "mmengine does not support to load lmfloss_mm config"), and two
``_base_`` files may not set the same keys, so the project's runtime cannot
be a second base of a user's config.  A config is Python, though, and the
names it imports after its ``_base_`` line become its own keys, which
override the bases like keys written by hand::

    _base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
    from lmfloss_mm.configs.imbalanced_runtime import *  # noqa: F401,F403

:mod:`lmfloss_mm.configs.imbalanced_runtime` provides the keys that
``configs/_base_/imbalanced_runtime.py`` sets on top of MMPretrain's default
runtime, read from that file (:func:`runtime_overrides`), so the two never
differ.  The configs are found by :func:`config_root`: in an installed
wheel they are packaged as ``lmfloss_mm/.mim/configs`` (the OpenMMLab
layout), in a source checkout or editable install they are the checkout's
``configs/``.
"""
import ast
import os.path as osp
from typing import Dict

from mmengine.config import Config

#: Top-level keys whose value replaces the base's (``_delete_=True``)
#: instead of being merged into it: a base's evaluator arguments (e.g.
#: ``Accuracy(topk=(1, 5))``) are not arguments of another metric.
REPLACED_KEYS = ('val_evaluator', 'test_evaluator')

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Where an installed wheel keeps the configs (``lmfloss_mm/.mim/configs``).
PACKAGED_CONFIGS = osp.join(_PACKAGE, '.mim', 'configs')
#: The configs of a source checkout (next to the package folder).
CHECKOUT_CONFIGS = osp.join(osp.dirname(_PACKAGE), 'configs')


def config_root() -> str:
    """The folder of the project's configs: ``lmfloss_mm/.mim/configs`` in
    an installed wheel, else ``configs/`` of the source checkout.

    Raises:
        FileNotFoundError: If neither exists (a build without configs).
    """
    for root in (PACKAGED_CONFIGS, CHECKOUT_CONFIGS):
        if osp.isfile(osp.join(root, '_base_', 'imbalanced_runtime.py')):
            return root
    raise FileNotFoundError(
        'The lmfloss_mm configs are missing: neither '
        f'{PACKAGED_CONFIGS} (installed package) nor {CHECKOUT_CONFIGS} '
        '(source checkout) exists. Reinstall lmfloss-mm with `pip install .` '
        'or `pip install -e .` from its source folder.')


def runtime_overrides(relpath: str) -> Dict[str, object]:
    """The keys a config file sets itself, without those of its
    ``_base_``, as overrides for another config.

    The file is parsed by MMEngine with its ``_base_`` assignment removed;
    the values of :data:`REPLACED_KEYS` get ``_delete_=True`` so that they
    replace the base's value.

    Args:
        relpath (str): The config, relative to :func:`config_root`, e.g.
            ``'_base_/imbalanced_runtime.py'``.

    Returns:
        dict: Key -> plain ``dict`` / ``list`` / value.
    """
    path = osp.join(config_root(), relpath)
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    tree.body = [
        node for node in tree.body
        if not (isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == '_base_'
            for t in node.targets))
    ]
    keys = Config.fromstring(ast.unparse(tree), '.py').to_dict()
    for key in REPLACED_KEYS:
        if isinstance(keys.get(key), dict):
            keys[key] = dict(_delete_=True, **keys[key])
    return keys


__all__ = ['config_root', 'runtime_overrides', 'REPLACED_KEYS']
