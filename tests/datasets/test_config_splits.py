"""lmfloss_mm.datasets.config_splits: the arguments, config loading and
``--cfg-options`` shared by the tools that work on a config's datasets."""
import argparse
import os

import pytest
from mmengine.config import Config

from lmfloss_mm.datasets.config_splits import (add_config_arguments,
                                               dataset_cfg_options,
                                               load_dataset_config)


def parser_with(workers_help=None):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, 'splits to read', workers_help)
    return parser


def test_arguments_and_their_defaults():
    args = parser_with('decoding processes').parse_args(
        ['c.py', '--cfg-options', 'a.b=1'])
    assert (args.config, args.splits, args.cfg_options) == (
        'c.py', ['train', 'val', 'test'], {'a.b': 1})
    assert (args.workers, args.no_progress) == (os.cpu_count() or 1, False)
    args = parser_with().parse_args(['c.py', '--splits', 'test'])
    assert args.splits == ['test'] and not hasattr(args, 'workers')


@pytest.mark.parametrize('argv', [['c.py', '--workers', '0'],
                                  ['c.py', '--splits', 'dev']])
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit):
        parser_with('decoding processes').parse_args(argv)
    assert ('must be >= 1, got 0' if '--workers' in argv else
            "invalid choice: 'dev'") in capsys.readouterr().err


def test_options_reach_every_split_that_has_a_dataset(tmp_path):
    path = tmp_path / 'config.py'
    path.write_text(
        "train_dataloader = dict(dataset=dict(type='HAM10000'))\n"
        "test_dataloader = dict(dataset=dict(type='HAM10000', "
        "image_cache=dict(root='c')))\nval_dataloader = None\n")
    cfg = load_dataset_config(str(path), {'train_dataloader.batch_size': 4})
    assert cfg.train_dataloader.batch_size == 4
    splits = ('train', 'val', 'test')
    assert dataset_cfg_options(cfg, splits, dict(exclude_file='x.txt')) == (
        'train_dataloader.dataset.exclude_file=x.txt '
        'test_dataloader.dataset.exclude_file=x.txt')
    options = dataset_cfg_options(
        cfg, splits, {'image_cache.root': 'r', 'image_cache.short_side': 8},
        unless_set='image_cache')
    assert options == ('train_dataloader.dataset.image_cache.root=r '
                       'train_dataloader.dataset.image_cache.short_side=8')
    # the words are --cfg-options that give the settings
    cfg.merge_from_dict(dict(w.split('=', 1) for w in options.split()))
    assert cfg.train_dataloader.dataset.image_cache == dict(root='r',
                                                            short_side='8')
    assert isinstance(cfg, Config)
