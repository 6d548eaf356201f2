"""CheckSplitOverlapHook warns, naming how many images the training set and
an evaluation set share, and stays quiet for disjoint splits."""
import glob
import os.path as osp

from mmengine.runner import Runner

from lmfloss_mm.datasets import make_fake_image_csv
from lmfloss_mm.engine.hooks.check_split_overlap_hook import image_files
from mmpretrain.registry import DATASETS
from .tiny_runner import make_image_folder, runner_config


def log_text(runner):
    (path, ) = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(path) as f:
        return f.read()


def overlap_config(data_root, work_dir):
    cfg = runner_config(data_root, work_dir, loss=dict(
        type='CrossEntropyLoss'), hooks=False)
    cfg['custom_hooks'] = [dict(type='CheckSplitOverlapHook')]
    cfg['default_hooks']['checkpoint'] = None
    return cfg


def test_image_files_are_the_resolved_image_paths(tmp_path):
    root = make_image_folder(tmp_path / 'data')
    dataset = DATASETS.build(dict(type='CustomDataset', data_root=root))
    expected = {osp.realpath(p)
                for p in glob.glob(osp.join(root, '*', '*.png'))}
    assert image_files(dataset) == expected and len(expected) == 20


def test_same_images_for_training_and_evaluation_warn(tmp_path):
    root = make_image_folder(tmp_path / 'data')  # all loaders: one folder
    runner = Runner.from_cfg(overlap_config(root, tmp_path / 'work'))
    runner.train()
    log = log_text(runner)
    assert ('the training set and the validation set share 20 of their 20 '
            'validation images') in log
    assert ('the training set and the test set share 20 of their 20 test '
            'images') in log
    runner.test()  # compared before training: not warned twice
    assert log_text(runner).count('share 20 of their 20 test images') == 1


def test_testing_alone_compares_with_the_configured_training_set(tmp_path):
    root = str(make_fake_image_csv(tmp_path / 'data', dict(a=6, b=6, c=6)))
    cfg = overlap_config(root, tmp_path / 'work')
    for split, loader_split in (('train', 'train'), ('val', 'val'),
                                ('test', 'all')):
        cfg[f'{split}_dataloader']['dataset'].update(
            type='CSVImageDataset', ann_file='labels.csv', split=loader_split)
    runner = Runner.from_cfg(cfg)
    runner.test()
    train_size = len(DATASETS.build(cfg['train_dataloader']['dataset']))
    assert (f'the training set and the test set share {train_size} of their '
            '18 test images') in log_text(runner)


def test_disjoint_splits_are_quiet(tmp_path):
    root = str(make_fake_image_csv(tmp_path / 'data', dict(a=6, b=6, c=6)))
    cfg = overlap_config(root, tmp_path / 'work')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader']['dataset'].update(
            type='CSVImageDataset', ann_file='labels.csv', split=split)
    runner = Runner.from_cfg(cfg)
    runner.train()
    runner.test()
    assert 'CheckSplitOverlapHook' not in log_text(runner)
