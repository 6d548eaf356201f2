"""ClassBalancedSampler / ClassAwareSampler / SqrtSampler: class frequencies,
within-class coverage, determinism, distributed split, wrappers."""
import math

import numpy as np
import pytest
from mmengine.dataset import ClassBalancedDataset, ConcatDataset, RepeatDataset
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATA_SAMPLERS, DATASETS

from lmfloss_mm.datasets import samplers as samplers_module
from lmfloss_mm.datasets.samplers import (ClassAwareSampler,
                                          ClassBalancedSampler, SqrtSampler,
                                          index_labels)

COUNTS = (900, 90, 9, 1)


@DATASETS.register_module(force=True)
class _LabelDataset(BaseDataset):
    """Only labels (no images are ever loaded by a sampler)."""

    METAINFO = dict(classes=('a', 'b', 'c', 'd'))

    def __init__(self, labels, **kwargs):
        self._labels = list(labels)
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        return [dict(img_path='none.png', gt_label=int(y))
                for y in self._labels]


def shuffled_labels(counts, seed=0):
    labels = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(labels)


@pytest.fixture(scope='module')
def dataset():
    return _LabelDataset(shuffled_labels(COUNTS))


def class_frequencies(dataset, indices):
    labels = np.asarray(dataset.get_gt_labels())
    return np.bincount(labels[np.asarray(indices)], minlength=len(COUNTS))


@pytest.mark.parametrize('power', [0.0, 0.5, 1.0])
def test_class_frequencies_follow_n_to_the_power(dataset, power):
    """Classes are drawn i.i.d. with p_c = n_c^power / sum_k n_k^power, so
    the count of class c in M draws is Binomial(M, p_c): mean M p_c, sd
    sqrt(M p_c (1 - p_c)). A deviation above 5 sd has probability < 6e-7
    per class (the seed is fixed, so the test is deterministic anyway)."""
    draws = 40000
    sampler = ClassBalancedSampler(dataset, power=power, seed=0,
                                   num_samples=draws)
    indices = list(sampler)
    assert len(indices) == len(sampler) == draws
    observed = class_frequencies(dataset, indices)
    weights = np.asarray(COUNTS, dtype=float)**power
    p = weights / weights.sum()
    sd = np.sqrt(draws * p * (1 - p))
    assert np.all(np.abs(observed - draws * p) < 5 * sd + 1e-9), (
        observed, draws * p)
    if power == 0.0:  # class-aware: about 10000 each, 1/900 of the data
        assert observed.min() > 9500


def test_images_of_a_class_are_cycled_without_replacement(dataset):
    """Within a class the sampler walks random permutations, so every image
    of the class is drawn floor(k / n_c) or ceil(k / n_c) times."""
    sampler = ClassAwareSampler(dataset, seed=3, num_samples=8000)
    indices = np.asarray(list(sampler))
    labels = np.asarray(dataset.get_gt_labels())
    for c, n in enumerate(COUNTS):
        members = np.flatnonzero(labels == c)
        hits = np.bincount(indices, minlength=len(labels))[members]
        k = hits.sum()
        assert hits.min() == k // n and hits.max() <= math.ceil(k / n)
    # the single image of class 'd' fills a quarter of the draws
    assert (labels[indices] == 3).mean() == pytest.approx(0.25, abs=0.02)


def test_named_samplers_and_registry(dataset):
    for name, power in (('ClassAwareSampler', 0.0), ('SqrtSampler', 0.5),
                        ('ClassBalancedSampler', 0.0)):
        sampler = DATA_SAMPLERS.build(dict(type=name),
                                      default_args=dict(dataset=dataset,
                                                        seed=1))
        assert type(sampler).__module__ == samplers_module.__name__
        assert sampler.power == power and len(sampler) == len(dataset)
    sqrt = SqrtSampler(dataset, seed=0)
    expected = np.sqrt(COUNTS) / np.sqrt(COUNTS).sum()
    np.testing.assert_allclose(sqrt.class_probs.numpy(), expected)
    assert sqrt.class_counts == list(COUNTS)


def test_deterministic_per_seed_and_epoch(dataset):
    a = ClassAwareSampler(dataset, seed=7)
    b = ClassAwareSampler(dataset, seed=7)
    assert list(a) == list(b) == list(a)  # same seed and epoch
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first  # a new draw each epoch
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(ClassAwareSampler(dataset, seed=8)) != first
    fixed = ClassAwareSampler(dataset, seed=7, shuffle=False)
    epoch0 = list(fixed)
    fixed.set_epoch(5)
    assert list(fixed) == epoch0 == first


@pytest.mark.parametrize('num_samples', [1000, 999])
def test_distributed_ranks_split_one_global_draw(dataset, monkeypatch,
                                                  num_samples):
    """Each rank keeps positions rank, rank + W, ... of the same global
    draw: the shares are disjoint positions and together give the draw."""
    shares = {}
    for rank in (0, 1):
        monkeypatch.setattr(samplers_module, 'get_dist_info',
                            lambda rank=rank: (rank, 2))
        sampler = SqrtSampler(dataset, seed=11, num_samples=num_samples)
        sampler.set_epoch(2)
        shares[rank] = list(sampler)
        assert len(shares[rank]) == len(sampler) == math.ceil(
            num_samples / 2)
        full = sampler.global_indices().tolist()
    assert len(full) == 2 * math.ceil(num_samples / 2)
    assert full[0::2] == shares[0] and full[1::2] == shares[1]
    assert sorted(shares[0] + shares[1]) == sorted(full)
    # the global draw is the same whatever the rank
    monkeypatch.setattr(samplers_module, 'get_dist_info', lambda: (0, 1))
    single = SqrtSampler(dataset, seed=11, num_samples=len(full))
    single.set_epoch(2)
    assert list(single) == full


def test_wrapped_datasets_are_followed(dataset):
    inner = dict(type='_LabelDataset', labels=[0, 0, 0, 1, 2])
    concat = ConcatDataset([DATASETS.build(inner),
                            DATASETS.build(dict(inner, labels=[2, 3]))])
    assert index_labels(concat).tolist() == [0, 0, 0, 1, 2, 2, 3]
    repeat = RepeatDataset(DATASETS.build(inner), times=2)
    assert index_labels(repeat).tolist() == [0, 0, 0, 1, 2] * 2
    balanced = ClassBalancedDataset(DATASETS.build(inner), oversample_thr=0.5)
    labels = index_labels(balanced)
    assert len(labels) == len(balanced) > 5
    # position i is the label of balanced[i] (no pipeline: the data info)
    assert labels.tolist() == [balanced[i]['gt_label']
                               for i in range(len(balanced))]
    assert np.bincount(labels)[2] > 1  # the rare class is repeated
    from mmengine.runner.runner import _SlicedDataset
    sliced = _SlicedDataset(DATASETS.build(inner), 4)  # num_batch_per_epoch
    assert index_labels(sliced).tolist() == [0, 0, 0, 1]
    assert set(ClassAwareSampler(sliced, seed=0)) <= {0, 1, 2, 3}
    sampler = ClassAwareSampler(concat, seed=0, num_samples=4000)
    freq = np.bincount(index_labels(concat)[list(sampler)])
    assert np.all(np.abs(freq - 1000) < 5 * math.sqrt(4000 * 0.25 * 0.75))


def test_arguments_are_checked(dataset):
    with pytest.raises(ValueError, match='num_samples must be a positive'):
        ClassAwareSampler(dataset, num_samples=0)
    with pytest.raises(ValueError, match='power must be finite'):
        ClassBalancedSampler(dataset, power=float('inf'))
    with pytest.raises(ValueError, match='the dataset is empty'):
        ClassAwareSampler(_LabelDataset([], serialize_data=False))
