"""``mim train mmpretrain CONFIG`` end to end from the installed package:
MMPretrain's own train script runs in a subprocess outside the repository,
imports lmfloss_mm through ``custom_imports``, reads the data root from the
environment, trains, validates and keeps the best-macro-F1 checkpoint; then
``mim test`` evaluates that checkpoint in the same work folder, and
``tools/make_tables.py`` / ``tools/plot_results.py`` read that plain work
folder."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmfloss_mm.datasets import HAM10000_CLASSES
from lmfloss_mm.datasets.synthetic import make_fake_ham10000
from lmfloss_mm.results import load_runs
from tests.conftest import load_tool_module

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py'
FAST = [
    'model.backbone.init_cfg=None',  # no download in tests
    'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1',
] + [
    option for split in ('train', 'val', 'test') for option in (
        f'{split}_dataloader.batch_size=16',
        f'{split}_dataloader.num_workers=0',
        f'{split}_dataloader.persistent_workers=False',
        f'{split}_dataloader.dataset.pipeline.1.scale=(64,64)')
]


def mim(*args, cwd, env):
    result = subprocess.run(
        [sys.executable, '-m', 'mim', *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.mark.slow
def test_mim_train_then_test(tmp_path):
    data_root = make_fake_ham10000(tmp_path / 'HAM10000')
    env = dict(os.environ, HAM10000_ROOT=str(data_root),
               PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)
    work_dir = tmp_path / 'work'
    output = mim('train', 'mmpretrain', str(CONFIG), '--work-dir',
                 str(work_dir), '--cfg-options', *FAST, cwd=tmp_path, env=env)
    assert 'SetClassCountsHook: training class counts' in output
    assert 'imbalanced/macro_f1' in output
    best = list(work_dir.glob('best_imbalanced_macro_f1_epoch_1.pth'))
    assert len(best) == 1, sorted(p.name for p in work_dir.iterdir())
    # the command docs/reproduce.md gives for tables of a plain work folder
    output = mim('test', 'mmpretrain', str(CONFIG), '--checkpoint',
                 str(best[0]), '--work-dir', str(work_dir), '--out',
                 str(work_dir / 'predictions.pkl'), '--cfg-options', *FAST,
                 'randomness.seed=3', cwd=tmp_path, env=env)
    assert 'imbalanced/macro_f1' in output
    assert 'Unsupported global' not in output

    # the work folder is a run for the tables and the figures
    [run] = load_runs([str(work_dir)])
    test_log = json.loads(Path(run.info['test_log']).read_text())
    assert run.metrics['imbalanced/macro_f1'] == test_log[
        'imbalanced/macro_f1']
    assert (run.config_stem, run.seed, run.fold) == (CONFIG.stem, 3, None)
    assert (run.dataset, run.backbone, run.loss) == ('ham10000', 'resnet50',
                                                     'lmf')
    assert run.classes == list(HAM10000_CLASSES)
    assert run.predictions == str(work_dir / 'predictions.pkl')
    assert load_tool_module('make_tables').main(
        [str(work_dir), '--out-dir', str(tmp_path / 'tables'), '--quiet']) == 0
    cell = f'{test_log["imbalanced/macro_f1"]:.2f}'
    assert f'| HAM10000 | ResNet-50 | {cell} |' in (
        tmp_path / 'tables' / 'results.md').read_text()
    written = load_tool_module('plot_results').main(
        [str(work_dir), '--out-dir', str(tmp_path / 'plots')])
    assert str(tmp_path / 'plots' / 'reliability' / f'{CONFIG.stem}.png') \
        in written
