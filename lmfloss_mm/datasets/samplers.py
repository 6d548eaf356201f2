"""Class-balanced re-sampling for MMEngine dataloaders: class-aware,
square-root and instance-balanced sampling with one sampler."""
import math
from typing import Iterator, Optional, Sized

import numpy as np
import torch
from mmengine.dataset import ClassBalancedDataset, ConcatDataset, RepeatDataset
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from .labels import dataset_labels


def index_labels(dataset) -> np.ndarray:
    """The single-label ``gt_label`` of every index of ``dataset``, following
    MMEngine's wrappers so that position ``i`` is the label of
    ``dataset[i]`` (``ConcatDataset``: the parts in order;
    ``RepeatDataset``: the inner labels repeated; ``ClassBalancedDataset``:
    the inner labels at its repeat indices; the runner's ``_SlicedDataset``
    of ``num_batch_per_epoch``: the first labels)."""
    if type(dataset).__name__ == '_SlicedDataset':  # proxies attributes
        return index_labels(dataset._dataset)[:len(dataset)]
    if hasattr(dataset, 'full_init'):
        dataset.full_init()  # wrappers with lazy_init build their indices
    if isinstance(dataset, ConcatDataset):
        parts = [index_labels(d) for d in dataset.datasets]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if isinstance(dataset, RepeatDataset):
        return np.tile(index_labels(dataset.dataset), dataset.times)
    if isinstance(dataset, ClassBalancedDataset):
        inner = index_labels(dataset.dataset)
        return inner[np.asarray(dataset.repeat_indices, dtype=np.int64)]
    return dataset_labels(dataset)


@DATA_SAMPLERS.register_module()
class ClassBalancedSampler(Sampler):
    r"""Sample images with a probability set by the size of their class.

    Each epoch draws ``num_samples`` indices (default: the dataset size) in
    two steps: a class :math:`c` with probability
    :math:`n_c^{p} / \sum_k n_k^{p}`, then the next image of that class in a
    random order that cycles through all its images before any repeats
    (class-aware sampling, Shen et al. 2016, as in mmdet's
    ``ClassAwareSampler``). The probability of drawing a given image of class
    :math:`c` is therefore :math:`\propto n_c^{p} / n_c`:

    * ``power=0``: class-aware (every class equally often);
    * ``power=0.5``: square-root sampling (class frequency
      :math:`\propto \sqrt{n_c}`, Mahajan et al. 2018);
    * ``power=1``: instance-balanced *in expectation* (classes drawn in
      proportion to their size; a plain ``DefaultSampler`` is the
      without-replacement version).

    The class counts are those of the dataset as indexed (MMEngine wrappers
    are followed, see :func:`index_labels`). Classes without images are
    never drawn.

    Distributed: every rank draws the same global sequence (same ``seed``
    and epoch) of ``total_size = ceil(num_samples / world_size) *
    world_size`` indices and keeps positions ``rank, rank + world_size,
    ...``, so the ranks' shares are disjoint and together form the global
    draw. Call :meth:`set_epoch` (MMEngine's loops do) for a new draw each
    epoch; the draw is deterministic in ``(seed, epoch)``, so resuming
    reproduces it.

    Args:
        dataset (Sized): the dataset (single-label, ``gt_label``).
        power (float): exponent :math:`p`, finite. Defaults to 0
            (class-aware).
        shuffle (bool): a new draw every epoch (True) or the same draw every
            epoch (False). Defaults to True.
        seed (int, optional): random seed, identical on every rank; None
            takes a random seed shared across ranks (MMEngine's runner
            passes its seed). Defaults to None.
        num_samples (int, optional): indices drawn per epoch over all ranks.
            Defaults to ``len(dataset)``.
    """

    def __init__(self,
                 dataset: Sized,
                 power: float = 0.0,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 num_samples: Optional[int] = None) -> None:
        power = float(power)
        if not math.isfinite(power):
            raise ValueError(f'{type(self).__name__}: power must be finite, '
                             f'got {power}')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.power = power
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0

        if len(dataset) == 0:
            raise ValueError(f'{type(self).__name__}: the dataset is empty')
        labels = index_labels(dataset)
        if len(labels) != len(dataset):
            raise ValueError(
                f'{type(self).__name__}: read {len(labels)} labels for a '
                f'dataset of {len(dataset)} samples')
        if labels.min() < 0:
            raise ValueError(f'{type(self).__name__}: negative labels '
                             f'{sorted(set(labels[labels < 0].tolist()))}')
        counts = np.bincount(labels)
        present = np.flatnonzero(counts)
        #: images of each present class, and the class probabilities
        self.class_indices = [
            torch.as_tensor(np.flatnonzero(labels == c)) for c in present]
        self.classes = present.tolist()
        self.class_counts = counts[present].tolist()
        probs = counts[present].astype(np.float64)**power
        self.class_probs = torch.as_tensor(probs / probs.sum())

        num_samples = len(dataset) if num_samples is None else num_samples
        if isinstance(num_samples, bool) or not isinstance(
                num_samples, int) or num_samples <= 0:
            raise ValueError(f'{type(self).__name__}: num_samples must be a '
                             f'positive int, got {num_samples!r}')
        self.num_samples_per_rank = math.ceil(num_samples / self.world_size)
        self.total_size = self.num_samples_per_rank * self.world_size

    def global_indices(self) -> torch.Tensor:
        """The epoch's draw over all ranks, ``(total_size,)`` int64."""
        generator = torch.Generator()
        generator.manual_seed(self.seed + (self.epoch if self.shuffle else 0))
        drawn = torch.multinomial(self.class_probs, self.total_size,
                                  replacement=True, generator=generator)
        indices = torch.empty(self.total_size, dtype=torch.long)
        for position, members in enumerate(self.class_indices):
            slots = torch.nonzero(drawn == position).squeeze(1)
            if slots.numel() == 0:
                continue
            cycles = math.ceil(slots.numel() / members.numel())
            order = torch.cat([
                members[torch.randperm(members.numel(), generator=generator)]
                for _ in range(cycles)
            ])
            indices[slots] = order[:slots.numel()]
        return indices

    def __iter__(self) -> Iterator[int]:
        indices = self.global_indices()
        return iter(indices[self.rank:self.total_size:self.world_size]
                    .tolist())

    def __len__(self) -> int:
        """The number of indices of this rank per epoch."""
        return self.num_samples_per_rank

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (a new draw when ``shuffle=True``)."""
        self.epoch = epoch


@DATA_SAMPLERS.register_module()
class ClassAwareSampler(ClassBalancedSampler):
    """:class:`ClassBalancedSampler` with ``power=0``: every class is drawn
    equally often, then its images in cycling random order."""

    def __init__(self, dataset: Sized, shuffle: bool = True,
                 seed: Optional[int] = None,
                 num_samples: Optional[int] = None) -> None:
        super().__init__(dataset, power=0.0, shuffle=shuffle, seed=seed,
                         num_samples=num_samples)


@DATA_SAMPLERS.register_module()
class SqrtSampler(ClassBalancedSampler):
    """:class:`ClassBalancedSampler` with ``power=0.5``: class frequencies
    proportional to the square root of the class sizes."""

    def __init__(self, dataset: Sized, shuffle: bool = True,
                 seed: Optional[int] = None,
                 num_samples: Optional[int] = None) -> None:
        super().__init__(dataset, power=0.5, shuffle=shuffle, seed=seed,
                         num_samples=num_samples)


__all__ = ['ClassBalancedSampler', 'ClassAwareSampler', 'SqrtSampler',
           'index_labels']
