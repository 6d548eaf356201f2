"""Writes a small finished grid (``metrics.json`` + ``predictions.pkl``) in
the layout of the grid runner, with numbers the tests know."""
import json
import pickle
from pathlib import Path

import numpy as np
import torch

CLASSES = ['akiec', 'bcc', 'nv']
DATASET, BACKBONE = 'ham10000', 'resnet50'
CE_STEM = 'resnet50_in1k-pre_1xb32-ce-100e_ham10000'
LMF_STEM = 'resnet50_in1k-pre_1xb32-lmf-100e_ham10000'
FOCAL_STEM = 'resnet50_in1k-pre_1xb32-focal-100e_ham10000'

#: Per-seed per-class F1 (percent). CE: mean (80, 40, 10), std (ddof=1) 10
#: everywhere; LMF: mean (65, 55, 40), std (7.07, 7.07, 14.14).
F1 = {
    CE_STEM: {0: [80., 40., 10.], 1: [70., 50., 20.], 2: [90., 30., 0.]},
    LMF_STEM: {0: [60., 60., 30.], 1: [70., 50., 50.]},
}
#: Per-seed confusion matrices (rows = ground truth).
CONFUSION = {
    CE_STEM: {
        0: [[3, 1, 0], [2, 2, 0], [0, 1, 9]],
        1: [[1, 0, 1], [0, 4, 0], [1, 0, 8]],
        2: [[0, 0, 0], [0, 2, 2], [1, 1, 10]],
    },
    LMF_STEM: {
        0: [[4, 0, 0], [1, 3, 0], [2, 2, 6]],
        1: [[2, 1, 1], [0, 4, 0], [0, 3, 7]],
    },
}
#: Runs that get no ``predictions.pkl``.
NO_PREDICTIONS = {(LMF_STEM, 1)}


def fake_predictions(seed: int, n: int = 60, num_classes: int = 3):
    """``(scores float32 (n, C), labels (n,))``: confident-ish softmax
    scores whose argmax is right about 60% of the time."""
    rng = np.random.default_rng(100 + seed)
    labels = rng.integers(0, num_classes, n)
    logits = rng.normal(0, 1.0, (n, num_classes))
    logits[np.arange(n), labels] += rng.choice([2.5, -1.0], n, p=[0.6, 0.4])
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return scores.astype(np.float32), labels


def _dump_samples(scores, labels, style: str):
    """The ``--out`` list in one of the forms the reader must accept."""
    samples = []
    for score, label in zip(scores, labels):
        if style == 'tensor':  # what mmengine's DumpResults writes
            samples.append(dict(pred_score=torch.from_numpy(score.copy()),
                                gt_label=torch.tensor([int(label)]),
                                pred_label=torch.tensor([int(score.argmax())]),
                                num_classes=len(score)))
        else:  # numpy arrays and a plain int label
            samples.append(dict(pred_score=score.copy(),
                                gt_label=int(label)))
    return samples


def write_grid(root) -> dict:
    """Write the grid under ``root``; return what each config holds.

    Layout: CE with seeds 0, 1, 2 (all with predictions, tensors for seeds
    0 and 2, numpy for seed 1), LMF with seeds 0, 1 (seed 1 without
    predictions.pkl), and an unfinished focal run (seed-0 folder with only a
    log file).
    """
    root = Path(root)
    predictions = {}
    for stem, per_seed in F1.items():
        loss = 'ce' if '-ce-' in stem else 'lmf'
        for seed, f1 in per_seed.items():
            run = root / stem / f'seed-{seed}'
            run.mkdir(parents=True)
            metrics = {
                'imbalanced/accuracy': 50.0,
                'imbalanced/macro_f1': float(np.mean(f1)),
                'imbalanced/f1_classwise': f1,
                'imbalanced/confusion_matrix': CONFUSION[stem][seed],
            }
            (run / 'metrics.json').write_text(json.dumps(dict(
                config=f'configs/ham10000/{stem}.py', config_stem=stem,
                seed=seed, dataset=DATASET, backbone=BACKBONE, loss=loss,
                classes=CLASSES, metrics=metrics)))
            if (stem, seed) in NO_PREDICTIONS:
                continue
            scores, labels = fake_predictions(seed + (10 if loss == 'lmf'
                                                      else 0))
            predictions[(stem, seed)] = (scores, labels)
            style = 'numpy' if seed == 1 else 'tensor'
            with open(run / 'predictions.pkl', 'wb') as f:
                pickle.dump(_dump_samples(scores, labels, style), f)
    unfinished = root / FOCAL_STEM / 'seed-0'
    unfinished.mkdir(parents=True)
    (unfinished / 'train.log').write_text('epoch 3/100\n')
    return predictions
