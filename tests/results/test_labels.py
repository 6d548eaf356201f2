"""Loss, dataset and backbone labels of the shipped configs: distinct
within a table, every label in the display order, every loss type with a
label, the paper's labels unchanged."""
from collections import defaultdict
from pathlib import Path

import pytest
from mmengine.config import Config

from lmfloss_mm.results.labels import (LOSS_LABELS, LOSS_ORDER, PAPER_LOSSES,
                                       config_labels, display, ordered)

REPO = Path(__file__).resolve().parents[2]
#: every config users can train (all but the _base_ files)
CONFIGS = sorted(p for p in (REPO / 'configs').glob('*/*.py')
                 if p.parent.name != '_base_')
#: The folders whose runs share result tables (the demo and the example
#: config are runs of their own).
TABLE_FOLDERS = ('ham10000', 'isic2019', 'odir5k', 'odir5k_multilabel',
                 'benchmark')


@pytest.fixture(scope='module')
def shipped():
    """``(path, loss type, labels)`` of every shipped config."""
    rows = []
    for path in CONFIGS:
        cfg = Config.fromfile(str(path))
        rows.append((path, cfg.model.head.loss.type,
                     config_labels(cfg, str(path))))
    return rows


def test_labels_are_distinct_within_a_dataset_and_backbone(shipped):
    configs_of = defaultdict(list)
    for path, _, labels in shipped:
        if path.parent.name not in TABLE_FOLDERS:
            continue
        key = (labels['dataset'], labels['backbone'], labels['loss'])
        configs_of[key].append(f'{path.parent.name}/{path.name}')
    shared = {key: names for key, names in configs_of.items()
              if len(names) > 1}
    assert not shared, f'configs that share a row of a table: {shared}'


def test_every_label_has_a_place_in_the_display_order(shipped):
    labels = {labels['loss'] for _, _, labels in shipped}
    assert sorted(labels - set(LOSS_ORDER)) == []
    assert len(set(LOSS_ORDER)) == len(LOSS_ORDER)
    assert ordered(reversed(LOSS_ORDER), LOSS_ORDER) == list(LOSS_ORDER)


def test_every_loss_type_of_the_configs_has_a_label(shipped):
    types = {loss_type.split('.')[-1] for _, loss_type, _ in shipped}
    assert sorted(types - set(LOSS_LABELS)) == []
    assert set(LOSS_LABELS.values()) <= set(LOSS_ORDER)


@pytest.mark.parametrize('name, loss', [
    # the paper's labels (published tables use them)
    ('ham10000/resnet50_in1k-pre_1xb32-ce-100e_ham10000.py', 'ce'),
    ('odir5k/efficientnetv2-s_in1k-pre_1xb32-lmf-100e_odir5k.py', 'lmf'),
    ('benchmark/resnet18-w16_48px_1xb32-ldam-12e_isic2018-cv.py', 'ldam'),
    # variants that share a loss type with another config
    ('ham10000/resnet50_in1k-pre_1xb32-mixup-ce-100e_ham10000.py',
     'mixup-ce'),
    ('isic2019/resnet50_in1k-pre_1xb32-ce-wb-maxnorm-10e_isic2019.py',
     'ce-wb-maxnorm'),
    ('odir5k/resnet50_in1k-pre_1xb32-cutmix-balanced-softmax-100e_odir5k'
     '.py', 'cutmix-balanced-softmax'),
    ('odir5k_multilabel/resnet50_in1k-pre_1xb32-bce-100e_odir5k-image.py',
     'bce'),
])
def test_labels_of_configs(shipped, name, loss):
    found = {f'{p.parent.name}/{p.name}': labels for p, _, labels in shipped}
    if name not in found:
        pytest.skip(f'{name} is not in this checkout')
    assert found[name]['loss'] == loss


def test_paper_losses_lead_the_order_and_drive_the_benchmark():
    from lmfloss_mm.benchmarking.cross_validation import LOSSES
    assert PAPER_LOSSES == ('ce', 'focal', 'ldam', 'lmf')
    assert LOSSES == PAPER_LOSSES  # the benchmark trains these four only
    assert [label for label in LOSS_ORDER if label in PAPER_LOSSES] == list(
        PAPER_LOSSES)


def test_labels_of_configs_named_otherwise():
    def cfg(**loss):
        return Config(dict(model=dict(head=dict(loss=loss))))

    assert config_labels(cfg(type='CrossEntropyLoss', use_sigmoid=True),
                         'x.py')['loss'] == 'bce'
    assert config_labels(cfg(type='CrossEntropyLoss'), 'x.py')['loss'] == 'ce'
    assert config_labels(cfg(type='LabelAwareSmoothingLoss'),
                         'x.py')['loss'] == 'las'
    assert config_labels(cfg(type='DetachableAsymmetricLoss'),
                         'x.py')['loss'] == 'asl'
    # a conventional name names the method, whatever the loss type
    assert config_labels(cfg(type='LogitAdjustedLoss'),
                         'r_in1k-pre_1xb32-mixup-bs-9e_d.py')['loss'] == \
        'mixup-bs'


def test_ordering_and_display_of_variants():
    assert ordered(['lmf [a]', 'zzz', 'ldam-drw-x', 'ce', 'ldam-drw'],
                   LOSS_ORDER) == ['ce', 'ldam-drw', 'ldam-drw-x', 'lmf [a]',
                                   'zzz']
    assert [display(label) for label in ('lmf-cos', 'mixup-ce', 'bce',
                                         'balanced-softmax')] == [
        'LMF-cos', 'Mixup-ce', 'BCE', 'balanced-softmax']
