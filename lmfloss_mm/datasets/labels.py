"""Class labels of datasets: unwrapping MMEngine's dataset wrappers,
reading labels, counting classes, and the one validator of class counts.

Everything that needs the training set's class counts (``SetClassCountsHook``,
the samplers, the losses, ``ImbalancedClsMetric``, the tools) reads and
checks them here, so a count is accepted or refused by the same rule
everywhere (:func:`check_class_counts`).
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import ClassBalancedDataset, ConcatDataset, RepeatDataset

__all__ = ['unwrap_dataset', 'dataset_classes', 'dataset_labels',
           'count_labels', 'count_classes', 'check_class_counts']


def unwrap_dataset(dataset) -> list:
    """Follow MMEngine dataset wrappers down to the datasets holding labels.

    ``RepeatDataset`` and ``ClassBalancedDataset`` are unwrapped to the
    dataset they repeat, so counts are those of the *un-resampled* data;
    ``ConcatDataset`` yields each of its parts.
    """
    if isinstance(dataset, ConcatDataset):
        return [part for d in dataset.datasets for part in unwrap_dataset(d)]
    if isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        return unwrap_dataset(dataset.dataset)
    return [dataset]


def dataset_classes(dataset) -> Optional[List[str]]:
    """``metainfo['classes']`` of a (wrapped) dataset, else None."""
    part = unwrap_dataset(dataset)[0]
    classes = (getattr(part, 'metainfo', None) or {}).get('classes')
    return None if classes is None else [str(c) for c in classes]


def _part_labels(part) -> list:
    """``gt_label`` of every sample of an unwrapped dataset."""
    if hasattr(part, 'full_init'):
        part.full_init()
    if hasattr(part, 'get_gt_labels'):
        return list(part.get_gt_labels())
    if hasattr(part, 'get_cat_ids'):
        return [part.get_cat_ids(i) for i in range(len(part))]
    raise TypeError(
        f'Cannot read class labels from {type(part).__name__}: it has '
        'neither get_gt_labels() nor get_cat_ids(). Give cls_num_list=[...] '
        'explicitly.')


def _is_multi_label(part, labels: list) -> bool:
    return bool(getattr(part, 'multi_label', False)) or any(
        np.ndim(label) > 0 and np.size(label) != 1 for label in labels)


def dataset_labels(dataset) -> np.ndarray:
    """The single-label ``gt_label`` of every sample of a (wrapped)
    dataset, wrappers unwrapped (:func:`unwrap_dataset`), as int64.

    Raises:
        ValueError: The dataset is multi-label.
        TypeError: A part of it cannot tell its labels.
    """
    labels = []
    for part in unwrap_dataset(dataset):
        part_labels = _part_labels(part)
        if _is_multi_label(part, part_labels):
            raise ValueError(
                f'{type(part).__name__} has multi-label gt_label values; '
                'class counts for single-label losses need one integer '
                'label per sample.')
        labels.append(np.asarray(part_labels, dtype=np.int64).reshape(-1))
    return np.concatenate(labels) if labels else np.zeros(0, np.int64)


def count_labels(dataset, num_classes: int) -> Tuple[np.ndarray, int, bool]:
    """Samples per class of a (wrapped) dataset, single- or multi-label.

    Multi-label ``gt_label`` lists count one per positive class.

    Returns:
        tuple: ``(counts (C,) int64, number of samples, multi_label)``.

    Raises:
        ValueError: A label outside ``0..num_classes - 1``.
    """
    counts = np.zeros(num_classes, np.int64)
    samples, multi_label = 0, False
    for part in unwrap_dataset(dataset):
        labels = _part_labels(part)
        multi_label = multi_label or _is_multi_label(part, labels)
        flat = np.concatenate(
            [np.asarray(label, dtype=np.int64).reshape(-1)
             for label in labels]) if labels else np.zeros(0, np.int64)
        bad = flat[(flat < 0) | (flat >= num_classes)]
        if bad.size:
            raise ValueError(
                f'{type(part).__name__} has label(s) '
                f'{sorted(set(bad.tolist()))} outside 0..{num_classes - 1}.')
        counts += np.bincount(flat, minlength=num_classes)
        samples += len(labels)
    return counts, samples, multi_label


def check_class_counts(counts,
                       num_classes: Optional[int] = None,
                       owner: str = 'class counts',
                       allow_empty: bool = False,
                       classes: Optional[Sequence[str]] = None) -> List[int]:
    """Validate per-class training counts; the project's one rule.

    Args:
        counts: A 1-D sequence (list, array or tensor) of counts.
        num_classes (int, optional): The number of classes they must have.
        owner (str): Who asks, for the messages (e.g. ``'LDAMLoss'``).
        allow_empty (bool): Accept classes with 0 samples (a metric can
            report on them; margins and count-based weights cannot).
            Defaults to False.
        classes (Sequence[str], optional): Class names, for the messages.

    Returns:
        list[int]: The counts as Python ints.

    Raises:
        ValueError: The counts are a string, not a non-empty 1-D sequence,
            not integers, negative, of another length than
            ``num_classes``, or (unless ``allow_empty``) a class has 0.
    """
    if isinstance(counts, str):
        raise ValueError(f"{owner}: class counts must be a list of integers "
                         f"or 'auto', got the string {counts!r}")
    if hasattr(counts, 'detach'):  # torch.Tensor
        counts = counts.detach().cpu().numpy()
    array = np.asarray(counts)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f'{owner}: class counts must be a non-empty 1-D '
                         f'sequence, got {counts!r}')
    numeric = array.dtype != bool and (
        np.issubdtype(array.dtype, np.integer) or
        (np.issubdtype(array.dtype, np.floating) and
         np.all(np.isfinite(array)) and np.all(array == np.round(array))))
    if not numeric:
        raise ValueError(f'{owner}: class counts must be integers, got '
                         f'{array.tolist()}')
    values = [int(v) for v in array]
    negative = [i for i, n in enumerate(values) if n < 0]
    if negative:
        raise ValueError(f'{owner}: class counts must be non-negative; '
                         f'class indices {negative} are negative: {values}')
    if num_classes is not None and len(values) != num_classes:
        raise ValueError(f'{owner}: Got {len(values)} class counts but '
                         f'num_classes={num_classes}: {values}')
    empty = [i for i, n in enumerate(values) if n == 0]
    if empty and not allow_empty:
        subject = (f'Classes {[classes[i] for i in empty]} have no'
                   if classes else f'class indices {empty} have 0')
        raise ValueError(
            f'{owner}: {subject} training samples (counts {values}). LDAM '
            'margins and count-based class weights are undefined for them: '
            'fix the split or drop the class.')
    return values


def count_classes(labels: np.ndarray, num_classes: int,
                  classes: Optional[Sequence[str]] = None,
                  owner: str = 'The training set') -> List[int]:
    """Per-class counts of single labels, every class present.

    Raises:
        ValueError: A label outside ``0..num_classes - 1`` (naming the
            classes), or a class without samples (:func:`check_class_counts`).
    """
    labels = np.asarray(labels, dtype=np.int64)
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(
            f'{owner} has labels {sorted(set(bad.tolist()))} outside '
            f'0..{num_classes - 1} ({num_classes} classes'
            f'{": " + ", ".join(classes) if classes else ""}). Check the '
            "dataset's classes against the head's num_classes.")
    return check_class_counts(np.bincount(labels, minlength=num_classes),
                              owner=owner, classes=classes)
