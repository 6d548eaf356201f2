"""Read what MMEngine leaves in a work folder, without executing or
unpickling anything.

``mim train mmpretrain CONFIG --work-dir W`` and ``mim test mmpretrain
CONFIG --checkpoint CKPT --work-dir W --out W/predictions.pkl`` leave::

    W/<config-name>.py            the config, as MMEngine dumped it
    W/<timestamp>/<timestamp>.log the text log of each run
    W/<timestamp>/<timestamp>.json   the test metrics (written by LoggerHook
                                  after the test epoch; training writes none)
    W/predictions.pkl             per-sample predictions (test.py --out)

:func:`read_work_dir` turns such a folder into a :class:`RunRecord`.
"""
import ast
import glob
import json
import os.path as osp
from typing import Any, Dict, List, Optional

from .labels import config_labels, config_stem
from .record import RunRecord

__all__ = ['TIMING_KEYS', 'PREDICTIONS_FILE', 'test_log_json',
           'read_test_metrics', 'read_config_dump', 'read_work_dir',
           'is_work_dir']

#: Keys of MMEngine's test log that are timings, not metrics.
TIMING_KEYS = ('time', 'data_time', 'test/time', 'test/data_time')
#: Where the documented ``mim test ... --out`` puts the predictions.
PREDICTIONS_FILE = 'predictions.pkl'


def _test_logs(folder: str) -> List[str]:
    return sorted(
        path for path in glob.glob(osp.join(folder, '*', '*.json'))
        if osp.basename(osp.dirname(path)) == osp.splitext(
            osp.basename(path))[0])


def test_log_json(folder: str) -> Optional[str]:
    """MMEngine's test-time JSON log, ``<folder>/<ts>/<ts>.json``, of the
    newest test run in ``folder``; ``None`` if there is none."""
    logs = _test_logs(folder)
    return logs[-1] if logs else None


def is_work_dir(folder: str) -> bool:
    """Whether ``folder`` holds an MMEngine test log."""
    return bool(_test_logs(folder))


def read_test_metrics(folder: str) -> Dict[str, Any]:
    """The metrics of the newest test run in ``folder``, as MMEngine's
    ``LoggerHook`` wrote them after the test epoch (every evaluator key,
    scalars and lists; timings dropped).

    Raises:
        FileNotFoundError: No test log in ``folder``.
        ValueError: The test log holds no metric.
    """
    path = test_log_json(folder)
    if path is None:
        raise FileNotFoundError(
            f'no MMEngine test log <timestamp>/<timestamp>.json in {folder}; '
            'run mim test (tools/test.py) with --work-dir pointing here')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:  # MMEngine dumps one JSON object on one line
        record = json.loads(text)
    except ValueError:  # else take the last line holding one
        lines = [line for line in text.splitlines() if line.strip()]
        record = json.loads(lines[-1]) if lines else {}
    if not isinstance(record, dict):
        record = {}
    metrics = {k: v for k, v in record.items() if k not in TIMING_KEYS}
    if not metrics:
        raise ValueError(f'{path} holds no metric')
    return metrics


def _literal(node: ast.AST):
    """The value of a plain-data expression: constants, lists, tuples,
    dicts and ``dict(key=value, ...)`` calls; ``ValueError`` otherwise."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ValueError('dict unpacking')
        return {_literal(k): _literal(v)
                for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(kw.arg for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    raise ValueError(f'not plain data: {ast.dump(node)[:60]}')


def read_config_dump(path: str) -> Dict[str, Any]:
    """The top-level settings of a config MMEngine dumped to a work folder.

    The file is parsed, never executed: each ``name = <plain data>``
    assignment is read; assignments of anything else (a function, an
    expression) are left out.

    Raises:
        SyntaxError: ``path`` is not Python.
    """
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    settings = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            try:
                settings[node.targets[0].id] = _literal(node.value)
            except ValueError:
                continue
    return settings


def _dumped_config(folder: str) -> Optional[str]:
    """The config MMEngine dumped into ``folder`` (the newest ``*.py``)."""
    found = glob.glob(osp.join(folder, '*.py'))
    return max(found, key=osp.getmtime) if found else None


def _dataset_classes(cfg: Dict[str, Any]) -> Optional[List[str]]:
    """Class names of the test dataset: its ``metainfo.classes``, else the
    ``METAINFO`` of its registered class."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    classes = (dataset.get('metainfo') or {}).get('classes')
    if not classes and isinstance(dataset.get('type'), str):
        from mmpretrain.registry import DATASETS
        import lmfloss_mm.datasets  # noqa: F401  (registers the datasets)
        dataset_class = DATASETS.get(dataset['type'])
        classes = (getattr(dataset_class, 'METAINFO', None) or {}).get(
            'classes')
    return [str(c) for c in classes] if classes else None


def read_work_dir(folder: str) -> RunRecord:
    """The run of a plain MMEngine work folder: the metrics of its newest
    test log, labels and seed from the dumped config (labels from the
    folder name when there is none), ``predictions.pkl`` when present.

    Raises:
        FileNotFoundError: ``folder`` has no test log.
        ValueError: The test log holds no metric.
    """
    metrics = read_test_metrics(folder)
    config = _dumped_config(folder)
    cfg: Dict[str, Any] = {}
    if config is not None:
        try:
            cfg = read_config_dump(config)
        except (OSError, SyntaxError, ValueError):
            cfg = {}
    name = config or osp.basename(osp.normpath(folder))
    seed = (cfg.get('randomness') or {}).get('seed')
    predictions = osp.join(folder, PREDICTIONS_FILE)
    return RunRecord(
        path=folder,
        config=config or '',
        config_stem=config_stem(name),
        seed=seed if isinstance(seed, int) else None,
        fold=None,
        classes=_dataset_classes(cfg),
        metrics=metrics,
        predictions=predictions if osp.isfile(predictions) else None,
        info=dict(test_log=test_log_json(folder)),
        **config_labels(cfg, name))
