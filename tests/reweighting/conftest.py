import pytest
import torch

import lmfloss_mm  # noqa: F401  (registers the project's modules)
# Imported directly until lmfloss_mm's __init__ files import them; importing
# registers the losses, the hook and the samplers.
import lmfloss_mm.datasets.samplers  # noqa: F401
import lmfloss_mm.engine.hooks.deferred_reweighting_hook  # noqa: F401
import lmfloss_mm.models.losses.class_balanced_loss  # noqa: F401
import lmfloss_mm.models.losses.logit_adjusted_loss  # noqa: F401

COUNTS = [500, 120, 40, 9, 3]


@pytest.fixture(autouse=True, scope='package')
def one_torch_thread():
    """Tiny models and batches: one intra-op thread is as fast on an idle
    machine and ~10x faster on a loaded one (OpenMP threads spin waiting for
    a core).  Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def batch():
    """Logits, hard labels, soft labels and counts of an imbalanced 5-class
    problem, with every class present (float64 for exact comparisons)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g, dtype=torch.float64) * 2
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 0, 1, 2, 0, 3, 4])
    soft = torch.softmax(torch.randn(12, 5, generator=g) * 3, dim=1)
    return logits, labels, soft.double(), COUNTS
