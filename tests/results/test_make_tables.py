"""``tools/make_tables.py`` on runs written here with known numbers: means,
sample stds, run counts, the per-class table, the published-vs-ours
difference and the CSV files; grid runs, cross-validation folds and plain
MMEngine work folders alike."""
import csv
import json
import math
from pathlib import Path

import pytest

from lmfloss_mm.results import PUBLISHED, load_runs, make_report
from lmfloss_mm.results.published import published_value

CLASSES = ['N', 'D', 'G']

#: (dataset, backbone, loss) -> {seed: (accuracy, macro_f1, f1_classwise)}
GRID = {
    ('odir5k', 'efficientnetv2-s', 'lmf'): {
        0: (70.0, 60.0, [80.0, 50.0, 50.0]),
        1: (72.0, 62.0, [82.0, 52.0, 52.0]),
        2: (74.0, 64.0, [84.0, 54.0, 54.0]),
    },
    ('odir5k', 'efficientnetv2-s', 'ce'): {
        0: (71.0, 55.0, [90.0, 40.0, 35.0]),
        1: (71.0, 56.0, [90.0, 41.0, 37.0]),
        2: (71.0, 60.0, [90.0, 45.0, 45.0]),
    },
    ('odir5k', 'resnet50', 'lmf'): {
        0: (66.0, 58.5, [70.0, 55.5, 50.0]),
    },
    ('odir5k', 'resnet50', 'ce'): {
        0: (69.0, 50.0, [85.0, 40.0, 25.0]),
        1: (70.0, 53.0, [86.0, 43.0, 30.0]),
    },
    ('ham10000', 'resnet50', 'focal'): {
        0: (80.0, 40.0, [60.0, 30.0, 30.0]),
        1: (82.0, 44.0, [62.0, 34.0, 36.0]),
    },
}


def stem(dataset, backbone, loss):
    return f'{backbone}_in1k-pre_1xb32-{loss}-100e_{dataset}'


def write_run(root: Path, dataset, backbone, loss, seed, accuracy, f1,
              f1_classwise, classes=CLASSES):
    name = stem(dataset, backbone, loss)
    run = root / name / f'seed-{seed}'
    run.mkdir(parents=True)
    metrics = {
        'imbalanced/accuracy': accuracy,
        'imbalanced/balanced_accuracy': accuracy - 10,
        'imbalanced/macro_precision': f1 + 1,
        'imbalanced/macro_recall': f1 - 1,
        'imbalanced/macro_f1': f1,
        'imbalanced/f1_classwise': f1_classwise,
        'imbalanced/support_classwise': [10, 5, 2],
        'imbalanced/confusion_matrix': [[10, 0, 0], [0, 5, 0], [0, 0, 2]],
    }
    (run / 'metrics.json').write_text(json.dumps(dict(
        config=f'configs/{dataset}/{name}.py', config_stem=name, seed=seed,
        dataset=dataset, backbone=backbone, loss=loss, classes=classes,
        metrics=metrics, checkpoint=str(run / 'best.pth'),
        train_seconds=1.0, test_seconds=1.0)))
    return run


@pytest.fixture
def grid_root(tmp_path):
    root = tmp_path / 'work'
    for (dataset, backbone, loss), seeds in GRID.items():
        for seed, (acc, f1, per_class) in seeds.items():
            write_run(root, dataset, backbone, loss, seed, acc, f1, per_class)
    # an unfinished run (no metrics.json) is ignored
    (root / stem('odir5k', 'resnet50', 'focal') / 'seed-0').mkdir(
        parents=True)
    return root


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.reader(f))


def test_published_numbers_are_the_two_known_ones():
    """Only the two numbers of the paper's text; a new one must come with
    its source (and this test updated deliberately)."""
    assert {(p.dataset, p.backbone, p.loss, p.metric, p.value)
            for p in PUBLISHED} == {
                ('odir5k', 'efficientnetv2-s', 'lmf', 'macro_f1', 62.94),
                ('odir5k', 'resnet50', 'lmf', 'macro_f1', 57.73)}
    assert all('2212.12741' in p.source for p in PUBLISHED)
    assert published_value('odir5k', 'resnet50', 'lmf', 'macro_f1') == 57.73
    assert published_value('odir5k', 'resnet50', 'ce', 'macro_f1') is None


def test_tables_markdown_and_csv(grid_root, tmp_path, capsys, load_tool):
    make_tables = load_tool('make_tables')
    out_dir = tmp_path / 'reports'
    assert make_tables.main([str(grid_root), '--out-dir', str(out_dir)]) == 0
    captured = capsys.readouterr()
    markdown = (out_dir / 'results.md').read_text()
    assert captured.out == markdown + '\n'  # printed as well
    assert '11 runs of 5 configs' in markdown

    # Macro F1, paper layout; cells differ in seeds, so n is shown
    table = markdown.split('## Macro F1\n\n')[1].split('\n\n')[0]
    assert table.splitlines() == [
        '| Dataset | Backbone | CE | Focal | LMF |',
        '|---|---|---:|---:|---:|',
        '| HAM10000 | ResNet-50 | – | 42.00 ± 2.83 (n=2) | – |',
        '| ODIR-5K | ResNet-50 | 51.50 ± 2.12 (n=2) | – | 58.50 (n=1) |',
        '| ODIR-5K | EfficientNetV2-S | 57.00 ± 2.65 (n=3) | – '
        '| 62.00 ± 2.00 (n=3) |',
    ]
    # accuracy: CE/EfficientNetV2-S has 0 spread
    assert '| ODIR-5K | EfficientNetV2-S | 71.00 ± 0.00 (n=3) |' in markdown
    for title in ('## Accuracy', '## Macro precision', '## Macro recall',
                  '## Balanced accuracy'):
        assert title in markdown
    assert '| ODIR-5K | ResNet-50 | 52.50 ± 2.12 (n=2) |' in \
        markdown.split('## Macro precision')[1]

    # per-class F1 of ODIR-5K
    per_class = markdown.split('### ODIR-5K\n\n')[1].split('\n\n')[0]
    assert per_class.splitlines()[0] == '| Backbone | Loss | n | N | D | G |'
    assert ('| EfficientNetV2-S | LMF | 3 | 82.00 ± 2.00 | 52.00 ± 2.00 '
            '| 52.00 ± 2.00 |') in per_class
    assert '| ResNet-50 | LMF | 1 | 70.00 | 55.50 | 50.00 |' in per_class
    assert per_class.splitlines()[2].startswith('| ResNet-50 | CE | 2 |')

    # published vs ours: 62.00 - 62.94 and 58.50 - 57.73
    published = markdown.split('## Published vs ours\n\n')[1]
    assert ('| ODIR-5K | EfficientNetV2-S | LMF | macro_f1 | 62.94 | '
            '62.00 ± 2.00 | 3 | -0.94 | [1] |') in published
    assert ('| ODIR-5K | ResNet-50 | LMF | macro_f1 | 57.73 | 58.50 | '
            '1 | +0.77 | [1] |') in published
    assert '[1] Sadi et al.' in published

    # CSV files
    rows = read_csv(out_dir / 'macro_f1.csv')
    assert rows[0] == ['dataset', 'backbone', 'ce_mean', 'ce_std', 'ce_n',
                       'focal_mean', 'focal_std', 'focal_n', 'lmf_mean',
                       'lmf_std', 'lmf_n']
    effnet = rows[3]
    assert effnet[:2] == ['odir5k', 'efficientnetv2-s']
    assert float(effnet[2]) == 57.0
    assert float(effnet[3]) == pytest.approx(math.sqrt(7), abs=1e-4)
    assert effnet[4] == '3'
    assert effnet[5:8] == ['', '', '0']
    assert [float(v) for v in effnet[8:10]] == [62.0, 2.0]
    assert rows[2][8:11] == ['58.5', '', '1']  # one seed: no std

    rows = read_csv(out_dir / 'published_vs_ours.csv')
    assert rows[0] == ['dataset', 'backbone', 'loss', 'metric', 'published',
                       'ours_mean', 'ours_std', 'n', 'difference', 'source']
    assert rows[1][:9] == ['odir5k', 'efficientnetv2-s', 'lmf', 'macro_f1',
                           '62.94', '62.0', '2.0', '3', '-0.94']
    assert rows[2][:9] == ['odir5k', 'resnet50', 'lmf', 'macro_f1', '57.73',
                           '58.5', '', '1', '0.77']

    rows = read_csv(out_dir / 'per_class_f1_odir5k.csv')
    assert rows[0] == ['backbone', 'loss', 'n', 'N_mean', 'N_std', 'D_mean',
                       'D_std', 'G_mean', 'G_std']
    ce = [r for r in rows if r[:2] == ['efficientnetv2-s', 'ce']][0]
    assert ce[2] == '3'
    assert float(ce[7]) == 39.0  # G: 35, 37, 45
    assert float(ce[8]) == pytest.approx(math.sqrt(28), abs=1e-4)

    rows = read_csv(out_dir / 'runs.csv')
    assert len(rows) == 1 + 11
    assert rows[0][:7] == ['config_stem', 'seed', 'fold', 'dataset',
                           'backbone', 'loss', 'imbalanced/accuracy']
    assert rows[0][-4:] == ['f1_N', 'f1_D', 'f1_G', 'path']
    assert {f.name for f in out_dir.iterdir()} == {
        'results.md', 'accuracy.csv', 'macro_precision.csv',
        'macro_recall.csv', 'macro_f1.csv', 'balanced_accuracy.csv',
        'per_class_f1_ham10000.csv', 'per_class_f1_odir5k.csv',
        'published_vs_ours.csv', 'runs.csv'}


def test_same_seeds_hide_n_and_missing_published_cell(tmp_path):
    root = tmp_path / 'work'
    for seed, f1 in ((0, 40.0), (1, 50.0)):
        write_run(root, 'ham10000', 'resnet50', 'ce', seed, 70.0, f1,
                  [f1, f1, f1])
        write_run(root, 'ham10000', 'resnet50', 'lmf', seed, 70.0, f1 + 5,
                  [f1, f1, f1])
    markdown, _ = make_report(load_runs([str(root)]), str(tmp_path / 'out'))
    assert '| HAM10000 | ResNet-50 | 45.00 ± 7.07 | 50.00 ± 7.07 |' in \
        markdown
    assert '(n=' not in markdown.split('## Accuracy')[1]
    assert ('| ODIR-5K | ResNet-50 | LMF | macro_f1 | 57.73 | not run | 0 |'
            ' – | [1] |') in markdown


def test_collection_warnings(tmp_path):
    """Unreadable files and repeated runs are skipped; two configs in one
    cell get separate columns instead of being averaged together."""
    root_a, root_b = tmp_path / 'a', tmp_path / 'b'
    write_run(root_a, 'odir5k', 'resnet50', 'lmf', 0, 60.0, 50.0, [1, 2, 3])
    write_run(root_b, 'odir5k', 'resnet50', 'lmf', 0, 99.0, 99.0, [1, 2, 3])
    other = write_run(root_a, 'odir5k', 'resnet50', 'lmf', 1, 61.0, 52.0,
                      [1, 2, 3])
    data = json.loads((other / 'metrics.json').read_text())
    data['config_stem'] = 'resnet50_in21k-pre_1xb32-lmf-50e_odir5k'
    (other / 'metrics.json').write_text(json.dumps(data))
    broken = root_a / 'x' / 'seed-0'
    broken.mkdir(parents=True)
    (broken / 'metrics.json').write_text('{"seed": 0')  # truncated
    warnings = []
    runs = load_runs([str(root_a), str(root_b)], warn=warnings.append)
    assert sorted((r.config_stem, r.seed, r.loss) for r in runs) == [
        ('resnet50_in1k-pre_1xb32-lmf-100e_odir5k', 0,
         'lmf [resnet50_in1k-pre_1xb32-lmf-100e_odir5k]'),
        ('resnet50_in21k-pre_1xb32-lmf-50e_odir5k', 1,
         'lmf [resnet50_in21k-pre_1xb32-lmf-50e_odir5k]'),
    ]
    assert [r.metrics['imbalanced/accuracy'] for r in runs
            if r.seed == 0] == [60.0]  # the first root wins
    assert len(warnings) == 3
    assert 'skipping' in warnings[0] and 'x/seed-0' in warnings[0]
    assert 'repeats' in warnings[1]
    assert 'separate columns' in warnings[2]


def test_no_runs_is_an_error(tmp_path, capsys, load_tool):
    make_tables = load_tool('make_tables')
    (tmp_path / 'unfinished').mkdir()
    (tmp_path / 'unfinished' / 'epoch_1.pth').write_bytes(b'')
    assert make_tables.main([str(tmp_path), '--out-dir',
                             str(tmp_path / 'r')]) == 1
    err = capsys.readouterr().err
    assert 'no finished run' in err and 'mim test' in err
    # the folder with a checkpoint but no test is named, with the command
    assert f'skipping {tmp_path / "unfinished"}: no test results yet' in err
    assert make_tables.main([str(tmp_path / 'missing')]) == 1
    assert 'no such folder' in capsys.readouterr().err
