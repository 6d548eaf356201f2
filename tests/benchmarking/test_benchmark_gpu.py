"""tools/benchmark_gpu.py and lmfloss_mm.benchmarking.gpu: arguments, the
commands it gives the other tools, time budgets, stopping a child process,
parsing, report files, config overrides and the throughput measurement."""
import copy
import json
import os
import sys
import tarfile
import time

import pytest
import torch
from mmengine.config import Config

from lmfloss_mm.benchmarking import skip_probe
from lmfloss_mm.benchmarking.cross_validation import CVOptions, build_config
from lmfloss_mm.benchmarking.gpu import (GPUBenchmark, lmf_vs_ce,
                                         parse_markdown_table)
from lmfloss_mm.benchmarking.overrides import (drop_pretrained_init,
                                               set_image_size,
                                               set_loader_options, use_amp)
from lmfloss_mm.benchmarking.parts import (TimedParts, run_command,
                                           summary_line)
from lmfloss_mm.benchmarking.throughput import (build_training, measure,
                                                median_of, resident_batches)

from .conftest import REPO

PAPER = str(REPO / 'configs/ham10000/resnet50_in1k-pre_1xb32-lmf-100e_'
            'ham10000.py')
#: Narrow ResNet-18 of the cpu preset: small enough for CPU tests.
SMALL = str(REPO / 'configs/benchmark/resnet18-w16_48px_1xb32-lmf-12e_'
            'isic2018-cv.py')
COUNTS = [43, 93, 217, 44, 171, 909, 35]


@pytest.fixture(scope='module')
def gpu_tool(load_tool):
    return load_tool('benchmark_gpu')


def cpu_args(gpu_tool, tmp_path, *extra):
    return gpu_tool.parse_args(['--out', str(tmp_path / 'out'), '--work-dir',
                                str(tmp_path / 'work'), '--device', 'cpu',
                                *extra])


# ---------------------------------------------------------------- arguments
def test_quick_settings_and_explicit_arguments(gpu_tool, tmp_path):
    args = cpu_args(gpu_tool, tmp_path, '--quick')
    assert (args.img_size, args.cv_epochs, args.cv_run_folds,
            args.budget_s) == (32, 1, [0], 1200)
    assert args.cv_lr_step == 1 and args.amp is None  # no AMP on the CPU
    args = cpu_args(gpu_tool, tmp_path, '--quick', '--cv-epochs', '12',
                    '--budget-s', '60')
    assert (args.cv_epochs, args.cv_lr_step, args.budget_s) == (12, 8, 60)
    args = cpu_args(gpu_tool, tmp_path)
    assert (args.img_size, args.batch_size, args.cv_epochs, args.cv_lr_step,
            args.cv_lr) == (224, 32, 15, 10, 1e-3)


@pytest.mark.parametrize('extra', [
    ['--budget-s', '0'], ['--cv-run-folds', '5'], ['--cv-folds', '1'],
    ['--cv-epochs', '0'], ['--parts', 'nothing']])
def test_bad_arguments(gpu_tool, tmp_path, extra):
    with pytest.raises(SystemExit):
        cpu_args(gpu_tool, tmp_path, *extra)


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is available')
def test_cuda_device_without_cuda_is_refused(gpu_tool, tmp_path, capsys):
    with pytest.raises(SystemExit):
        gpu_tool.parse_args(['--out', str(tmp_path)])
    assert '--device cpu --quick' in capsys.readouterr().err


def test_cv_command_is_what_the_cv_tool_runs(gpu_tool, bench_tool, tmp_path,
                                             capsys):
    args = cpu_args(gpu_tool, tmp_path, '--cv-epochs', '9')
    args.amp = 'bf16'  # as on CUDA
    bench = GPUBenchmark(args, str(REPO))
    cmd = bench.cv_command(fold=3)
    assert cmd[:2] == [sys.executable, 'tools/benchmark_isic2018_cv.py']
    assert cmd[cmd.index('--run-folds') + 1] == '3'
    summaries = bench_tool.main(cmd[2:] + ['--dry-run'])
    capsys.readouterr()
    assert [(s['loss'], s['fold']) for s in summaries] == [('ce', 3),
                                                           ('lmf', 3)]
    s = summaries[1]
    assert s['backbone']['type'] == 'ResNet' and s['backbone']['depth'] == 50
    assert s['backbone']['pretrained'] is None  # --from-scratch
    assert s['amp'] == 'bfloat16'
    assert s['optimizer'] == dict(type='Adam', lr=1e-3, weight_decay=5e-4)
    assert s['param_scheduler'] == [dict(type='StepLR', by_epoch=True,
                                         step_size=6, gamma=0.1)]
    assert (s['epochs'], s['img_size'], s['num_workers']) == (9, 224,
                                                              args.workers)
    assert s['work_dir'].startswith(str(tmp_path / 'work' / 'cv'))


def test_cv_options_reach_the_config(tmp_path):
    opts = CVOptions(repo=str(REPO), data='', preset='gpu',
                     from_scratch=True, amp='bfloat16', num_workers=0,
                     cache_images=True)
    cfg = build_config(opts, 'lmf', str(tmp_path), 's.csv',
                       str(tmp_path / 'w'), seed=1)
    assert 'init_cfg' not in cfg.model.backbone
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == (
        'AmpOptimWrapper', 'bfloat16')
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        assert (loader.num_workers, loader.persistent_workers) == (0, False)
        assert loader.dataset.cache_images is True
    plain = build_config(CVOptions(repo=str(REPO), data='', preset='gpu'),
                         'lmf', str(tmp_path), 's.csv', 'w', seed=1)
    assert plain.model.backbone.init_cfg.type == 'Pretrained'
    assert 'type' not in plain.optim_wrapper
    assert 'cache_images' not in plain.train_dataloader.dataset


# ---------------------------------------------------------------- overrides
def test_overrides():
    cfg = Config.fromfile(PAPER)
    assert drop_pretrained_init(cfg) == [
        'https://download.openmmlab.com/mmclassification/v0/resnet/'
        'resnet50_8xb32_in1k_20210831-ea4938fc.pth']
    assert 'init_cfg' not in cfg.model.backbone
    cfg.model.neck = dict(type='X', init_cfg=[
        dict(type='Pretrained', checkpoint='a.pth'), dict(type='Kaiming')])
    assert drop_pretrained_init(cfg) == ['a.pth']
    assert cfg.model.neck.init_cfg == [dict(type='Kaiming')]
    use_amp(cfg, 'fp16')
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == (
        'AmpOptimWrapper', 'float16')
    with pytest.raises(ValueError, match='Unknown mixed-precision'):
        use_amp(cfg, 'int8')
    cfg.optim_wrapper.type = 'DeepSpeedOptimWrapper'
    with pytest.raises(ValueError, match='DeepSpeedOptimWrapper'):
        use_amp(cfg, 'bf16')
    cfg.train_dataloader.dataset = dict(
        type='ClassBalancedDataset', oversample_thr=0.1,
        dataset=cfg.train_dataloader.dataset)
    set_loader_options(cfg, num_workers=3, cache_images=True)
    set_image_size(cfg, 64)
    inner = cfg.train_dataloader.dataset.dataset
    assert inner.cache_images is True and 'cache_images' not in \
        cfg.train_dataloader.dataset
    assert inner.pipeline[1].scale == (64, 64)
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (64, 64)
    assert (cfg.val_dataloader.num_workers,
            cfg.val_dataloader.persistent_workers) == (3, True)
    with pytest.raises(ValueError, match='num_workers'):
        set_loader_options(cfg, num_workers=-1)


# ------------------------------------------------------------- time budget
class FakeClock:

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_timed_parts_budgets_failures_and_updates():
    clock = FakeClock()
    updates = []
    parts = TimedParts(100, on_update=lambda r: updates.append(list(r)),
                       clock=clock)
    seen = {}

    def first(budget):
        seen['first'] = budget
        clock.now += 30
        return dict(value=1)

    def broken(budget):
        seen['broken'] = budget
        clock.now += 5
        raise RuntimeError('boom')

    assert parts.run('first', first, budget_s=40, reserve_s=10)['value'] == 1
    assert seen['first'] == 40  # its own budget is the smaller one
    record = parts.run('broken', broken, budget_s=None, reserve_s=10)
    assert seen['broken'] == 60  # 100 - 30 spent - 10 reserved
    assert record['status'] == 'failed' and 'boom' in record['error']
    assert record['seconds'] == 5
    clock.now += 62  # 3 s left
    record = parts.run('late', first, min_s=5)
    assert record['status'] == 'skipped' and 'late' not in seen
    assert updates == [['first'], ['first', 'broken'],
                       ['first', 'broken', 'late']]
    assert parts.results['first'] == dict(status='ok', budget_s=40,
                                          value=1, seconds=30)


def test_run_command_stops_the_process_group(tmp_path):
    pid_file = tmp_path / 'child.pid'
    code = ('import subprocess, sys, time; '
            'p = subprocess.Popen([sys.executable, "-c", '
            '"import time; time.sleep(60)"]); '
            f'open({str(pid_file)!r}, "w").write(str(p.pid)); '
            'print("started", flush=True); time.sleep(60)')
    start = time.monotonic()
    result = run_command([sys.executable, '-c', code], 3,
                         str(tmp_path / 'log.txt'))
    assert result['timed_out'] and result['rc'] is None and not result.ok
    assert time.monotonic() - start < 20
    assert result['tail'] == ['started']
    grandchild = int(pid_file.read_text())
    for _ in range(50):  # reaped by init shortly after the kill
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail('the grandchild survived its process group')
    log = (tmp_path / 'log.txt').read_text()
    assert 'started' in log and '[stopped after 3 s]' in log
    done = run_command([sys.executable, '-c', 'print(6 * 7)'], 30,
                       str(tmp_path / 'ok.txt'))
    assert done.ok and done['rc'] == 0 and done['tail'] == ['42']


class FakeItem:
    """What the probe reads of a collected test: its node id and marks."""

    def __init__(self, nodeid, *marks):
        self.nodeid = nodeid
        self.marks = [m.mark for m in marks]

    def iter_markers(self, name):
        return (m for m in self.marks if m.name == name)


def test_skip_probe_lists_what_skipif_skips(tmp_path, monkeypatch):
    out = tmp_path / 'skipped.json'
    monkeypatch.setenv('LMFLOSS_MM_SKIP_PROBE_OUT', str(out))
    items = [
        FakeItem('t.py::needs_cuda', pytest.mark.skipif(True, reason='x')),
        FakeItem('t.py::cpu_only', pytest.mark.skipif(False, reason='x')),
        FakeItem('t.py::keyword',
                 pytest.mark.skipif(condition=True, reason='x')),
        FakeItem('t.py::string', pytest.mark.skipif('1 == 1', reason='x')),
        FakeItem('t.py::plain'),
        FakeItem('t.py::xfail', pytest.mark.xfail(True, reason='x')),
        FakeItem('t.py::two', pytest.mark.skipif(False, reason='x'),
                 pytest.mark.skipif(1, reason='x')),
    ]
    skip_probe.pytest_collection_modifyitems(None, items)
    assert json.loads(out.read_text()) == [
        't.py::needs_cuda', 't.py::keyword', 't.py::two']
    monkeypatch.delenv('LMFLOSS_MM_SKIP_PROBE_OUT')
    out.unlink()
    skip_probe.pytest_collection_modifyitems(None, items)
    assert not out.exists()


# ------------------------------------------------------------------ parsing
def test_parsers():
    lines = ['x', '========= 11 passed, 739 deselected in 9.12s =========']
    assert summary_line(lines) == '11 passed, 739 deselected in 9.12s'
    assert summary_line(['no tests ran']) == ''
    table = parse_markdown_table([
        'torch 2.11', '| device | N x C | CE (ms) |', '|---|---|---|',
        '| cuda | 32 x 7 | 0.030 |', '| cuda | 256 x 8 | 0.031 |', 'done'],
        first='device')
    assert table == [dict(device='cuda', **{'N x C': '32 x 7',
                                            'CE (ms)': '0.030'}),
                     dict(device='cuda', **{'N x C': '256 x 8',
                                            'CE (ms)': '0.031'})]
    rows = [dict(arch='ResNet50', source='resident', memory_format='c',
                 loss='CrossEntropyLoss', images_per_s=200.0),
            dict(arch='ResNet50', source='resident', memory_format='c',
                 loss='LMFLoss', images_per_s=198.0),
            dict(arch='ResNet50', source='loader', memory_format='c',
                 loss='LMFLoss', images_per_s=150.0, cache_images=True)]
    assert lmf_vs_ce(rows) == [dict(
        arch='ResNet50', source='resident', memory_format='c',
        cache_images=None, ce_images_per_s=200.0, lmf_images_per_s=198.0,
        ratio=0.99)]
    assert median_of([dict(images_per_s=v, k=v) for v in (3.0, 1.0, 2.0)]
                     ) == dict(images_per_s=2.0, k=2.0,
                               repeats=[3.0, 1.0, 2.0])


def test_report_files(gpu_tool, tmp_path):
    args = cpu_args(gpu_tool, tmp_path, '--quick')
    bench = GPUBenchmark(args, str(REPO))
    run = tmp_path / 'work' / 'cv' / 'runs' / 'lmf' / 'fold0_seed0'
    (run / '20260101_000000').mkdir(parents=True)
    (run / 'metrics.json').write_text('{}')
    (run / '20260101_000000' / '20260101_000000.log').write_text('log')
    (run / 'best_imbalanced_macro_f1_epoch_1.pth').write_bytes(b'0' * 100)
    (tmp_path / 'out' / 'cv_results.md').write_text('# CV\n\n| loss |\n')
    with open(os.path.join(bench.logs, 'tests.log'), 'w') as f:
        f.write('log')
    results = dict(
        tests=dict(status='ok', budget_s=45, seconds=9,
                   files=['tests/losses/test_loss_contract.py'],
                   selected=['tests/a.py::test_runs_on_cuda[lmf]'],
                   summary='11 passed', counts=dict(passed=11),
                   outcomes=['PASSED tests/a.py::test_runs_on_cuda[lmf]'],
                   command=dict(rc=0, timed_out=False, tail=[])),
        losses=dict(status='timeout', budget_s=45, seconds=45, rows=[],
                    command=dict(rc=None, timed_out=True, tail=['last'])),
        cv=dict(status='ok', budget_s=200, seconds=100, folds_done=[0],
                folds_failed=[], folds_not_started=[], slowest_fold_s=100,
                records=[], command='python tools/benchmark_isic2018_cv.py'))
    bench.write(results)
    out = sorted(os.listdir(tmp_path / 'out'))
    assert out == ['cv_results.md', 'logs.tar.gz', 'report.md',
                   'results.json']
    data = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert data['parts']['tests']['counts'] == dict(passed=11)
    assert data['settings']['cv_epochs'] == 1
    report = (tmp_path / 'out' / 'report.md').read_text()
    assert '| tests | ok | 9 | 45 |' in report
    assert 'The 1 tests that a `skipif` mark skips without CUDA (in ' \
        'tests/a.py)' in report
    assert '**11 passed**' in report
    assert '| losses | timeout | 45 | 45 |' in report and 'last' in report
    assert '### CV' in report  # the cv report, one level down
    with tarfile.open(tmp_path / 'out' / 'logs.tar.gz') as tar:
        names = sorted(tar.getnames())
    assert names == ['cv/runs/lmf/fold0_seed0/20260101_000000/'
                     '20260101_000000.log',
                     'cv/runs/lmf/fold0_seed0/metrics.json', 'logs/tests.log']


# --------------------------------------------------------------- throughput
def small_config():
    cfg = Config.fromfile(SMALL)
    set_image_size(cfg, 32)
    return cfg


def check_training_steps(device, amp=None):
    model, optim_wrapper = build_training(small_config(), COUNTS, device,
                                          amp=amp)
    lmf = model.head.loss_module
    assert lmf.class_counts.tolist() == COUNTS  # as SetClassCountsHook does
    before = copy.deepcopy(model.state_dict())
    ticks = iter([10.0, 14.0])
    result = measure(model, optim_wrapper,
                     resident_batches(4, 32, COUNTS, device), steps=2,
                     warmup=1, device=device, clock=lambda: next(ticks))
    assert (result['images'], result['seconds']) == (8, 4.0)
    assert (result['images_per_s'], result['step_ms']) == (2.0, 2000.0)
    assert torch.isfinite(torch.tensor(result['loss']))
    weight = 'backbone.conv1.weight'
    assert not torch.equal(before[weight], model.state_dict()[weight])
    return model, optim_wrapper, result


def test_measure_counts_images_and_trains():
    model, _, result = check_training_steps('cpu')
    assert next(model.parameters()).device.type == 'cpu'
    assert 'peak_mem_gib' not in result
    batch = next(resident_batches(6, 8, COUNTS, 'cpu', seed=1))
    assert batch['inputs'].shape == (6, 3, 8, 8)
    assert batch['inputs'].dtype == torch.uint8
    with pytest.raises(ValueError, match='steps >= 1'):
        measure(model, None, iter([]), steps=0, warmup=0, device='cpu')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_bf16_amp_training_steps_on_cuda():
    from mmengine.optim import AmpOptimWrapper
    model, optim_wrapper, result = check_training_steps('cuda', amp='bf16')
    assert isinstance(optim_wrapper, AmpOptimWrapper)
    assert optim_wrapper.cast_dtype == torch.bfloat16
    assert next(model.parameters()).dtype == torch.float32  # master weights
    assert result['peak_mem_gib'] > 0
