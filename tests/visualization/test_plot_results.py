"""tools/plot_results.py, lmfloss_mm.results.predictions and the figures
on a synthetic finished grid written by the test."""
import contextlib
import csv
import io
import pickle
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from lmfloss_mm.evaluation.functional import (calibration_bins,
                                              expected_calibration_error)
from lmfloss_mm.results import LOSS_ORDER, load_runs, ordered
from lmfloss_mm.results.predictions import (group_runs, load_predictions,
                                            per_class_f1_table,
                                            pooled_predictions,
                                            run_f1_classwise,
                                            summed_confusion)
from lmfloss_mm.visualization import (plot_confusion_matrix,
                                      plot_per_class_f1,
                                      plot_reliability_diagram,
                                      row_normalise)
from tests.conftest import assert_png

from .fake_grid import (BACKBONE, CE_STEM, CLASSES, DATASET, FOCAL_STEM,
                        LMF_STEM, write_grid)


def ece_by_loop(confidence, correct, n_bins):
    """Independent ECE: explicit bins (lo, hi], the first one closed."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        if b == 0:
            in_bin = (confidence >= lo) & (confidence <= hi)
        else:
            in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            total += in_bin.sum() / confidence.size * gap
    return total


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('plot_results')


@pytest.fixture
def grid(tmp_path):
    root = tmp_path / 'grid'
    predictions = write_grid(root)
    return root, predictions


@pytest.fixture(scope='module')
def plotted(tool, tmp_path_factory):
    """The tool run once on the grid (10 bins): output folder, files
    written, printed text, the predictions written."""
    tmp_path = tmp_path_factory.mktemp('plotted')
    predictions = write_grid(tmp_path / 'grid')
    out = tmp_path / 'plots'
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        written = tool.main([str(tmp_path / 'grid'), '--out-dir', str(out),
                             '--bins', '10'])
    return out, written, stdout.getvalue(), predictions


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_tool_writes_every_figure_and_skips_unfinished_runs(plotted):
    out, written, stdout, _ = plotted
    expected = [
        out / 'per_class_f1' / f'{DATASET}_{BACKBONE}.png',
        out / 'confusion' / f'{CE_STEM}.png',
        out / 'confusion' / f'{LMF_STEM}.png',
        out / 'reliability' / f'{CE_STEM}.png',
        out / 'reliability' / f'{LMF_STEM}.png',
        out / 'forest' / f'{DATASET}_{BACKBONE}.png',  # LMF pairs with CE
    ]
    for path in expected:
        assert_png(path)
    assert sorted(map(str, written)) == sorted(
        map(str, expected + [out / 'per_class_f1.csv',
                             out / 'calibration.csv']))
    # the unfinished focal run is skipped with a message, no figure
    assert f'skipping {FOCAL_STEM}/seed-0: no test results yet' in \
        stdout.replace(str(out.parent / 'grid') + '/', '')
    assert not list(out.rglob(f'*{FOCAL_STEM}*'))
    # the LMF seed without predictions is left out of its diagram
    assert f'{LMF_STEM}/seed-1: no predictions.pkl' in stdout
    assert '5 finished run(s) of 2 config(s)' in stdout


def test_per_class_f1_mean_and_std_over_seeds(plotted):
    out, _, _, _ = plotted
    rows = read_csv(out / 'per_class_f1.csv')
    got = {(r['loss'], r['class']): (float(r['f1_mean']), float(r['f1_std']),
                                     int(r['n_runs'])) for r in rows}
    # hand-computed from fake_grid.F1
    expected = {
        ('ce', 'akiec'): (80, 10, 3), ('ce', 'bcc'): (40, 10, 3),
        ('ce', 'nv'): (10, 10, 3),
        ('lmf', 'akiec'): (65, 50**0.5, 2), ('lmf', 'bcc'): (55, 50**0.5, 2),
        ('lmf', 'nv'): (40, 200**0.5, 2),
    }
    assert set(got) == set(expected)
    for key, (mean, std, n) in expected.items():
        assert got[key][0] == pytest.approx(mean)
        assert got[key][1] == pytest.approx(std)
        assert got[key][2] == n
    assert [r['loss'] for r in rows] == ['ce'] * 3 + ['lmf'] * 3


def test_per_class_f1_figure_bars(grid):
    root, _ = grid
    runs = load_runs([str(root)], warn=lambda msg: None)
    classes, table = per_class_f1_table(runs)
    assert classes == CLASSES and list(table) == ['ce', 'lmf']
    fig = plot_per_class_f1(classes, table, title='t')
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [80, 40, 10, 65, 55, 40])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ['ce (macro 43.3, n=3)', 'lmf (macro 53.3, n=2)']


def test_confusion_matrices_summed_and_row_normalised(grid):
    root, _ = grid
    runs = group_runs(load_runs([str(root)], warn=lambda msg: None),
                      key=lambda r: r.config_stem)
    matrix, used = summed_confusion(runs[CE_STEM])
    assert used == 3
    np.testing.assert_array_equal(matrix,
                                  [[4, 1, 1], [2, 8, 2], [2, 2, 27]])
    expected = np.array([[4 / 6, 1 / 6, 1 / 6], [2 / 12, 8 / 12, 2 / 12],
                         [2 / 31, 2 / 31, 27 / 31]])
    np.testing.assert_allclose(row_normalise(matrix), expected)
    fig = plot_confusion_matrix(matrix, CLASSES, title='ce')
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(),
                               expected * 100)
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert cells[0] == '67\n(4)' and cells[-1] == '87\n(27)'

    matrix, used = summed_confusion(runs[LMF_STEM])
    assert used == 2
    np.testing.assert_array_equal(matrix,
                                  [[6, 1, 1], [1, 7, 0], [2, 5, 13]])
    # an all-zero row stays zero instead of dividing by zero
    np.testing.assert_array_equal(row_normalise([[0, 0], [1, 3]]),
                                  [[0, 0], [0.25, 0.75]])


def test_reliability_ece_matches_independent_computation(plotted):
    out, _, _, predictions = plotted
    rows = {r['config_stem']: r for r in read_csv(out / 'calibration.csv')}
    # CE: the three seeds pooled
    scores = np.concatenate(
        [predictions[(CE_STEM, s)][0] for s in (0, 1, 2)]).astype(np.float64)
    labels = np.concatenate([predictions[(CE_STEM, s)][1] for s in (0, 1, 2)])
    confidence = scores.max(1)
    correct = scores.argmax(1) == labels
    expected = ece_by_loop(confidence, correct, 10)
    assert 0.01 < expected < 0.5  # the fake scores are miscalibrated
    assert float(rows[CE_STEM]['ece_percent']) == pytest.approx(
        100 * expected, abs=1e-10)
    assert int(rows[CE_STEM]['n_samples']) == 180
    assert int(rows[CE_STEM]['n_runs']) == 3
    assert float(rows[CE_STEM]['accuracy_percent']) == pytest.approx(
        100 * correct.mean())
    # LMF: only seed 0 has predictions
    lmf_scores, lmf_labels = predictions[(LMF_STEM, 0)]
    lmf_scores = lmf_scores.astype(np.float64)
    assert float(rows[LMF_STEM]['ece_percent']) == pytest.approx(
        100 * ece_by_loop(lmf_scores.max(1),
                          lmf_scores.argmax(1) == lmf_labels, 10), abs=1e-10)
    assert int(rows[LMF_STEM]['n_samples']) == 60


def test_reliability_diagram_title_and_bins(grid):
    root, predictions = grid
    runs = group_runs(load_runs([str(root)], warn=lambda msg: None),
                      key=lambda r: r.config_stem)
    scores, labels, used = pooled_predictions(runs[CE_STEM])
    assert used == 3 and scores.shape == (180, 3)
    confidence, correct = scores.max(1), scores.argmax(1) == labels
    ece = expected_calibration_error(confidence, correct, 15)
    assert ece == pytest.approx(ece_by_loop(confidence, correct, 15),
                                abs=1e-12)
    bins = calibration_bins(confidence, correct, 15)
    # per-bin accuracy, independently
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        in_bin = (confidence > lo) & (confidence <= hi)
        assert bins['count'][b] == in_bin.sum()
        if in_bin.any():
            assert bins['accuracy'][b] == pytest.approx(correct[in_bin].mean())
    fig = plot_reliability_diagram(bins, ece, title=CE_STEM)
    title = fig.axes[0].get_title()
    shown = float(re.search(r'ECE = ([0-9.]+)%', title).group(1))
    assert shown == pytest.approx(100 * ece_by_loop(confidence, correct, 15),
                                  abs=0.005)
    assert '15 bins, 180 samples' in title


def test_reliability_bins_edges_belong_to_the_lower_bin():
    # bins (b / 10, (b + 1) / 10], the first one also holds 0
    bins = calibration_bins(np.array([0.0, 0.1, 0.5, 0.55, 1.0]),
                            np.array([1, 0, 1, 1, 0]), 10)
    expected = np.zeros(10, int)
    expected[[0, 4, 5, 9]] = [2, 1, 1, 1]
    np.testing.assert_array_equal(bins['count'], expected)
    np.testing.assert_allclose(bins['accuracy'][[0, 4, 5, 9]], [0.5, 1, 1, 0])
    np.testing.assert_allclose(bins['confidence'][[0, 4, 5, 9]],
                               [0.05, 0.5, 0.55, 1.0])


def test_load_predictions_accepts_tensors_arrays_and_logits(tmp_path):
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    as_tensors = [dict(pred_score=torch.from_numpy(s), gt_label=torch.tensor(
        [k])) for s, k in zip(scores, (0, 2))]
    as_arrays = [dict(pred_score=s, gt_label=np.array(k))
                 for s, k in zip(scores, (0, 2))]
    for name, data in (('t.pkl', as_tensors), ('a.pkl', as_arrays)):
        with open(tmp_path / name, 'wb') as f:
            pickle.dump(data, f)
        got_scores, got_labels = load_predictions(tmp_path / name)
        np.testing.assert_allclose(got_scores, scores, rtol=1e-6)
        np.testing.assert_array_equal(got_labels, [0, 2])
    logits = [dict(pred_score=np.array([2.0, 0.0]), gt_label=1)]
    with open(tmp_path / 'logits.pkl', 'wb') as f:
        pickle.dump(logits, f)
    with pytest.warns(UserWarning, match='not probabilities'):
        got_scores, _ = load_predictions(tmp_path / 'logits.pkl')
    np.testing.assert_allclose(got_scores[0],
                               np.exp([2, 0]) / np.exp([2, 0]).sum())
    with open(tmp_path / 'bad.pkl', 'wb') as f:
        pickle.dump([dict(pred_label=torch.tensor([1]))], f)
    with pytest.raises(ValueError, match='no pred_score or gt_label'):
        load_predictions(tmp_path / 'bad.pkl')


def test_f1_falls_back_to_the_confusion_matrix(grid):
    root, _ = grid
    run = load_runs([str(root)], warn=lambda msg: None)[0]
    matrix = [[3, 1, 0], [1, 5, 0], [0, 0, 0]]
    without_f1 = replace(run, metrics={'imbalanced/confusion_matrix': matrix})
    # class 0: 2*3 / (4 + 4); class 1: 2*5 / (6 + 6); class 2 never occurs
    np.testing.assert_allclose(run_f1_classwise(without_f1),
                               [75.0, 250 / 3, 0.0])


def test_loss_order_groups_variants_with_their_family():
    assert ordered(['wce-bwcce', 'lmf', 'ldam-drw', 'ce', 'ldam',
                    'balanced-softmax', 'ce-sqrt', 'focal', 'lmf'],
                   LOSS_ORDER) == [
        'ce', 'ce-sqrt', 'focal', 'ldam', 'ldam-drw', 'lmf',
        'balanced-softmax', 'wce-bwcce'
    ]


def test_per_class_f1_of_zero_is_drawn():
    """A mean F1 of 0 has no bar: a marker and a '0' show it."""
    table = {'ce': (np.array([80.0, 0.0, 10.0]), np.array([5.0, 0.0, 1.0]),
                    3),
             'lmf': (np.array([70.0, 20.0, 0.0]), np.full(3, np.nan), 1)}
    fig = plot_per_class_f1(['a', 'b', 'c'], table)
    ax = fig.axes[0]
    markers = [(line.get_xdata()[0], line.get_ydata()[0])
               for line in ax.lines if line.get_marker() == '^']
    width = 0.8 / 2
    # ce's bar of class b (x = 1 - width/2), lmf's of class c (2 + width/2)
    assert markers == [(pytest.approx(1 - width / 2), 0),
                       (pytest.approx(2 + width / 2), 0)]
    zeros = [t for t in ax.texts if t.get_text() == '0']
    assert [round(t.get_position()[0], 6) for t in zeros] == [
        round(1 - width / 2, 6), round(2 + width / 2, 6)]


def test_empty_work_root_draws_nothing(tool, tmp_path, capsys):
    (tmp_path / 'some_config' / 'seed-0').mkdir(parents=True)
    (tmp_path / 'some_config' / 'seed-0' / 'train.log').write_text('')
    assert tool.main([str(tmp_path), '--out-dir', str(tmp_path / 'p')]) == []
    out = capsys.readouterr().out
    assert 'seed-0: no test results yet' in out
    assert 'No finished run' in out
    assert not (tmp_path / 'p').exists()
