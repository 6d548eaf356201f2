"""The method leaderboard of the cross-validated benchmark
(``--methods``, lmfloss_mm.benchmarking.methods): the plan of every method,
the two-stage runs and post-hoc logit adjustment on generated images, and
the paired differences against LMF."""
import itertools
import math
import os

import numpy as np
import pytest
from mmengine.config import Config
from scipy import stats as scipy_stats
from sklearn.metrics import balanced_accuracy_score, f1_score

from lmfloss_mm.benchmarking.cross_validation import (LOSSES, METHODS,
                                                      write_report)
from lmfloss_mm.benchmarking.methods import order_methods
from lmfloss_mm.results.paired import paired_differences, summary_table
from lmfloss_mm.results.predictions import load_predictions
from lmfloss_mm.results.record import RunRecord
from lmfloss_mm.runner.safe_load import load_checkpoint_file
from .conftest import REPO, make_isic2018_like

CPU_CONFIG = 'configs/benchmark/resnet18-w16_48px_1xb32-{}_isic2018-cv.py'
SECOND_STAGES = {'ce-crt': 'ce', 'ce-lws': 'ce', 'ce-taunorm': 'ce',
                 'ce-wb-maxnorm': 'ce-wb'}


def test_every_method_runs_once_per_fold_and_seed_in_order(bench_tool,
                                                           tmp_path):
    root = str(tmp_path / 'bench')
    summaries = bench_tool.main(['--methods', 'all', '--dry-run',
                                 '--work-root', root, '--seeds', '0', '1'])
    keys = [(s['loss'], s['fold'], s['seed']) for s in summaries]
    assert sorted(keys) == sorted(itertools.product(METHODS, range(5),
                                                    (0, 1)))
    assert not os.path.exists(root)
    position = {key: i for i, key in enumerate(keys)}
    for s in summaries:
        method, fold, seed = s['loss'], s['fold'], s['seed']
        if method == 'ce-posthoc-la':
            assert (s['kind'], s['source']) == ('post-hoc', 'ce')
            assert s['post_hoc'] == dict(source='ce', tau=1.0)
        elif method in SECOND_STAGES:
            first = SECOND_STAGES[method]
            assert (s['kind'], s['source']) == ('second stage', first)
            # the stage-1 best checkpoint of the same fold and seed
            assert s['load_from'] == os.path.join(
                root, 'runs', first, f'fold{fold}_seed{seed}',
                'best_imbalanced_macro_f1_*.pth')
        else:
            assert (s['kind'], s['source'], s['load_from']) == (
                'train', None, None)
        if s['source']:
            assert position[(s['source'], fold, seed)] < position[
                (method, fold, seed)]
    by_method = {s['loss']: s for s in summaries}
    assert by_method['ce-crt']['epochs'] == 2
    assert by_method['ce-taunorm']['train_loop'] == 'TauNormSweepLoop'
    for method in ('ldam-drw', 'lmf-drw'):
        assert by_method[method]['custom_hooks'][-1] == dict(
            type='DeferredReweightingHook', start_epoch=10, beta=0.9999)


def test_epochs_scale_the_switch_and_the_second_stage(bench_tool,
                                                      tmp_path):
    summaries = bench_tool.main([
        '--methods', 'ldam-drw', 'ce-crt', 'ce-taunorm', '--dry-run',
        '--epochs', '30', '--run-folds', '0', '--work-root',
        str(tmp_path)])
    s = {x['loss']: x for x in summaries}
    assert [x['loss'] for x in summaries] == ['ldam-drw', 'ce', 'ce-crt',
                                              'ce-taunorm']
    assert (s['ldam-drw']['epochs'], s['ce']['epochs']) == (30, 30)
    assert s['ldam-drw']['custom_hooks'][-1]['start_epoch'] == 25  # 10/12
    assert s['ce']['param_scheduler'][0]['step_size'] == 20  # 8/12
    assert s['ce-crt']['epochs'] == 5  # round(2 * 30 / 12)
    assert s['ce-crt']['param_scheduler'][0]['T_max'] == 5
    assert s['ce-taunorm']['epochs'] is None


def test_methods_arguments(bench_tool):
    assert bench_tool.parse_args([]).methods == list(LOSSES)
    assert bench_tool.parse_args(['--losses', 'ce', 'lmf']).methods == [
        'ce', 'lmf']
    assert bench_tool.parse_args(['--methods', 'all']).methods == list(
        METHODS)
    for argv in (['--methods', 'all', 'ce'], ['--methods', 'ce', 'ce'],
                 ['--methods', 'bce']):
        with pytest.raises(SystemExit):
            bench_tool.parse_args(argv)


def test_order_methods_adds_and_places_the_sources():
    first = {'crt': 'ce', 'maxnorm': 'wb'}.get
    assert order_methods(['crt', 'lmf', 'maxnorm', 'ce-posthoc-la'],
                         first) == (
        ['ce', 'crt', 'lmf', 'wb', 'maxnorm', 'ce-posthoc-la'],
        {'crt': 'ce', 'maxnorm': 'wb', 'ce-posthoc-la': 'ce'}, ['ce', 'wb'])
    with pytest.raises(ValueError, match='cycle'):
        order_methods(['a'], {'a': 'b', 'b': 'a'}.get)


def test_new_configs_keep_the_preset():
    """One-stage configs change only what their method sets; the second
    stages keep the preset's data and model."""
    ce = Config.fromfile(str(REPO / CPU_CONFIG.format('ce-12e')))
    for method in METHODS:
        if method == 'ce-posthoc-la':
            continue
        epochs = {'ce-taunorm': 0}.get(method, 2 if method in SECOND_STAGES
                                       else 12)
        cfg = Config.fromfile(
            str(REPO / CPU_CONFIG.format(f'{method}-{epochs}e')))
        assert cfg.model.backbone == ce.model.backbone | (
            dict(norm_eval=True) if method in SECOND_STAGES else {})
        assert cfg.train_dataloader.dataset == ce.train_dataloader.dataset
        assert cfg.train_dataloader.batch_size == 32
        assert cfg.optim_wrapper.optimizer.lr == 1e-3


def _weights(path, prefix):
    state = load_checkpoint_file(path, map_location='cpu')['state_dict']
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def test_two_stage_and_post_hoc_runs(bench_tool, tmp_path, capsys):
    """cRT, LWS, tau-norm and weight balancing on 42 generated images (one
    fold, one epoch, 32 px): the first stages are added and run first, each
    second stage loads the best checkpoint of its first stage of the same
    fold and seed and keeps its backbone; the post-hoc row equals logit
    adjustment of the CE run's stored predictions computed here."""
    source = tmp_path / 'src'
    make_isic2018_like(source, dict(MEL=6, NV=12, BCC=6, AKIEC=4, BKL=6,
                                    DF=4, VASC=4), image_size=40)
    root = tmp_path / 'bench'
    records = bench_tool.main([
        '--data', str(source), '--work-root', str(root), '--methods',
        'ce-crt', 'ce-lws', 'ce-taunorm', 'ce-wb-maxnorm', 'ce-posthoc-la',
        '--folds', '2', '--run-folds', '0', '--epochs', '1', '--img-size',
        '32'])
    out = capsys.readouterr().out
    assert [line.split(']')[1].split(':')[0].strip() for line in
            out.splitlines() if line.startswith('[') and 'macro-F1' in line
            ] == [f'{m} fold 0 seed 0' for m in (
                'ce', 'ce-crt', 'ce-lws', 'ce-taunorm', 'ce-wb',
                'ce-wb-maxnorm', 'ce-posthoc-la')]
    runs = {r.loss: r for r in records}
    assert set(runs) == {'ce', 'ce-crt', 'ce-lws', 'ce-taunorm', 'ce-wb',
                         'ce-wb-maxnorm', 'ce-posthoc-la'}
    for method, first in SECOND_STAGES.items():
        run, stage1 = runs[method], runs[first]
        assert run.info['first_stage'] == first
        assert run.info['load_from'] == stage1.info['checkpoint']
        assert os.path.isfile(stage1.info['checkpoint'])  # kept
        assert os.path.dirname(run.info['load_from']) == str(
            root / 'runs' / first / 'fold0_seed0')
        frozen = _weights(stage1.info['checkpoint'], 'backbone.')
        trained = _weights(run.info['checkpoint'], 'backbone.')
        assert frozen.keys() == trained.keys() and frozen
        for key in frozen:
            assert frozen[key].equal(trained[key]), key
        assert run.metric('support_classwise') == stage1.metric(
            'support_classwise')

    # post-hoc logit adjustment: the CE run's predictions and counts
    ce, la = runs['ce'], runs['ce-posthoc-la']
    scores, labels = load_predictions(ce.predictions)
    counts = np.asarray(ce.info['train_counts'], dtype=float)
    adjusted = np.argmax(np.log(scores) - np.log(counts / counts.sum()), 1)
    assert la.metric('macro_f1') == pytest.approx(100 * f1_score(
        labels, adjusted, average='macro', labels=range(7),
        zero_division=0))
    assert la.metric('balanced_accuracy') == pytest.approx(
        100 * balanced_accuracy_score(labels, adjusted))
    assert la.metric('accuracy') == pytest.approx(
        100 * (adjusted == labels).mean())
    assert la.info['post_hoc']['tau'] == 1.0 and la.seconds == 0
    assert (la.fold, la.seed, la.config) == (ce.fold, ce.seed, ce.config)
    la_scores, la_labels = load_predictions(la.predictions)
    assert (la_scores.argmax(1) == adjusted).all()
    assert (la_labels == labels).all()
    markdown = (root / 'results.md').read_text()
    assert '| ce-posthoc-la | 1 |' in markdown
    assert 'forest_macro_f1.png' in markdown
    assert (root / 'forest_macro_f1.png').read_bytes()[:8] == \
        b'\x89PNG\r\n\x1a\n'


def _record(loss, fold, seed, f1, bacc):
    return RunRecord(
        path=f'runs/{loss}/fold{fold}_seed{seed}/metrics.json',
        config=f'{loss}.py', config_stem=loss, seed=seed, fold=fold,
        dataset='isic2018-cv', backbone='resnet18-w16', loss=loss,
        classes=['a', 'b'],
        metrics={'imbalanced/macro_f1': f1,
                 'imbalanced/balanced_accuracy': bacc,
                 'imbalanced/accuracy': bacc,
                 'imbalanced/auc_macro': 80.0 + f1 / 10,
                 'imbalanced/few_shot_acc': bacc / 2},
        info=dict(seconds=1.0))


RNG = np.random.default_rng(3)
F1 = {loss: 50 + 10 * RNG.random(6) for loss in ('ce', 'lmf', 'focal')}
BACC = {loss: 55 + 10 * RNG.random(6) for loss in ('ce', 'lmf', 'focal')}


def synthetic_runs():
    """3 folds x 2 seeds of ce, lmf and focal with known values."""
    return [_record(loss, i % 3, i // 3, float(F1[loss][i]),
                    float(BACC[loss][i]))
            for loss in F1 for i in range(6)]


def t_interval(d):
    half = scipy_stats.t.ppf(0.975, len(d) - 1) * np.std(d, ddof=1) / \
        math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def test_paired_differences_against_lmf():
    runs = synthetic_runs()
    diffs = paired_differences(runs, ['ce', 'lmf'])
    assert list(diffs) == ['ce', 'focal', 'lmf']
    assert set(diffs['ce']) == {'lmf'} and set(diffs['lmf']) == {'ce'}
    for loss in ('ce', 'focal'):
        mean, low, high = t_interval(F1[loss] - F1['lmf'])
        diff = diffs[loss]['lmf']
        assert (diff.mean, diff.low, diff.high) == pytest.approx(
            (mean, low, high), abs=1e-9)
        assert diff.n == 6
    table = summary_table(runs, 'ce', more_references=['lmf'])
    col = table.header.index('Δ bal. acc. vs lmf [95% CI]')
    row = next(r for r in table.rows if r[0].startswith('focal'))
    mean, low, high = t_interval(BACC['focal'] - BACC['lmf'])
    assert row[col] == f'{mean:+.1f} [{low:+.1f}, {high:+.1f}] (n=6)'
    lmf_row = next(r for r in table.rows if r[0].startswith('LMF'))
    assert lmf_row[col] == '(reference)'


def test_report_has_the_leaderboard_columns_and_forest(tmp_path):
    runs = synthetic_runs()
    markdown = write_report(str(tmp_path), runs)
    header = next(line for line in markdown.splitlines()
                  if line.startswith('| loss |'))
    for title in ('macro-F1', 'AUC', 'many-shot acc.', 'few-shot acc.',
                  'Δ macro-F1 vs ce [95% CI]', 'Δ macro-F1 vs lmf [95% CI]'):
        assert f'| {title} |' in header
    focal = next(line for line in markdown.splitlines()
                 if line.startswith('| focal'))
    auc = 80 + F1['focal'] / 10
    assert f'{auc.mean():.1f} ± {auc.std(ddof=1):.1f}' in focal
    assert (tmp_path / 'forest_macro_f1.png').is_file()
