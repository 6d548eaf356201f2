"""tools/dataset_stats.py and lmfloss_mm.visualization.class_stats: numbers
against hand-computed values, files, and datasets built from configs."""
import csv
import math
from collections import Counter
from pathlib import Path

import mmcv
import numpy as np
import PIL.Image
import pytest
from mmengine.config import Config

from lmfloss_mm.datasets.ham10000 import HAM10000_CLASSES
from lmfloss_mm.datasets.synthetic import make_fake_ham10000
from lmfloss_mm.evaluation.functional import shot_groups
from lmfloss_mm.visualization import (compute_class_stats, config_loss_info,
                                      format_table, plot_class_counts,
                                      write_csv, write_markdown)
from tests.conftest import assert_png

REPO = Path(__file__).resolve().parents[2]
HAM_CE_CONFIG = (REPO / 'configs' / 'ham10000' /
                 'resnet50_in1k-pre_1xb32-ce-100e_ham10000.py')
HAM_LMF_CONFIG = (REPO / 'configs' / 'ham10000' /
                  'resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py')


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('dataset_stats')


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------- statistics
def test_statistics_match_hand_computed_values():
    # training counts straddle both shot thresholds (> 100, 20..100, < 20)
    stats = compute_class_stats(
        dict(train=[101, 100, 20, 19], val=[10, 0, 5, 2]),
        classes=['a', 'b', 'c', 'd'], max_m=0.5)
    assert stats.splits == ['train', 'val']
    assert stats.groups == ['many', 'medium', 'medium', 'few']
    assert stats.imbalance_ratio('train') == pytest.approx(101 / 19)
    assert stats.imbalance_ratio('val') == math.inf
    assert stats.num_samples == dict(train=240, val=17)
    np.testing.assert_allclose(stats.shares('train'),
                               [101 / 240, 100 / 240, 20 / 240, 19 / 240])
    np.testing.assert_allclose(stats.shares('val'),
                               [10 / 17, 0, 5 / 17, 2 / 17])
    # 0.5 * (19 / n) ** 0.25
    np.testing.assert_allclose(stats.margins,
                               [0.3292896, 0.3301098, 0.4936293, 0.5],
                               atol=1e-6)
    # the official LMF scheme reuses the margin vector as class weights
    np.testing.assert_allclose(stats.weights_margins, stats.margins)
    # (1 - n / 240) / (4 - 1)
    np.testing.assert_allclose(
        stats.weights_bwcce, [139 / 720, 140 / 720, 220 / 720, 221 / 720],
        rtol=1e-6)
    assert any("val split has no sample of ['b']" in n for n in stats.notes)


def test_max_m_scales_the_margins_and_weights():
    stats = compute_class_stats(dict(train=[15, 20, 101]), max_m=0.3)
    np.testing.assert_allclose(stats.margins, [0.3, 0.2791815, 0.186236],
                               atol=1e-6)
    np.testing.assert_allclose(stats.weights_margins, stats.margins)
    assert stats.classes == ['0', '1', '2']


def test_shot_group_thresholds():
    assert shot_groups([0, 19, 20, 100, 101]).tolist() == [
        'few', 'few', 'medium', 'medium', 'many'
    ]
    assert shot_groups([50], thresholds=(40, 10)).tolist() == ['many']


def test_empty_training_class_gives_no_margins():
    stats = compute_class_stats(dict(train=[5, 0, 7]), classes='xyz')
    assert stats.margins is None and stats.weights_bwcce is None
    assert stats.imbalance_ratio() == math.inf
    assert "classes ['y'] have no training sample" in stats.notes[0]
    table = format_table(stats)
    assert '| y     |     0 |     0.0 |     inf | few   |         n/a |' \
        in table


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match='training counts'):
        compute_class_stats(dict(val=[1, 2]))
    with pytest.raises(ValueError, match='has 3 classes'):
        compute_class_stats(dict(train=[1, 2], val=[1, 2, 3]))
    with pytest.raises(ValueError, match='max_m'):
        compute_class_stats(dict(train=[1, 2]), max_m=0)


def test_table_csv_markdown_and_figure(tmp_path):
    stats = compute_class_stats(
        dict(train=[101, 100, 20, 19], val=[10, 0, 5, 2],
             test=[9, 8, 3, 1]), classes=['a', 'b', 'c', 'd'])
    table = format_table(stats)
    lines = table.splitlines()
    assert lines[0].split('|')[1:-1] == [
        ' class ', ' train ', ' train % ', ' val ', ' val % ', ' test ',
        ' test % ', ' n_max/n ', ' group  ', ' LDAM margin ', " w 'margins' ",
        " w 'bwcce' "
    ]
    cells = [c.strip() for c in lines[2].split('|')[1:-1]]
    assert cells == ['a', '101', '42.1', '10', '58.8', '9', '42.9', '1.00',
                     'many', '0.3293', '0.3293', '0.1931']
    assert '| total |   240 |   100.0 |  17 |' in table
    assert 'Imbalance ratio (max/min class count): train 5.32, val inf, ' \
        'test 9.00' in table
    assert 'many 1 (a); medium 2 (b, c); few 1 (d)' in table

    write_csv(stats, tmp_path / 'class_stats.csv')
    rows = read_csv(tmp_path / 'class_stats.csv')
    assert [r['class'] for r in rows] == ['a', 'b', 'c', 'd']
    assert [int(r['test_count']) for r in rows] == [9, 8, 3, 1]
    assert float(rows[3]['ldam_margin']) == pytest.approx(0.5)
    assert float(rows[0]['weight_bwcce']) == pytest.approx(139 / 720)
    assert float(rows[2]['imbalance_to_max']) == pytest.approx(101 / 20)
    assert [r['shot_group'] for r in rows] == ['many', 'medium', 'medium',
                                               'few']

    write_markdown(stats, tmp_path / 'class_stats.md', title='Demo')
    text = (tmp_path / 'class_stats.md').read_text()
    assert text.startswith('# Demo\n') and lines[2] in text

    for log_scale in (False, True):
        fig = plot_class_counts(stats, log_scale=log_scale)
        counts_ax, margin_ax = fig.axes[:2]
        assert counts_ax.get_yscale() == ('log' if log_scale else 'linear')
        heights = [p.get_height() for p in counts_ax.patches]
        assert heights == [101, 100, 20, 19, 10, 0, 5, 2, 9, 8, 3, 1]
        np.testing.assert_allclose(
            [p.get_height() for p in margin_ax.patches], stats.margins)
        np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(),
                                   stats.weights_bwcce)
        path = tmp_path / f'counts_{log_scale}.png'
        fig.savefig(path)
        assert_png(path, 500, 400)


# ------------------------------------------------------- configs, datasets
def test_class_count_legends_cover_no_label():
    """Both legends sit outside the panels: none covers a bar, a count on a
    bar, a margin value or a tick label."""
    stats = compute_class_stats(
        dict(train=[560, 126, 20, 300, 45, 12, 80],
             val=[120, 27, 5, 60, 9, 3, 17], test=[120, 27, 5, 61, 9, 2, 15]),
        classes=list('abcdefg'))
    fig = plot_class_counts(stats, title='t')
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 2
    artists = [a for ax in fig.axes for a in (
        list(ax.patches) + list(ax.texts) + ax.get_xticklabels() +
        ax.get_yticklabels() + [ax.title, ax.yaxis.label])
        if not hasattr(a, 'get_text') or a.get_text()]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        covered = [a for a in artists
                   if box.overlaps(a.get_window_extent(renderer))]
        assert covered == []


CUSTOM_COUNTS = dict(
    train=dict(cat=15, dog=20, eel=101),
    val=dict(cat=2, dog=3, eel=5),
    test=dict(cat=1, dog=4, eel=10))


def write_custom_config(tmp_path):
    """An image-folder dataset (mmpretrain's CustomDataset) of empty
    "images": reading any of them would fail.  The test split is wrapped in
    a ClassBalancedDataset, whose resampling must not change the counts."""
    root = tmp_path / 'folders'
    for split, counts in CUSTOM_COUNTS.items():
        for name, n in counts.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f'{i:03d}.png').touch()
    config = tmp_path / 'custom_cfg.py'
    config.write_text(f"""
custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)
classes = ['cat', 'dog', 'eel']
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
model = dict(type='ImageClassifier', head=dict(
    type='LinearClsHead', num_classes=3, in_channels=8,
    loss=dict(type='LDAMLoss', cls_num_list='auto', max_m=0.3)))
def loader(split):
    return dict(batch_size=2, dataset=dict(
        type='CustomDataset', data_root='{root}', data_prefix=split,
        metainfo=dict(classes=classes), pipeline=pipeline))
train_dataloader = loader('train')
val_dataloader = loader('val')
test_dataloader = dict(batch_size=2, dataset=dict(
    type='ClassBalancedDataset', oversample_thr=0.5,
    dataset=loader('test')['dataset']))
del loader
""")
    return config


def no_image_reading(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError('dataset_stats must not read images')
    monkeypatch.setattr(mmcv, 'imfrombytes', fail)
    monkeypatch.setattr(PIL.Image, 'open', fail)


def test_tool_on_an_image_folder_config(tool, tmp_path, monkeypatch, capsys):
    config = write_custom_config(tmp_path)
    out = tmp_path / 'stats'
    no_image_reading(monkeypatch)
    stats = tool.main([str(config), '--out-dir', str(out)])
    monkeypatch.undo()
    stdout = capsys.readouterr().out

    assert stats.classes == ['cat', 'dog', 'eel']
    for split, counts in CUSTOM_COUNTS.items():
        np.testing.assert_array_equal(stats.counts[split],
                                      list(counts.values()))
    # max_m comes from the config's LDAMLoss: 0.3 * (15 / n) ** 0.25
    assert stats.max_m == 0.3 and 'LDAMLoss' in stats.max_m_source
    np.testing.assert_allclose(stats.margins, [0.3, 0.2791815, 0.186236],
                               atol=1e-6)
    # (1 - n / 136) / 2
    np.testing.assert_allclose(stats.weights_bwcce,
                               [121 / 272, 116 / 272, 35 / 272], rtol=1e-6)
    assert stats.groups == ['few', 'medium', 'many']
    assert stats.imbalance_ratio() == pytest.approx(101 / 15)

    row = next(line for line in stdout.splitlines()
               if line.startswith('| dog '))
    assert [c.strip() for c in row.split('|')[1:-1]] == [
        'dog', '20', '14.7', '3', '30.0', '4', '26.7', '5.05', 'medium',
        '0.2792', '0.2792', '0.4265'
    ]
    assert 'max_m = 0.3 (config LDAMLoss.max_m)' in stdout
    rows = read_csv(out / 'class_stats.csv')
    assert [int(r['train_count']) for r in rows] == [15, 20, 101]
    assert [int(r['test_count']) for r in rows] == [1, 4, 10]
    assert float(rows[2]['ldam_margin']) == pytest.approx(0.186236, abs=1e-6)
    assert row in (out / 'class_stats.md').read_text()
    assert_png(out / 'class_counts.png', 500, 400)


def test_cli_max_m_splits_and_cfg_options(tool, tmp_path):
    config = write_custom_config(tmp_path)
    # point val at the test folder through --cfg-options
    stats = tool.main([
        str(config), '--splits', 'train', 'val', '--max-m', '0.6',
        '--log-scale', '--out-dir', str(tmp_path / 'o'), '--cfg-options',
        'val_dataloader.dataset.data_prefix=test'
    ])
    assert stats.splits == ['train', 'val']
    np.testing.assert_array_equal(stats.counts['val'], [1, 4, 10])
    assert stats.max_m == 0.6 and stats.max_m_source == '--max-m'
    np.testing.assert_allclose(stats.margins,
                               2 * np.array([0.3, 0.2791815, 0.186236]),
                               atol=1e-6)
    header = read_csv(tmp_path / 'o' / 'class_stats.csv')[0].keys()
    assert 'val_count' in header and 'test_count' not in header
    assert_png(tmp_path / 'o' / 'class_counts.png', 500, 400)


HAM_COUNTS = dict(akiec=12, bcc=15, bkl=24, df=9, mel=22, nv=60, vasc=9)


def split_file_counts(path):
    """Class counts per split read straight from the split CSV."""
    counts = {s: Counter() for s in ('train', 'val', 'test')}
    with open(path, newline='') as f:
        for row in csv.DictReader(f):
            counts[row['split']][row['label']] += 1
    return {s: [c[name] for name in HAM10000_CLASSES]
            for s, c in counts.items()}


def test_tool_on_the_ham10000_config_and_fixture(tool, tmp_path, capsys):
    root = make_fake_ham10000(tmp_path / 'ham', counts=HAM_COUNTS,
                              image_size=8)
    roots = [f'{s}_dataloader.dataset.data_root={root}'
             for s in ('train', 'val', 'test')]
    stats = tool.main([str(HAM_CE_CONFIG), '--out-dir',
                       str(tmp_path / 'out'), '--cfg-options', *roots])
    stdout = capsys.readouterr().out
    assert stats.classes == list(HAM10000_CLASSES)
    # every generated image is in exactly one split
    total = sum(stats.counts[s] for s in ('train', 'val', 'test'))
    np.testing.assert_array_equal(
        total, [HAM_COUNTS[c] for c in HAM10000_CLASSES])
    # and each split's counts equal those of the split file the dataset wrote
    expected = split_file_counts(
        root / 'lmfloss_splits' / 'ham10000_70-15-15_seed0.csv')
    for split in ('train', 'val', 'test'):
        np.testing.assert_array_equal(stats.counts[split], expected[split])
    train = np.array(expected['train'], dtype=float)
    np.testing.assert_allclose(
        stats.margins, 0.5 * (train.min() / train)**0.25, rtol=1e-6)
    assert stats.max_m_source.startswith('default')  # CE has no max_m
    assert 'Class statistics of HAM10000' in stdout
    assert_png(tmp_path / 'out' / 'class_counts.png', 500, 400)


def test_max_m_default_comes_from_the_lmf_config(tool):
    cfg = Config.fromfile(str(HAM_LMF_CONFIG))
    info = config_loss_info(cfg)
    assert info == dict(type='LMFLoss', max_m=0.5, class_weight='margins')
    assert tool.resolve_max_m(None, info) == (0.5, 'config LMFLoss.max_m')
    assert tool.resolve_max_m(0.2, info) == (0.2, '--max-m')
    assert tool.resolve_max_m(None, {})[0] == 0.5
