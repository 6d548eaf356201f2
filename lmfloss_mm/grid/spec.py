"""The grid: which configs, which seeds, and where each run goes.

Configs are selected by the fields of their names (the project's naming
convention, :func:`lmfloss_mm.results.labels.parse_config_name`); runs go
to ``<work-root>/<config-stem>/seed-<seed>/``.
"""
import glob
import os
import os.path as osp
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence

from lmfloss_mm.results.labels import config_stem, parse_config_name

__all__ = ['RunSpec', 'select_configs', 'expand_config_args', 'build_grid']


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: a config trained and tested with one seed.

    Args:
        config (str): The config file.
        seed (int): The training seed.
        work_root (str): The grid's work root.
        first_stage (str, optional): For a second-stage config, its
            first-stage config: the run starts from the best checkpoint of
            :attr:`first_stage_spec` (``load_from``). None otherwise.
    """
    config: str
    seed: int
    work_root: str
    first_stage: Optional[str] = None

    @property
    def stem(self) -> str:
        return config_stem(self.config)

    @property
    def run_dir(self) -> str:
        """``<work-root>/<config-stem>/seed-<seed>``."""
        return osp.join(self.work_root, self.stem, f'seed-{self.seed}')

    @property
    def first_stage_spec(self) -> Optional['RunSpec']:
        """The run of :attr:`first_stage` with the same seed and work root
        (None for a run without a first stage)."""
        if self.first_stage is None:
            return None
        return RunSpec(self.first_stage, self.seed, self.work_root)


def select_configs(config_dir: str,
                   datasets: Optional[Sequence[str]] = None,
                   backbones: Optional[Sequence[str]] = None,
                   losses: Optional[Sequence[str]] = None) -> List[str]:
    """Configs ``<config_dir>/<dataset>/*.py`` whose name fields match.

    ``None`` (or an empty list) selects every value of that field. Names
    that do not follow the convention are never selected. The result is
    sorted by dataset, backbone, loss as given on the command line.
    """
    wanted = dict(dataset=datasets, backbone=backbones, loss=losses)
    found = []
    for path in glob.glob(osp.join(config_dir, '*', '*.py')):
        if osp.basename(osp.dirname(path)) == '_base_':
            continue
        fields = parse_config_name(path)
        if fields is None:
            continue
        if all(not values or fields[key] in values
               for key, values in wanted.items()):
            found.append((path, fields))

    def order(item):
        path, fields = item
        key = []
        for name, values in wanted.items():
            values = list(values or [])
            key.append(values.index(fields[name]) if fields[name] in values
                       else len(values))
            key.append(fields[name])
        return key + [path]

    return [path for path, _ in sorted(found, key=order)]


def expand_config_args(items: Iterable[str]) -> List[str]:
    """Config files from paths, globs and folders, in the order given,
    without duplicates. A folder means every ``*.py`` below it except
    ``_base_`` folders. Raises ``FileNotFoundError`` for a path or pattern
    that matches nothing."""
    configs = []
    for item in items:
        if osp.isdir(item):
            matches = [
                p for p in sorted(glob.glob(
                    osp.join(item, '**', '*.py'), recursive=True))
                if '_base_' not in p.split(os.sep)
            ]
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
        else:
            matches = [item] if osp.isfile(item) else []
        if not matches:
            raise FileNotFoundError(f'no config matches {item!r}')
        configs.extend(m for m in matches if m not in configs)
    return configs


def build_grid(configs: Sequence[str], seeds: Sequence[int],
               work_root: str,
               first_stages: Optional[Mapping[str, str]] = None
               ) -> List[RunSpec]:
    """Runs in seed-major order (every config with the first seed, then the
    next seed, ...), so that a partly finished grid is a complete table with
    fewer seeds. ``first_stages`` maps second-stage configs to their
    first-stage configs (:func:`~.stages.chain_stages`); both must be in
    ``configs``. Raises ``ValueError`` when two configs share a file name
    (their runs would share a folder)."""
    stems, unique = {}, []
    for path in configs:
        other = stems.setdefault(config_stem(path), path)
        if osp.abspath(other) != osp.abspath(path):
            raise ValueError(f'{other} and {path} have the same name; their '
                             'runs would share a work folder')
        if not any(osp.abspath(p) == osp.abspath(path) for p in unique):
            unique.append(path)
    first_stages = dict(first_stages or {})
    return [
        RunSpec(config=path, seed=seed, work_root=work_root,
                first_stage=first_stages.get(path))
        for seed in dict.fromkeys(seeds) for path in unique
    ]
