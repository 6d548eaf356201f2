"""The config snippets of README.md and docs/*.md build and run.

A snippet is tested when the line before its ```python fence is
``<!-- config-snippet -->``.  Each is written to a file, parsed by MMEngine
(with ``DATA_ROOT`` pointing at generated data in the layout its datasets
describe), made cheap (no pretrained weights, 32 px, one iteration) and
trained for one iteration, validated and tested through MMEngine's Runner.
"""
import copy
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from lmfloss_mm.configs import runtime_overrides
from lmfloss_mm.datasets import make_fake_image_csv

REPO = Path(__file__).resolve().parents[2]
MARKER = '<!-- config-snippet -->'
SNIPPET = re.compile(re.escape(MARKER) + r'[ \t]*\n```python\n(.*?)\n```',
                     re.S)
#: Side of the test images and of every resize / crop of the snippets.
SIZE = 32


def marked_snippets():
    found = []
    for path in [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md')):
        text = path.read_text(encoding='utf-8')
        for number, match in enumerate(SNIPPET.finditer(text)):
            found.append(pytest.param(match.group(1),
                                      id=f'{path.name}-{number}'))
    return found


SNIPPETS = marked_snippets()


def test_the_snippets_are_found():
    assert SNIPPETS, f'no {MARKER!r} before a ```python block'
    assert any('CSVImageDataset' in p.values[0] for p in SNIPPETS)


def make_data(dataset, num_classes, root):
    """Images and an annotation CSV in the layout a ``CSVImageDataset``
    config describes (its columns, ``num_classes`` classes)."""
    assert dataset.type == 'CSVImageDataset', (
        f'no test data for {dataset.type}; add it to make_data')
    counts = {f'class{i}': 6 if i else 12 for i in range(num_classes)}
    make_fake_image_csv(
        root, counts, ann_file=dataset.ann_file,
        image_column=dataset.get('image_column', 'image'),
        label_column=dataset.get('label_column') or 'label',
        group_column=dataset.get('group_column'), image_size=SIZE)


def shrink(cfg, work_dir):
    """No pretrained weights, 32 px, tiny batches, one iteration."""
    cfg.work_dir = str(work_dir)
    for module in (cfg.model.get('backbone', {}), cfg.model):
        if module.get('init_cfg', {}).get('type') == 'Pretrained':
            module.init_cfg = None
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        for transform in loader.dataset.pipeline:
            for key in ('scale', 'crop_size'):
                if isinstance(transform.get(key), int):
                    transform[key] = SIZE
                elif isinstance(transform.get(key), (tuple, list)):
                    transform[key] = (SIZE, SIZE)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1,
                         val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = None
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.parametrize('snippet', SNIPPETS)
def test_snippet_trains_validates_and_tests(snippet, tmp_path, monkeypatch):
    data_root = tmp_path / 'data'
    monkeypatch.setenv('DATA_ROOT', str(data_root))
    path = tmp_path / 'snippet_config.py'
    path.write_text(snippet + '\n', encoding='utf-8')
    cfg = Config.fromfile(str(path))

    # the project's imbalance defaults reached the config
    runtime = runtime_overrides('_base_/imbalanced_runtime.py')
    assert cfg.val_evaluator == cfg.test_evaluator == dict(
        type='ImbalancedClsMetric', cls_num_list='auto')
    assert cfg.custom_hooks == runtime['custom_hooks']
    assert cfg.default_hooks.checkpoint.save_best == 'imbalanced/macro_f1'
    assert cfg.log_processor.type == 'CompactLogProcessor'
    num_classes = cfg.model.head.num_classes
    assert cfg.data_preprocessor.num_classes == num_classes

    datasets = [cfg[f'{s}_dataloader'].dataset for s in ('train', 'val',
                                                          'test')]
    assert [d.data_root for d in datasets] == [str(data_root)] * 3
    make_data(copy.deepcopy(datasets[0]), num_classes, data_root)
    runner = Runner.from_cfg(shrink(cfg, tmp_path / 'work'))
    runner.train()
    assert runner.iter == 1
    assert runner.model.head.loss_module.class_counts.sum() == len(
        runner.train_dataloader.dataset)
    metrics = runner.test()
    assert len(metrics['imbalanced/f1_classwise']) == num_classes
    assert 0 <= metrics['imbalanced/macro_f1'] <= 100
