import pytest
import torch

import lmfloss_mm  # noqa: F401  (registers the losses)


@pytest.fixture
def batch():
    """Logits, hard labels, soft labels and counts of an imbalanced 5-class
    problem, with every class present."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 5, generator=g, dtype=torch.float64) * 2
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 0, 1, 2, 0, 3, 4])
    soft = torch.softmax(torch.randn(12, 5, generator=g) * 3, dim=1)
    counts = [500, 120, 40, 9, 3]
    return logits, labels, soft.double(), counts
