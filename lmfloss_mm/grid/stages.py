"""Two-stage recipes in a grid: a second-stage config starts from the best
checkpoint of its first stage's run with the same seed.

A config is a second stage when its ``custom_hooks`` hold a
:class:`~lmfloss_mm.engine.hooks.SecondStageHook`; the hook's
``first_stage`` names the first-stage config (a path from the repository
root). The config is read with MMEngine's ``Config.fromfile``, so the hook
may come from a ``_base_`` file.

* :func:`first_stage_of`: the first-stage config of a config, or None;
* :func:`chain_stages`: the grid's configs with every missing first stage
  added, each first stage before its second stages;
* :func:`first_stage_checkpoint`: the checkpoint a second-stage run starts
  from (``load_from``), or :class:`FirstStageMissing` naming the
  first-stage run.
"""
import operator
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from lmfloss_mm.runner.train_test import load_config
from lmfloss_mm.runner.work_dir import best_checkpoint, save_best_key
from .layout import DONE, RECORD_FILE, run_state
from .spec import RunSpec

__all__ = ['SECOND_STAGE_HOOK', 'FirstStageMissing', 'first_stage_of',
           'chain_stages', 'with_sources', 'first_stages_first',
           'first_stage_checkpoint', 'planned_load_from']

#: ``type`` of the hook that marks a second-stage config.
SECOND_STAGE_HOOK = 'SecondStageHook'


class FirstStageMissing(Exception):
    """A second-stage run cannot start: its first stage did not finish or
    left no best checkpoint."""


def _hook_type_is_second_stage(hook_type) -> bool:
    if hook_type == SECOND_STAGE_HOOK:
        return True
    from lmfloss_mm.engine.hooks import SecondStageHook
    return hook_type is SecondStageHook


def _resolve(first_stage: str, config: str) -> str:
    """``first_stage`` as given when it exists (absolute, or relative to the
    current folder), else joined to the nearest folder above ``config``
    where it exists (``first_stage`` is a path from the repository root)."""
    if osp.isfile(first_stage):
        return first_stage
    if not osp.isabs(first_stage):
        folder = osp.dirname(osp.abspath(config))
        while True:
            candidate = osp.join(folder, first_stage)
            if osp.isfile(candidate):
                return candidate
            parent = osp.dirname(folder)
            if parent == folder:
                break
            folder = parent
    raise FileNotFoundError(
        f'{config} is a second-stage config whose first stage '
        f'{first_stage!r} (SecondStageHook first_stage) is not found, '
        'neither from the current folder nor from a folder above the '
        'config; give first_stage as a path from the repository root and '
        'run the grid from there')


def first_stage_of(config: str) -> Optional[str]:
    """The first-stage config of ``config`` (``first_stage`` of its
    ``SecondStageHook``), as a path that exists; None for a config without
    that hook.

    Raises:
        ValueError: The config has several ``SecondStageHook`` entries, or
            one without ``first_stage``.
        FileNotFoundError: ``first_stage`` does not exist.
        Exception: Whatever ``Config.fromfile`` raises for an unreadable
            config.
    """
    return _first_stage_in(load_config(config), config)


def _first_stage_in(cfg, config: str) -> Optional[str]:
    """:func:`first_stage_of` of the loaded config ``cfg``."""
    hooks = cfg.get('custom_hooks', None) or []
    found = [hook for hook in hooks
             if _hook_type_is_second_stage(hook.get('type'))]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f'{config} has {len(found)} SecondStageHook '
                         'entries in custom_hooks; a second stage has one')
    first_stage = found[0].get('first_stage')
    if not isinstance(first_stage, str) or not first_stage:
        raise ValueError(f'{config}: SecondStageHook needs first_stage, the '
                         f'path of the first-stage config, got '
                         f'{first_stage!r}')
    return _resolve(first_stage, config)


def _same_file(a: str, b: str) -> bool:
    return osp.realpath(a) == osp.realpath(b)


def chain_stages(configs: Sequence[str]
                 ) -> Tuple[List[str], Dict[str, str], List[Tuple[str, str]]]:
    """The grid's configs with their first stages.

    Every first stage that the list lacks is added, and every first stage
    is moved before the first of its second stages (the other configs keep
    their order), so that a run-by-run grid trains it first. A config that
    cannot be read is kept as it is (its run fails with the config's
    error).

    Args:
        configs (Sequence[str]): Config paths, as given.

    Returns:
        tuple: ``(configs, first_stages, added)``: the ordered configs;
        ``{second-stage config: its first-stage config}`` (paths as in the
        returned list); ``[(added first stage, second stage that needs
        it)]``.

    Raises:
        ValueError: The first stages form a cycle, or a config's
            ``SecondStageHook`` is malformed.
        FileNotFoundError: A ``first_stage`` does not exist.
    """
    def first_stage(config: str) -> Optional[str]:
        try:
            cfg = load_config(config)
        except Exception:  # unreadable: its run reports the config's error
            return None
        return _first_stage_in(cfg, config)

    return with_sources(configs, first_stage, same=_same_file)


def with_sources(items: Sequence[str],
                 source_of: Callable[[str], Optional[str]],
                 same: Callable[[str, str], bool] = operator.eq
                 ) -> Tuple[List[str], Dict[str, str], List[Tuple[str, str]]]:
    """``items`` with every source they need (transitively), each source
    before its first dependant (:func:`first_stages_first`).

    Args:
        items (Sequence[str]): The requested items (configs, methods).
        source_of (callable): Item -> the item it starts from, or None.
        same (callable): Whether two names denote the same item (a source
            already listed under another name is not added again).

    Returns:
        tuple: ``(items, sources, added)``: the ordered items; ``{item: its
        source}`` (names as in the returned list); ``[(added source, the
        item that needs it)]``.
    """
    sources: Dict[str, str] = {}
    added: List[Tuple[str, str]] = []
    pending, known = list(items), list(items)
    while pending:
        item = pending.pop(0)
        source = source_of(item)
        if source is None:
            continue
        listed = next((k for k in known if same(k, source)), None)
        if listed is None:
            listed = source
            known.append(source)
            pending.append(source)
            added.append((source, item))
        sources[item] = listed
    return first_stages_first(known, sources), sources, added


def first_stages_first(items: Sequence[str],
                       first_stages: Dict[str, str]) -> List[str]:
    """``items`` in their order, except that each item's first stage
    (``first_stages[item]``, itself in ``items``) comes before it.

    Raises:
        ValueError: The first stages form a cycle.
    """
    ordered: List[str] = []

    def place(item: str, chain: Tuple[str, ...]) -> None:
        if item in ordered:
            return
        if item in chain:
            raise ValueError('second stages form a cycle: ' +
                             ' -> '.join(chain + (item, )))
        if item in first_stages:
            place(first_stages[item], chain + (item, ))
        ordered.append(item)

    for item in items:
        place(item, ())
    return ordered


def first_stage_checkpoint(spec: RunSpec, cfg_options=None) -> str:
    """The best checkpoint of the first-stage run of the second-stage run
    ``spec`` (:func:`~lmfloss_mm.runner.work_dir.best_checkpoint` of
    ``spec.first_stage_spec``, with the first stage's ``save_best``).

    Raises:
        FirstStageMissing: The first-stage run has no ``metrics.json`` (it
            failed, or has not run) or no best checkpoint; the message names
            the run and its folder.
    """
    first = spec.first_stage_spec
    name = f'{first.stem} seed={first.seed}'
    if run_state(first.run_dir) != DONE:
        raise FirstStageMissing(
            f'not started: its first stage {name} did not finish (no '
            f'{RECORD_FILE} in {first.run_dir}); fix that run and run the '
            'grid again')
    save_best = save_best_key(load_config(first.config, cfg_options))
    checkpoint = best_checkpoint(first.run_dir, save_best)
    if checkpoint is None:
        raise FirstStageMissing(
            f'not started: its first stage {name} left no best checkpoint '
            f'({_best_pattern(first, save_best)}); the second stage starts '
            'from it. Train the first stage with that save_best, or delete '
            'its folder to run it again')
    return checkpoint


def _best_pattern(first: RunSpec, save_best: str) -> str:
    return osp.join(first.run_dir, f'best_{save_best.replace("/", "_")}_*.pth')


def planned_load_from(spec: RunSpec, cfg_options=None) -> str:
    """What a dry run shows as a second stage's ``load_from``: the first
    stage's best checkpoint when it exists, else the pattern it will
    match (``<first-stage run>/best_<save_best>_*.pth``)."""
    try:
        return first_stage_checkpoint(spec, cfg_options)
    except FirstStageMissing:
        first = spec.first_stage_spec
        return _best_pattern(
            first, save_best_key(load_config(first.config, cfg_options)))
