"""lmfloss_mm.datasets.labels: labels through MMEngine's dataset wrappers,
counting (single- and multi-label) and the one class-count validator used
by the hooks, the losses and the metric."""
import numpy as np
import pytest
import torch
from mmengine.dataset import (BaseDataset, ClassBalancedDataset,
                              ConcatDataset, RepeatDataset)

from lmfloss_mm.datasets import (check_class_counts, count_classes,
                                 count_labels, dataset_classes,
                                 dataset_labels, unwrap_dataset)


class LabelsOnly:
    """A dataset stub exposing only what the counting reads."""

    def __init__(self, labels, multi_label=False, classes=('a', 'b', 'c')):
        self.labels, self.multi_label = labels, multi_label
        self.metainfo = dict(classes=classes)

    def get_gt_labels(self):
        if not self.multi_label:
            return np.asarray(self.labels, np.int64)
        out = np.empty(len(self.labels), dtype=object)
        for i, label in enumerate(self.labels):
            out[i] = list(label)
        return out


class ListDataset(BaseDataset):
    """A real MMEngine dataset of labels only (wrappers need one)."""
    METAINFO = dict(classes=('a', 'b', 'c'))

    def __init__(self, labels):
        self._labels = labels
        super().__init__(serialize_data=False)

    def load_data_list(self):
        return [dict(gt_label=label) for label in self._labels]

    def get_gt_labels(self):
        return np.array([self.get_data_info(i)['gt_label']
                         for i in range(len(self))])

    def get_cat_ids(self, index):
        return [self.get_data_info(index)['gt_label']]


def test_wrappers_are_unwrapped_to_the_unresampled_data():
    a, b = ListDataset([0, 0, 1]), ListDataset([2, 2])
    concat = ConcatDataset([a, b])
    assert unwrap_dataset(concat) == [a, b]
    assert dataset_labels(concat).tolist() == [0, 0, 1, 2, 2]
    assert dataset_classes(concat) == ['a', 'b', 'c']
    repeated = RepeatDataset(a, times=3)
    assert len(repeated) == 9 and unwrap_dataset(repeated) == [a]
    assert dataset_labels(repeated).tolist() == [0, 0, 1]
    balanced = ClassBalancedDataset(a, oversample_thr=0.9)
    assert len(balanced) > len(a)  # resampled, counted as the original
    assert count_labels(balanced, 3)[0].tolist() == [2, 1, 0]


def test_counting_single_and_multi_label():
    counts, samples, multi = count_labels(LabelsOnly([2, 0, 2, 2, 1]), 3)
    assert counts.tolist() == [1, 1, 3] and samples == 5 and not multi
    counts, samples, multi = count_labels(
        LabelsOnly([[0, 2], [1], [0]], multi_label=True), 3)
    assert counts.tolist() == [2, 1, 1] and samples == 3 and multi
    with pytest.raises(ValueError, match=r'label\(s\) \[3\] outside 0..2'):
        count_labels(LabelsOnly([0, 3]), 3)
    with pytest.raises(ValueError, match='multi-label'):
        dataset_labels(LabelsOnly([[0, 2], [1]], multi_label=True))


def test_count_classes_names_the_problem():
    assert count_classes(np.array([0, 2, 2, 1]), 3) == [1, 1, 2]
    with pytest.raises(ValueError, match=r"Classes \['b'\] have no"):
        count_classes(np.array([0, 2]), 3, ('a', 'b', 'c'))
    with pytest.raises(ValueError, match=r'labels \[3\] outside 0..2 \(3 '
                       r'classes: a, b, c\)'):
        count_classes(np.array([0, 3]), 3, ('a', 'b', 'c'))


@pytest.mark.parametrize('counts, num_classes, message', [
    ('auto', None, "or 'auto', got the string"),
    ([], None, 'non-empty 1-D'),
    ([[1, 2]], None, 'non-empty 1-D'),
    ([1, 2.5], None, 'must be integers'),
    ([1, float('nan')], None, 'must be integers'),
    ([True, False], None, 'must be integers'),
    (['a', 'b'], None, 'must be integers'),
    ([3, -1, 2], None, r'non-negative; class indices \[1\] are negative'),
    ([3, 1], 3, r'Got 2 class counts but num_classes=3'),
    ([3, 0, 2], None, r"class indices \[1\] have 0 training samples"),
])
def test_one_validator_one_rule(counts, num_classes, message):
    with pytest.raises(ValueError, match=f'^LDAMLoss: .*{message}'):
        check_class_counts(counts, num_classes, owner='LDAMLoss')


def test_validator_accepts_what_every_user_passes():
    assert check_class_counts([3, 1, 2]) == [3, 1, 2]
    assert check_class_counts(np.array([3.0, 1.0])) == [3, 1]
    assert check_class_counts(torch.tensor([4, 5])) == [4, 5]
    # a metric may report on classes without training samples
    assert check_class_counts([3, 0], 2, allow_empty=True) == [3, 0]
    with pytest.raises(ValueError, match=r"ImbalancedClsMetric: Classes "
                       r"\['y'\] have no"):
        check_class_counts([3, 0], owner='ImbalancedClsMetric',
                           classes=['x', 'y'])
