"""The benchmark report (lmfloss_mm.benchmarking.report) and
``tools/benchmark_isic2018_cv.py --report-only`` on stored fake results."""
import csv
import json
import math

import pytest

from lmfloss_mm.benchmarking.report import (classwise_table, format_report,
                                            paired, records_to_csv,
                                            summary_table)

CLASSES = ['akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc']
SETTINGS = dict(preset='cpu', arch='resnet18-w16', img_size=48, epochs=12,
                n_folds=3, val_ratio=0.2, split_seed=0)
#: macro-F1 of (loss, fold); seed 0 only
MACRO_F1 = {
    'ce': [40.0, 50.0, 45.0],
    'lmf': [42.0, 53.0, 44.0],
    'ldam': [30.0, 35.0, 31.0],
}


def record(loss, fold, seed=0, macro_f1=None, time_s=100.0):
    macro_f1 = MACRO_F1[loss][fold] if macro_f1 is None else macro_f1
    f1 = [macro_f1 + d for d in (-3, -2, -1, 0, 1, 2, 3)]  # mean = macro_f1
    return dict(SETTINGS, loss=loss, fold=fold, seed=seed, classes=CLASSES,
                macro_f1=macro_f1, balanced_accuracy=macro_f1 + 5,
                accuracy=70.0 + fold, f1_classwise=f1,
                support_classwise=[9, 19, 43, 9, 34, 182 - fold, 7],
                best_epoch=10, best_val_macro_f1=macro_f1 + 1,
                time_s=time_s, torch='2.x', device='cpu', threads=1)


@pytest.fixture
def records():
    return [record(loss, fold) for loss in MACRO_F1 for fold in range(3)]


def test_paired_uses_shared_folds(records):
    diff = paired(records, 'lmf', 'ce', 'macro_f1')
    # d = +2, +3, -1: mean 4/3, std sqrt(13/3)
    assert diff.n == 3 and diff.mean == pytest.approx(4 / 3)
    assert diff.std == pytest.approx(math.sqrt(13 / 3))
    assert (diff.wins, diff.losses) == (2, 1)
    # without lmf fold 2, only folds 0 and 1 pair up
    partial = [r for r in records if (r['loss'], r['fold']) != ('lmf', 2)]
    diff = paired(partial, 'lmf', 'ce', 'macro_f1')
    assert diff.n == 2 and diff.mean == pytest.approx(2.5)
    # per-class: element 6 is macro_f1 + 3 in both, same difference
    assert paired(records, 'lmf', 'ce', 'f1_classwise', 6).mean == \
        pytest.approx(4 / 3)


def test_summary_table_values(records):
    table = summary_table(records)
    lines = table.splitlines()
    assert len(lines) == 2 + 3
    ce, ldam, lmf = lines[2], lines[3], lines[4]  # report order
    assert ce.startswith('| cross-entropy | 3 | 45.0 ± 5.0 | 50.0 ± 5.0 |')
    assert '(reference)' in ce
    # lmf - ce = +1.33, t(0.975, 2) = 4.303: half width 4.303 * 2.08 / 1.73
    half = 4.302652729749464 * math.sqrt(13 / 3) / math.sqrt(3)
    assert f'+1.3 [{4 / 3 - half:+.1f}, {4 / 3 + half:+.1f}] (n=3)' in lmf
    assert '| 2 / 1 |' in lmf and lmf.endswith('| 100 |')
    assert ldam.startswith('| LDAM') and '-13.0' in ldam and '| 0 / 3 |' in \
        ldam


def test_classwise_table(records):
    table = classwise_table(records).splitlines()
    assert table[0] == '| per-class F1 (%) | ' + ' | '.join(CLASSES) + ' |'
    assert table[2] == ('| test images per fold | 9 | 19 | 43 | 9 | 34 | '
                        '180–182 | 7 |')
    assert table[3].startswith('| F1 ce | 42.0 ± 5.0 | 43.0 ± 5.0 |')
    assert any(
        line.startswith('| Δ F1 lmf − ce | +1.3 [') for line in table)


def test_report_without_reference_and_empty():
    only = [record('lmf', f) for f in range(3)]
    text = format_report(only, title='t')
    assert '| LMF (1.5 LDAM + 1.0 focal) | 3 |' in text and '(n=' not in text
    assert 'No results yet' in format_report([], title='t')
    with pytest.raises(ValueError, match='two results'):
        summary_table(only + [record('lmf', 0)])


def test_csv_rows(records):
    rows = list(csv.DictReader(records_to_csv(records).splitlines()))
    assert len(rows) == 9
    assert [r['loss'] for r in rows[:3]] == ['ce', 'ldam', 'lmf']
    assert rows[0]['fold'] == '0' and float(rows[0]['macro_f1']) == 40.0
    assert float(rows[0]['f1_vasc']) == 43.0
    assert float(rows[0]['time_s']) == 100.0


def write_results(root, records):
    for r in records:
        folder = root / 'runs' / r['loss'] / f'fold{r["fold"]}_seed{r["seed"]}'
        folder.mkdir(parents=True)
        (folder / 'result.json').write_text(json.dumps(r))


def test_report_only(bench_tool, records, tmp_path, capsys):
    write_results(tmp_path, records)
    out = bench_tool.main(['--report-only', '--work-root', str(tmp_path)])
    assert len(out) == 9
    printed = capsys.readouterr().out
    markdown = (tmp_path / 'results.md').read_text()
    assert markdown.strip() in printed
    assert '3-fold cross-validation, cpu preset (resnet18-w16, 48 px, 12 ' \
        'epochs)' in markdown
    assert '| cross-entropy | 3 | 45.0 ± 5.0 |' in markdown
    assert 'n pairs: ldam 3, lmf 3' in markdown
    lines = (tmp_path / 'runs.jsonl').read_text().splitlines()
    assert sorted(json.loads(line)['macro_f1'] for line in lines) == sorted(
        r['macro_f1'] for r in records)
    assert len((tmp_path / 'results.csv').read_text().splitlines()) == 10
    # runs.jsonl alone is enough to rebuild the report
    other = tmp_path / 'copy'
    other.mkdir()
    (other / 'runs.jsonl').write_text('\n'.join(lines) + '\n')
    bench_tool.main(['--report-only', '--work-root', str(other)])
    assert (other / 'results.md').read_text() == markdown


def test_report_only_without_results(bench_tool, tmp_path):
    with pytest.raises(SystemExit, match='No stored results'):
        bench_tool.main(['--report-only', '--work-root', str(tmp_path)])


def test_report_warns_about_mixed_settings(bench_tool, records, tmp_path):
    records[0]['epochs'] = 5
    write_results(tmp_path, records)
    bench_tool.main(['--report-only', '--work-root', str(tmp_path)])
    assert "differ in ['epochs']" in (tmp_path / 'results.md').read_text()
