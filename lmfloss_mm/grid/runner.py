"""Run a grid of configs x seeds one after another, restartably.

Each run trains with MMPretrain's ``train.py`` (``randomness.seed=S``,
``--work-dir <work-root>/<config-stem>/seed-<S>``), tests the best
checkpoint with ``test.py --out predictions.pkl``, and writes its
:class:`~lmfloss_mm.results.RunRecord` as ``metrics.json`` last
(atomically): a run with ``metrics.json`` is done and is skipped next time;
any other run is restarted from where it stopped (training resumes from its
last checkpoint, a finished training is only tested again). See
:mod:`.layout` for the files.

A second-stage run (:mod:`.stages`) starts from the best checkpoint of its
first stage's run with the same seed (``--cfg-options load_from=...``); it
fails, naming that run, when the first stage has not finished. Every record
stores the provenance of the run (:func:`launch_provenance`).
"""
import os
import os.path as osp
import shlex
import sys
import time
from typing import Dict, List, Optional, Sequence, TextIO, Tuple

from lmfloss_mm.fileio import dump_json_atomic, load_json
from lmfloss_mm.results.labels import config_labels
from lmfloss_mm.results.provenance import collect_provenance
from lmfloss_mm.results.record import RunRecord
from lmfloss_mm.results.work_dir import read_test_metrics
from lmfloss_mm.runner.progress import RunProgress
from lmfloss_mm.runner.train_test import load_config
from lmfloss_mm.runner.work_dir import (last_checkpoint, save_best_key,
                                        select_checkpoint)
from .launch import (LaunchOptions, execute, log_tail, test_command,
                     train_command)
from .layout import (DONE, NEW, PREDICTIONS_FILE, RECORD_FILE, RESUME, TEST,
                     TEST_DIR, TEST_LOG, TRAIN_DONE_FILE, TRAIN_LOG,
                     checkpoint_classes, clear_test_outputs, run_state)
from .spec import RunSpec
from .stages import (FirstStageMissing, first_stage_checkpoint,
                     planned_load_from)

__all__ = ['RunFailed', 'run_one', 'print_plan', 'run_grid',
           'launch_provenance']


class RunFailed(Exception):
    """A run that could not finish; ``log`` / ``offset`` locate the output
    of the failed command."""

    def __init__(self, message: str, log: Optional[str] = None,
                 offset: int = 0):
        super().__init__(message)
        self.log = log
        self.offset = offset


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


def launch_provenance(cfg, opts: LaunchOptions) -> Dict:
    """The provenance of a run this process launches: :func:`~lmfloss_mm.
    results.provenance.collect_provenance` here, where ``train.py`` and
    ``test.py`` inherit the environment (threads, kernel-selecting
    variables, visible GPUs), with what MMEngine's Runner changes in the
    training process: the determinism flags of ``randomness.deterministic``
    and ``env_cfg.cudnn_benchmark``, and one thread per process in a
    distributed run when ``OMP_NUM_THREADS`` is not set."""
    provenance = collect_provenance()
    flags = provenance['determinism']
    if (cfg.get('env_cfg', None) or {}).get('cudnn_benchmark'):
        flags['cudnn_benchmark'] = True
    if (cfg.get('randomness', None) or {}).get('deterministic'):
        flags.update(cudnn_deterministic=True, cudnn_benchmark=False,
                     deterministic_algorithms=True)
    if opts.launcher != 'none' and 'OMP_NUM_THREADS' not in os.environ:
        provenance['threads']['intra_op'] = 1
    return provenance


def run_training(spec: RunSpec, opts: LaunchOptions,
                 verbose: bool = False) -> Dict:
    """Train (resuming from the last checkpoint if there is one; a second
    stage that starts anew starts from its first stage's best checkpoint)
    and mark the training finished; returns the ``train_done.json``
    record."""
    resume = last_checkpoint(spec.run_dir)
    load_from = None
    if spec.first_stage and not resume:
        try:
            load_from = first_stage_checkpoint(spec, opts.cfg_options)
        except FirstStageMissing as exc:
            raise RunFailed(str(exc)) from None
    log = osp.join(spec.run_dir, TRAIN_LOG)
    code, seconds, offset = execute(
        train_command(spec, opts, resume=resume, load_from=load_from), log,
        verbose)
    if code != 0:
        raise RunFailed(f'training exited with code {code}', log, offset)
    done = dict(train_seconds=round(seconds, 3), resumed=bool(resume),
                finished=time.strftime('%Y-%m-%dT%H:%M:%S'))
    if load_from:
        done['load_from'] = load_from
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
            verbose: bool = False) -> RunRecord:
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
    record = RunRecord(
        path=osp.join(spec.run_dir, RECORD_FILE),
        config=spec.config,
        config_stem=spec.stem,
        seed=spec.seed,
        fold=None,
        classes=checkpoint_classes(checkpoint) or config_classes(cfg),
        metrics=metrics,
        predictions=osp.join(spec.run_dir, PREDICTIONS_FILE),
        info=dict(
            checkpoint=checkpoint,
            checkpoint_kind=kind,
            save_best=save_best,
            train_seconds=done.get('train_seconds'),
            test_seconds=round(test_seconds, 3),
            resumed=bool(done.get('resumed')),
            cfg_options=list(opts.cfg_options),
            launcher=opts.launcher,
            gpus=opts.gpus,
            finished=time.strftime('%Y-%m-%dT%H:%M:%S'),
            provenance=launch_provenance(cfg, opts),
            **({} if spec.first_stage is None else dict(
                first_stage=spec.first_stage,
                load_from=done.get('load_from')))),
        **labels)
    dump_json_atomic(record.to_dict(), record.path)
    return record


_STATE_NOTES = {
    DONE: f'done ({RECORD_FILE} exists), skipped',
    TEST: 'training finished earlier: test only',
    RESUME: 'unfinished: resume training, then test',
    NEW: 'train, then test',
}


def print_plan(specs: Sequence[RunSpec], opts: LaunchOptions,
               out: Optional[TextIO] = None,
               slots: Optional[Sequence] = None) -> int:
    """Print what a grid run would do; returns the number of runs whose
    config cannot be read (0 when the plan is sound).

    ``slots`` (:class:`~.scheduler.Slot`, for a parallel grid): every run to
    do is shown with the environment and master port of the slot it gets
    when the runs finish in order (at run time a run takes the first free
    slot)."""
    out = out or sys.stdout
    configs = list(dict.fromkeys(s.config for s in specs))
    seeds = list(dict.fromkeys(s.seed for s in specs))
    states = [run_state(s.run_dir) for s in specs]
    todo = sum(state != DONE for state in states)
    work_root = specs[0].work_root if specs else '-'
    print(f'Grid: {len(configs)} config(s) x {len(seeds)} seed(s) '
          f'{seeds} = {len(specs)} runs under {work_root}; '
          f'{len(specs) - todo} done, {todo} to run', file=out)
    errors, to_start = 0, 0
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
        run_opts = opts
        if slots and state != DONE:
            slot = slots[to_start % len(slots)]
            to_start += 1
            run_opts = slot.options(opts)
            print(f'    slot {slot.index + 1}: {slot.describe()}', file=out)
        resume = last_checkpoint(spec.run_dir)
        load_from = None
        if spec.first_stage and state == NEW:
            first = spec.first_stage_spec
            load_from = planned_load_from(spec, opts.cfg_options)
            print(f'    second stage: starts after {first.stem} '
                  f'seed={first.seed} from its best checkpoint', file=out)
        if state in (NEW, RESUME):
            print('    train: ' + shlex.join(train_command(
                spec, run_opts, resume, load_from)), file=out)
        if state != DONE:
            checkpoint = (f'{spec.run_dir}/best_'
                          f'{save_best.replace("/", "_")}_*.pth')
            print('    test:  ' + shlex.join(
                test_command(spec, run_opts, checkpoint)), file=out)
    return errors


def run_grid(specs: Sequence[RunSpec], opts: LaunchOptions,
             verbose: bool = False, out: Optional[TextIO] = None) -> int:
    """Run every spec; print progress, a summary, and return the number of
    failed runs. Finished runs are skipped; a failing run is reported and
    the grid goes on."""
    out = out or sys.stdout
    progress = RunProgress(
        len(specs), sum(run_state(s.run_dir) != DONE for s in specs), out)
    failures, done_now, skipped = [], 0, 0
    for spec in specs:
        tag = progress.start(f'{spec.stem} seed={spec.seed}')
        state = run_state(spec.run_dir)
        if state == DONE:
            skipped += 1
            progress.print(f'{tag} ... skipped ({RECORD_FILE} exists)')
            continue
        note = {
            RESUME: ' (resuming from '
            f'{osp.basename(last_checkpoint(spec.run_dir) or "?")})',
            TEST: ' (training finished earlier; testing)',
        }.get(state, '')
        progress.print(f'{tag}{note} ...', end='\n' if verbose else '')
        lead = f'{tag} ...' if verbose else ''
        try:
            run_one(spec, opts, verbose)
        except KeyboardInterrupt:
            progress.print(f'\n{tag} interrupted; run the same command again '
                           'to continue from here')
            raise
        except Exception as exc:
            message, log, offset = failure_of(exc)
            failures.append((spec, message, log))
            progress.print(f'{lead} {progress.failed()}: ' +
                           failure_text(message, log, offset))
        else:
            done_now += 1
            progress.print(f'{lead} {progress.finish()}')
    print_summary(len(specs), done_now, skipped, failures, out)
    return len(failures)


def failure_of(exc: BaseException) -> Tuple[str, Optional[str], int]:
    """``(message, log, offset)`` of the error that stopped a run: the
    message of a :class:`RunFailed` and the log it names, else the error's
    type and text without a log."""
    if isinstance(exc, RunFailed):
        return str(exc), exc.log, exc.offset
    return f'{type(exc).__name__}: {exc}', None, 0


def failure_text(message: str, log: Optional[str] = None,
                 offset: int = 0) -> str:
    """``message (log: LOG)`` and, on the next lines, the end of what the
    failed command wrote to ``LOG`` after ``offset``, each line behind
    ``    | ``."""
    text = message + (f' (log: {log})' if log else '')
    tail = log_tail(log, offset) if log else ''
    if tail:
        text += '\n    | ' + tail.replace('\n', '\n    | ')
    return text


def print_summary(total: int, done_now: int, skipped: int,
                  failures: Sequence[Tuple[RunSpec, str, Optional[str]]],
                  out: TextIO) -> None:
    """The last lines of a grid: counts, then every failed run as
    ``(spec, message, log)``."""
    print(f'\nGrid finished: {total} runs, {done_now} done now, '
          f'{skipped} skipped (already done), {len(failures)} failed.',
          file=out)
    if failures:
        print('Failed runs (run the same command again to retry them):',
              file=out)
        for spec, message, log in failures:
            print(f'  {spec.stem} seed={spec.seed}: {message}' +
                  (f' (log: {log})' if log else ''), file=out)
    out.flush()
