"""pytest plugin that lists the tests a ``skipif`` mark skips.

``tools/benchmark_gpu.py`` finds the tests that need CUDA as the tests
skipped when CUDA is hidden but not when it is visible: it collects the
test files twice with this plugin (``pytest -p
lmfloss_mm.benchmarking.skip_probe --collect-only``), once with
``LMFLOSS_MM_HIDE_CUDA=1``, and runs the difference.  Tests skipped for
other reasons (missing data, a missing optional package) are skipped in
both collections and so are not selected.

Environment variables:

* ``LMFLOSS_MM_SKIP_PROBE_OUT``: JSON file to write (a list of node ids
  whose ``skipif`` condition is true); nothing is written without it.
* ``LMFLOSS_MM_HIDE_CUDA=1``: ``torch.cuda.is_available()`` returns False
  and ``torch.cuda.device_count()`` 0 while the test modules are imported,
  so that their ``skipif`` conditions are those of a machine without CUDA.

Only ``skipif`` marks with boolean conditions are read; a test that calls
``pytest.skip()`` itself is not seen.
"""
import json
import os

if os.environ.get('LMFLOSS_MM_HIDE_CUDA') == '1':
    import torch
    torch.cuda.is_available = lambda: False
    torch.cuda.device_count = lambda: 0


def _skips(mark) -> bool:
    conditions = list(mark.args)
    if 'condition' in mark.kwargs:
        conditions.append(mark.kwargs['condition'])
    # string conditions (evaluated by pytest itself) are not read
    return any(bool(c) for c in conditions if not isinstance(c, str))


def pytest_collection_modifyitems(config, items):
    out = os.environ.get('LMFLOSS_MM_SKIP_PROBE_OUT')
    if not out:
        return
    skipped = [item.nodeid for item in items
               if any(_skips(m) for m in item.iter_markers('skipif'))]
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(skipped, f, indent=0)
