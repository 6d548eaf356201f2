"""tools/benchmark_losses.py: a tiny CPU run, its outputs, CUDA handling."""
import importlib.util
import json
import statistics
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
NAMES = ['CE', 'Focal', 'LDAM', 'LMF', 'official LMF']


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'benchmark_losses', REPO / 'tools' / 'benchmark_losses.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_run_prints_a_table_and_writes_every_measurement(
        tool, tmp_path, capsys):
    out = tmp_path / 'losses.json'
    threads = torch.get_num_threads()
    try:
        tool.main(['--device', 'cpu', '--shapes', '4x3', '6x5',
                   '--min-run-time', '0.001', '--repeats', '3', '--threads',
                   '1', '--clock', 'cpu', '--json', str(out)])
    finally:
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f'torch {torch.__version__}')
    assert lines[1].startswith('| device | N x C | CE (ms) | Focal / CE |')
    assert lines[3].startswith('| cpu | 4 x 3 | ')
    assert lines[4].startswith('| cpu | 6 x 5 | ')
    record = json.loads(out.read_text())
    assert record['repeats'] == 3
    assert record['environment']['cpu_threads'] == 1
    assert record['environment']['clock'] == 'cpu'
    first = record['results'][0]
    assert (first['batch'], first['num_classes']) == (4, 3)
    seconds = first['seconds']
    assert sorted(seconds) == sorted(NAMES)
    assert all(len(v) == 3 and min(v) > 0 for v in seconds.values())
    # the ratios are medians of per-repeat ratios, and the table shows them
    lmf = [a / b for a, b in zip(seconds['LMF'], seconds['CE'])]
    ratio = first['ratios']['LMF / CE']
    assert ratio['median'] == pytest.approx(statistics.median(lmf))
    assert (ratio['min'], ratio['max']) == (min(lmf), max(lmf))
    cells = [c.strip() for c in lines[3].strip('|').split('|')]
    assert cells[5] == (f"{ratio['median']:.2f} ({ratio['min']:.2f}-"
                        f"{ratio['max']:.2f})")
    assert first['median_ms']['CE'] == pytest.approx(
        statistics.median(seconds['CE']) * 1e3)


def test_cuda_without_cuda_stops_with_a_clear_message(tool, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit, match='CUDA is not available.*--device '
                       'cpu'):
        tool.main(['--device', 'cuda', '--shapes', '4x3'])
    assert tool.select_devices('all') == ['cpu']


def test_cpu_clock_refuses_cuda_and_times_the_process(tool, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    with pytest.raises(SystemExit, match='cannot time CUDA kernels'):
        tool.select_devices('cuda', clock='cpu')
    assert tool.select_devices('all', clock='cpu') == ['cpu']
    assert tool.select_devices('all', clock='wall') == ['cpu', 'cuda']
    cpu = torch.device('cpu')
    assert tool.device_timer(cpu, 'cpu') is tool.time.process_time
    assert tool.device_timer(cpu, 'wall') is tool.timeit.default_timer


def test_cuda_timer_synchronises_before_reading_the_clock(tool, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, 'synchronize', calls.append)
    device = torch.device('cuda', 0)
    timer = tool.device_timer(device)
    first, second = timer(), timer()
    assert calls == [device, device] and second >= first


@pytest.mark.parametrize('shape', ['256', '3x', 'axb', '0x5', '8x1'])
def test_bad_shapes_are_refused(tool, shape, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(['--shapes', shape])
    err = capsys.readouterr().err
    assert f"shape '{shape}'" in err
    assert 'is not BATCHxCLASSES' in err or 'need a batch >= 1' in err
