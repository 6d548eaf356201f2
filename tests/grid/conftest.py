"""Fixtures of the grid-runner tests: the tiny grid and its sequential
seed-0 runs, made once and shared by the sequential and the parallel
tests (which compare their results)."""
import contextlib
import io

import pytest

from tests.conftest import load_tool_module

from .tiny_grid import make_data, write_config


@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
    """Data and the CE / LMF configs of the tiny grid; ``work`` is the work
    root of the sequential runs."""
    root = tmp_path_factory.mktemp('grid')
    data = make_data(root / 'data')
    return dict(
        root=root,
        work=root / 'work',
        ce=write_config(root, 'ce', data),
        lmf=write_config(root, 'lmf', data))


@pytest.fixture(scope='session')
def sequential_seed0(tiny):
    """``tools/run_grid.py`` on CE and LMF with seed 0, one run after the
    other, into ``tiny['work']`` with one thread per process: ``(exit
    code, output)``. Later tests may add runs there; these two are never
    changed (the restart test checks it)."""
    run_grid = load_tool_module('run_grid')
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as env, \
            contextlib.redirect_stdout(out):
        env.setenv('OMP_NUM_THREADS', '1')
        code = run_grid.main([
            str(tiny['ce']), str(tiny['lmf']), '--seeds', '0',
            '--work-root', str(tiny['work'])
        ])
    return code, out.getvalue()
