"""The datasets of a config's splits, for the command lines that work on
them (``tools/check_data.py``, ``tools/dataset_stats.py``,
``tools/prepare_image_cache.py``): their common arguments, loading the
config and the ``--cfg-options`` that change each split's dataset."""
import argparse
import os
from typing import Mapping, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from .splits import SPLIT_NAMES

__all__ = ['positive_int', 'add_config_arguments', 'load_dataset_config',
           'dataset_cfg_options']


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def add_config_arguments(parser: argparse.ArgumentParser,
                         splits_help: str,
                         workers_help: Optional[str] = None) -> None:
    """Add ``config``, ``--splits`` and ``--cfg-options`` to ``parser``,
    and with ``workers_help`` also ``--workers`` (>= 1, default the CPU
    count) and ``--no-progress``.

    Args:
        parser (ArgumentParser): The tool's parser.
        splits_help (str): Help of ``--splits`` (which splits the tool
            reads, default all three).
        workers_help (str, optional): Help of ``--workers`` (what the
            processes do); None for a tool without workers.
    """
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--splits', nargs='+', default=list(SPLIT_NAMES),
        choices=SPLIT_NAMES, help=splits_help)
    if workers_help is not None:
        parser.add_argument(
            '--workers', type=positive_int, default=os.cpu_count() or 1,
            help=f'{workers_help} (default: the CPU count)')
        parser.add_argument(
            '--no-progress', action='store_true', help='no progress bar')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, xxx=yyy format, as in '
        'tools/train.py')


def load_dataset_config(path: str,
                        cfg_options: Optional[dict] = None) -> Config:
    """The config at ``path`` with ``cfg_options`` merged and its default
    scope (``mmpretrain`` when it names none) set, so that its datasets
    can be built."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def dataset_cfg_options(cfg, splits: Sequence[str], settings: Mapping,
                        unless_set: Optional[str] = None) -> str:
    """The ``--cfg-options`` words that give ``settings`` to the dataset of
    each split of ``splits`` that the config has.

    Args:
        cfg (Config): The config.
        splits (Sequence[str]): ``'train'``, ``'val'``, ``'test'``.
        settings (Mapping): Dataset key (dotted for nested keys) -> value.
        unless_set (str, optional): Leave out the datasets that already
            set this key. Defaults to None.

    Returns:
        str: ``<split>_dataloader.dataset.<key>=<value> ...``, separated by
        spaces.
    """
    words = []
    for split in splits:
        dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset')
        if not dataset or (unless_set and dataset.get(unless_set)):
            continue
        words += [f'{split}_dataloader.dataset.{key}={value}'
                  for key, value in settings.items()]
    return ' '.join(words)
