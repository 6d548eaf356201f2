"""Run a grid of configs x seeds one after another, restartably.

Each run trains with MMPretrain's ``train.py`` (``randomness.seed=S``,
``--work-dir <work-root>/<config-stem>/seed-<S>``), tests the best
checkpoint with ``test.py --out predictions.pkl``, and writes
``metrics.json`` last (atomically): a run with ``metrics.json`` is done and
is skipped next time; any other run is restarted from where it stopped
(training resumes from its last checkpoint, a finished training is only
tested again). See :mod:`lmfloss_mm.reporting.layout` for the files.
"""
import os
import os.path as osp
import shlex
import sys
import time
from typing import Dict, List, Optional, Sequence, TextIO, Tuple

from .launch import (LaunchOptions, execute, log_tail, test_command,
                     train_command)
from .layout import (DEFAULT_SAVE_BEST, DONE, METRICS_FILE, NEW,
                     PREDICTIONS_FILE, RESUME, TEST, TEST_DIR, TEST_LOG,
                     TRAIN_DONE_FILE, TRAIN_LOG, checkpoint_classes,
                     clear_test_outputs, dump_json_atomic, last_checkpoint,
                     load_json, read_test_metrics, run_state,
                     select_checkpoint)
from .spec import RunSpec, config_labels, load_config

#: Version of the ``metrics.json`` layout (bumped on incompatible changes).
SCHEMA_VERSION = 1


class RunFailed(Exception):
    """A run that could not finish; ``log`` / ``offset`` locate the output
    of the failed command."""

    def __init__(self, message: str, log: Optional[str] = None,
                 offset: int = 0):
        super().__init__(message)
        self.log = log
        self.offset = offset


def format_duration(seconds: float) -> str:
    """``42s``, ``1m20s``, ``2h05m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def format_eta(seconds: float) -> str:
    """Coarser than :func:`format_duration`: ``42s``, ``13m``, ``2h05m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{int(round(seconds / 60))}m'
    return format_duration(seconds)


def save_best_key(cfg) -> str:
    """The metric of ``default_hooks.checkpoint.save_best`` (the first one
    if several), or :data:`DEFAULT_SAVE_BEST` when unset or ``'auto'``."""
    hooks = cfg.get('default_hooks', None) or {}
    save_best = (hooks.get('checkpoint', None) or {}).get('save_best')
    if isinstance(save_best, (list, tuple)):
        save_best = save_best[0] if save_best else None
    if not isinstance(save_best, str) or save_best == 'auto':
        return DEFAULT_SAVE_BEST
    return save_best


def config_classes(cfg) -> Optional[List[str]]:
    """``metainfo.classes`` of the test dataset when the config sets it."""
    dataset = (cfg.get('test_dataloader', None) or {}).get('dataset') or {}
    classes = (dataset.get('metainfo') or {}).get('classes')
    return [str(c) for c in classes] if classes else None


def describe(spec: RunSpec, opts: LaunchOptions) -> Tuple[Dict, str, object]:
    """``(labels, save_best, cfg)`` of a run's config, ``--cfg-options``
    merged."""
    cfg = load_config(spec.config, opts.cfg_options)
    return config_labels(cfg, spec.config), save_best_key(cfg), cfg


def run_training(spec: RunSpec, opts: LaunchOptions,
                 verbose: bool = False) -> Dict:
    """Train (resuming from the last checkpoint if there is one) and mark
    the training finished; returns the ``train_done.json`` record."""
    resume = last_checkpoint(spec.run_dir)
    log = osp.join(spec.run_dir, TRAIN_LOG)
    code, seconds, offset = execute(
        train_command(spec, opts, resume=resume), log, verbose)
    if code != 0:
        raise RunFailed(f'training exited with code {code}', log, offset)
    done = dict(train_seconds=round(seconds, 3), resumed=bool(resume),
                finished=time.strftime('%Y-%m-%dT%H:%M:%S'))
    dump_json_atomic(done, osp.join(spec.run_dir, TRAIN_DONE_FILE))
    return done


def run_test(spec: RunSpec, opts: LaunchOptions, save_best: str,
         verbose: bool = False) -> Tuple[Dict, str, str, float]:
    """Test the best checkpoint (else the last); returns ``(metrics,
    checkpoint, 'best' | 'last', seconds)``."""
    checkpoint, kind = select_checkpoint(spec.run_dir, save_best)
    if checkpoint is None:
        raise RunFailed(f'no checkpoint in {spec.run_dir} to test')
    clear_test_outputs(spec.run_dir)
    log = osp.join(spec.run_dir, TEST_LOG)
    code, seconds, offset = execute(
        test_command(spec, opts, checkpoint), log, verbose)
    if code != 0:
        raise RunFailed(f'test exited with code {code}', log, offset)
    try:
        metrics = read_test_metrics(osp.join(spec.run_dir, TEST_DIR))
    except (OSError, ValueError) as exc:
        raise RunFailed(f'cannot read the test metrics: {exc}', log, offset)
    return metrics, checkpoint, kind, seconds


def run_one(spec: RunSpec, opts: LaunchOptions,
            verbose: bool = False) -> Dict:
    """Bring one run to ``metrics.json`` from whatever state it is in;
    returns the record written. Raises :class:`RunFailed` (or the error of
    an unreadable config)."""
    labels, save_best, cfg = describe(spec, opts)
    os.makedirs(spec.run_dir, exist_ok=True)
    if run_state(spec.run_dir) in (NEW, RESUME):
        done = run_training(spec, opts, verbose)
    else:
        done = load_json(osp.join(spec.run_dir, TRAIN_DONE_FILE))
    metrics, checkpoint, kind, test_seconds = run_test(
        spec, opts, save_best, verbose)
    record = dict(
        config=spec.config,
        config_stem=spec.stem,
        seed=spec.seed,
        dataset=labels['dataset'],
        backbone=labels['backbone'],
        loss=labels['loss'],
        classes=checkpoint_classes(checkpoint) or config_classes(cfg),
        metrics=metrics,
        checkpoint=checkpoint,
        checkpoint_kind=kind,
        save_best=save_best,
        predictions=osp.join(spec.run_dir, PREDICTIONS_FILE),
        train_seconds=done.get('train_seconds'),
        test_seconds=round(test_seconds, 3),
        resumed=bool(done.get('resumed')),
        cfg_options=list(opts.cfg_options),
        launcher=opts.launcher,
        gpus=opts.gpus,
        finished=time.strftime('%Y-%m-%dT%H:%M:%S'),
        schema_version=SCHEMA_VERSION,
    )
    dump_json_atomic(record, osp.join(spec.run_dir, METRICS_FILE))
    return record


_STATE_NOTES = {
    DONE: f'done ({METRICS_FILE} exists), skipped',
    TEST: 'training finished earlier: test only',
    RESUME: 'unfinished: resume training, then test',
    NEW: 'train, then test',
}


def print_plan(specs: Sequence[RunSpec], opts: LaunchOptions,
               out: Optional[TextIO] = None) -> int:
    """Print what a grid run would do; returns the number of runs whose
    config cannot be read (0 when the plan is sound)."""
    out = out or sys.stdout
    configs = list(dict.fromkeys(s.config for s in specs))
    seeds = list(dict.fromkeys(s.seed for s in specs))
    states = [run_state(s.run_dir) for s in specs]
    todo = sum(state != DONE for state in states)
    work_root = specs[0].work_root if specs else '-'
    print(f'Grid: {len(configs)} config(s) x {len(seeds)} seed(s) '
          f'{seeds} = {len(specs)} runs under {work_root}; '
          f'{len(specs) - todo} done, {todo} to run', file=out)
    errors = 0
    for index, (spec, state) in enumerate(zip(specs, states), 1):
        try:
            labels, save_best, _ = describe(spec, opts)
            what = '{dataset} / {backbone} / {loss}'.format(**labels)
        except Exception as exc:  # an unreadable config is part of the plan
            errors += 1
            print(f'[{index}/{len(specs)}] {spec.stem} seed={spec.seed}: '
                  f'CONFIG ERROR {type(exc).__name__}: {exc}', file=out)
            continue
        print(f'[{index}/{len(specs)}] {spec.stem} seed={spec.seed} '
              f'({what}): {_STATE_NOTES[state]}', file=out)
        if state in (NEW, RESUME):
            print('    train: ' + shlex.join(
                train_command(spec, opts, last_checkpoint(spec.run_dir))),
                file=out)
        if state != DONE:
            checkpoint = (f'{spec.run_dir}/best_'
                          f'{save_best.replace("/", "_")}_*.pth')
            print('    test:  ' + shlex.join(
                test_command(spec, opts, checkpoint)), file=out)
    return errors


def run_grid(specs: Sequence[RunSpec], opts: LaunchOptions,
             verbose: bool = False, out: Optional[TextIO] = None) -> int:
    """Run every spec; print progress, a summary, and return the number of
    failed runs. Finished runs are skipped; a failing run is reported and
    the grid goes on."""
    out = out or sys.stdout
    total = len(specs)
    pending = [s for s in specs if run_state(s.run_dir) != DONE]
    durations, failures, skipped = [], [], 0
    for index, spec in enumerate(specs, 1):
        prefix = f'[{index}/{total}] {spec.stem} seed={spec.seed}'
        state = run_state(spec.run_dir)
        if state == DONE:
            skipped += 1
            print(f'{prefix} ... skipped ({METRICS_FILE} exists)', file=out,
                  flush=True)
            continue
        note = {
            RESUME: ' (resuming from '
            f'{osp.basename(last_checkpoint(spec.run_dir) or "?")})',
            TEST: ' (training finished earlier; testing)',
        }.get(state, '')
        print(f'{prefix}{note} ...', end='\n' if verbose else '', file=out,
              flush=True)
        lead = f'{prefix} ...' if verbose else ''
        start = time.time()
        try:
            run_one(spec, opts, verbose)
        except KeyboardInterrupt:
            print(f'\n{prefix} interrupted; run the same command again to '
                  'continue from here', file=out, flush=True)
            raise
        except Exception as exc:
            seconds = time.time() - start
            message = str(exc) if isinstance(exc, RunFailed) else \
                f'{type(exc).__name__}: {exc}'
            log = getattr(exc, 'log', None)
            failures.append((spec, message, log))
            print(f'{lead} FAILED after {format_duration(seconds)}: '
                  f'{message}' + (f' (log: {log})' if log else ''),
                  file=out, flush=True)
            tail = log_tail(log, exc.offset) if log else ''
            if tail:
                print('    | ' + tail.replace('\n', '\n    | '), file=out,
                      flush=True)
        else:
            seconds = time.time() - start
            durations.append(seconds)
            remaining = len(pending) - pending.index(spec) - 1
            mean = sum(durations) / len(durations)
            eta = f', ETA {format_eta(remaining * mean)}' if remaining else ''
            print(f'{lead} done in {format_duration(seconds)}{eta}',
                  file=out, flush=True)
    print(f'\nGrid finished: {total} runs, {len(durations)} done now, '
          f'{skipped} skipped (already done), {len(failures)} failed.',
          file=out)
    if failures:
        print('Failed runs (run the same command again to retry them):',
              file=out)
        for spec, message, log in failures:
            print(f'  {spec.stem} seed={spec.seed}: {message}' +
                  (f' (log: {log})' if log else ''), file=out)
    out.flush()
    return len(failures)
