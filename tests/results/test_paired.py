"""The paired report (lmfloss_mm.results.paired) on runs with known
numbers: paired differences over shared (fold, seed), the summary, the
per-class and per-run tables, and the same report from first-version
cross-validation records."""
import math

import pytest

from lmfloss_mm.results import RunRecord, paired_report
from lmfloss_mm.results.paired import (classwise_table, paired,
                                       per_run_table, summary_table)

CLASSES = ['akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc']
SETTINGS = dict(preset='cpu', arch='resnet18-w16', img_size=48, epochs=12,
                n_folds=3, val_ratio=0.2, split_seed=0)
#: macro-F1 of (loss, fold); seed 0 only
MACRO_F1 = {
    'ce': [40.0, 50.0, 45.0],
    'lmf': [42.0, 53.0, 44.0],
    'ldam': [30.0, 35.0, 31.0],
}
#: t(0.975, 2)
T_2 = 4.302652729749464


def legacy(loss, fold, seed=0, macro_f1=None, seconds=100.0):
    """A run as the first cross-validation version stored it
    (``result.json``: flat metrics and settings)."""
    macro_f1 = MACRO_F1[loss][fold] if macro_f1 is None else macro_f1
    f1 = [macro_f1 + d for d in (-3, -2, -1, 0, 1, 2, 3)]  # mean = macro_f1
    return dict(SETTINGS, loss=loss, fold=fold, seed=seed, classes=CLASSES,
                config=f'configs/benchmark/resnet18-w16_48px_1xb32-{loss}-'
                '12e_isic2018-cv.py',
                macro_f1=macro_f1, balanced_accuracy=macro_f1 + 5,
                accuracy=70.0 + fold, f1_classwise=f1,
                support_classwise=[9, 19, 43, 9, 34, 182 - fold, 7],
                best_epoch=10, best_val_macro_f1=macro_f1 + 1,
                time_s=seconds, torch='2.x', device='cpu', threads=1)


def run(loss, fold, seed=0, **kwargs):
    return RunRecord.from_dict(legacy(loss, fold, seed, **kwargs),
                               f'{loss}/{fold}/{seed}')


@pytest.fixture
def runs():
    return [run(loss, fold) for loss in MACRO_F1 for fold in range(3)]


def test_legacy_records_are_read_as_run_records(runs):
    r = runs[0]
    assert (r.loss, r.fold, r.seed, r.dataset, r.backbone) == (
        'ce', 0, 0, 'isic2018-cv', 'resnet18-w16')
    assert r.metric('macro_f1') == 40.0
    assert r.metrics['imbalanced/support_classwise'][5] == 182
    assert r.info['settings'] == dict(SETTINGS, cfg_options={})
    assert r.seconds == 100.0
    # stored again in the current layout, read back unchanged
    again = RunRecord.from_dict(r.to_dict(), r.path)
    assert again == r


def test_paired_uses_shared_folds(runs):
    diff = paired(runs, 'lmf', 'ce', 'macro_f1')
    # d = +2, +3, -1: mean 4/3, std sqrt(13/3)
    assert diff.n == 3 and diff.mean == pytest.approx(4 / 3)
    assert diff.std == pytest.approx(math.sqrt(13 / 3))
    assert (diff.wins, diff.losses) == (2, 1)
    # without lmf fold 2, only folds 0 and 1 pair up
    partial = [r for r in runs if (r.loss, r.fold) != ('lmf', 2)]
    diff = paired(partial, 'lmf', 'ce', 'macro_f1')
    assert diff.n == 2 and diff.mean == pytest.approx(2.5)
    # per-class: element 6 is macro_f1 + 3 in both, same difference
    assert paired(runs, 'lmf', 'ce', 'f1_classwise', 6).mean == \
        pytest.approx(4 / 3)


def test_summary_table_values(runs):
    lines = summary_table(runs).markdown().splitlines()
    assert len(lines) == 2 + 3
    ce, ldam, lmf = lines[2], lines[3], lines[4]  # report order
    assert ce.startswith('| cross-entropy | 3 | 45.0 ± 5.0 | 50.0 ± 5.0 |')
    assert '(reference)' in ce
    half = T_2 * math.sqrt(13 / 3) / math.sqrt(3)
    assert f'+1.3 [{4 / 3 - half:+.1f}, {4 / 3 + half:+.1f}] (n=3)' in lmf
    assert '| 2 / 1 |' in lmf and lmf.endswith('| 100 |')
    assert ldam.startswith('| LDAM') and '-13.0' in ldam and \
        '| 0 / 3 |' in ldam


def test_classwise_and_per_run_tables(runs):
    table = classwise_table(runs).markdown().splitlines()
    assert table[0] == '| per-class F1 (%) | ' + ' | '.join(CLASSES) + ' |'
    assert table[2] == ('| test images per fold | 9 | 19 | 43 | 9 | 34 | '
                        '180–182 | 7 |')
    assert table[3].startswith('| F1 ce | 42.0 ± 5.0 | 43.0 ± 5.0 |')
    assert any(line.startswith('| Δ F1 lmf − ce | +1.3 [')
               for line in table)
    per_run = per_run_table(runs).markdown().splitlines()
    assert per_run[0] == ('| loss | fold 0 seed 0 | fold 1 seed 0 | '
                          'fold 2 seed 0 |')
    assert per_run[2:] == ['| ce | 40.0 | 50.0 | 45.0 |',
                           '| ldam | 30.0 | 35.0 | 31.0 |',
                           '| lmf | 42.0 | 53.0 | 44.0 |']


def test_report_without_reference_empty_and_repeated():
    only = [run('lmf', f) for f in range(3)]
    text = paired_report(only, title='t')
    assert '| LMF (1.5 LDAM + 1.0 focal) | 3 |' in text and '(n=' not in text
    assert 'No results yet' in paired_report([], title='t')
    with pytest.raises(ValueError, match='two results for loss lmf'):
        summary_table(only + [run('lmf', 0)])


def test_runs_without_folds_pair_by_seed():
    """Grid runs (fold None) pair by seed; a missing metric is left out."""
    runs = [run('ce', 0, seed) for seed in range(3)] + \
        [run('lmf', 0, seed) for seed in range(3)]
    runs = [RunRecord.from_dict(dict(r.to_dict(), fold=None), r.path)
            for r in runs]
    report = paired_report(runs)
    assert 'Test = the test split' in report
    assert '| loss | seed 0 | seed 1 | seed 2 |' in report
    # same numbers in both losses but for the loss: d = +2 for every seed
    assert '+2.0 [+2.0, +2.0] (n=3)' in report
