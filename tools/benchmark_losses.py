"""Time forward + backward of the losses against ``F.cross_entropy``.

For each batch x classes shape it prints the time of cross-entropy and the
ratio of each loss to it, next to a straightforward composition of the
official LMF code's two modules (an LDAM module that builds a one-hot index
and a margin matrix, plus a focal module as in the official ``torch.hub``
dependency), written here from their formulas.

    python tools/benchmark_losses.py                 # CPU, and GPU if present
    python tools/benchmark_losses.py --device cpu --threads 2
    python tools/benchmark_losses.py --shapes 32x7 256x8

This is a benchmark script, not a test: it prints numbers and asserts nothing.
"""
import argparse
import platform

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils import benchmark

import lmfloss_mm  # noqa: F401
from lmfloss_mm.models.losses import LDAMLoss, LMFLoss, SoftmaxFocalLoss

DEFAULT_SHAPES = ('32x7', '256x8', '256x1000', '1024x8142')


class OfficialStyleLDAM(nn.Module):
    """LDAM as the official LMF/LDAM-DRW code computes it: a one-hot index,
    per-sample margins by a matrix product, ``torch.where``, then weighted CE
    on ``s`` times the logits."""

    def __init__(self, counts, max_m=0.5, s=30.0, weight=None):
        super().__init__()
        m_list = 1.0 / counts.pow(0.25)
        self.register_buffer('m_list', m_list * (max_m / m_list.max()))
        self.register_buffer('weight', weight)
        self.s = s

    def forward(self, x, target):
        index = torch.zeros_like(x, dtype=torch.bool)
        index.scatter_(1, target[:, None], True)
        batch_m = torch.matmul(self.m_list[None, :],
                               index.float().transpose(0, 1)).view(-1, 1)
        output = torch.where(index, x - batch_m, x)
        return F.cross_entropy(self.s * output, target, weight=self.weight)


class OfficialStyleFocal(nn.Module):
    """Multi-class focal loss as the official code's hub dependency computes
    it: weighted NLL per sample times ``(1 - p_t) ** gamma``, plain mean."""

    def __init__(self, alpha, gamma=1.5):
        super().__init__()
        self.register_buffer('alpha', alpha)
        self.gamma = gamma

    def forward(self, x, target):
        log_p = F.log_softmax(x, dim=-1)
        ce = F.nll_loss(log_p, target, weight=self.alpha, reduction='none')
        log_pt = log_p.gather(1, target[:, None]).squeeze(1)
        return ((1 - log_pt.exp())**self.gamma * ce).mean()


class OfficialStyleLMF(nn.Module):
    """alpha * LDAM + beta * focal from the two separate modules above."""

    def __init__(self, counts, alpha=1.5, beta=1.0):
        super().__init__()
        self.ldam = OfficialStyleLDAM(counts)
        self.ldam.weight = self.ldam.m_list.clone()
        self.focal = OfficialStyleFocal(self.ldam.m_list.clone())
        self.alpha, self.beta = alpha, beta

    def forward(self, x, target):
        return self.alpha * self.ldam(x, target) + \
            self.beta * self.focal(x, target)


def imbalanced_counts(num_classes, ratio=100.0):
    """Exponentially decaying counts from 1000 down to 1000 / ratio."""
    exponent = torch.arange(num_classes, dtype=torch.float64) / max(
        num_classes - 1, 1)
    return (1000 * ratio**(-exponent)).round().clamp_min(1)


def time_loss(fn, logits, labels, min_run_time):
    """Median seconds of one forward + backward."""

    def step():
        logits.grad = None
        fn(logits, labels).backward()

    timer = benchmark.Timer(stmt='step()', globals=dict(step=step))
    return timer.blocked_autorange(min_run_time=min_run_time).median


def bench_shape(batch, num_classes, device, min_run_time):
    torch.manual_seed(0)
    counts = imbalanced_counts(num_classes)
    logits = torch.randn(batch, num_classes, device=device,
                         requires_grad=True)
    labels = torch.multinomial(counts.float() / counts.sum(), batch,
                               replacement=True).to(device)
    count_list = counts.long().tolist()
    losses = {
        'CE': F.cross_entropy,
        'Focal': SoftmaxFocalLoss(gamma=1.5, class_weight='margins',
                                  cls_num_list=count_list).to(device),
        'LDAM': LDAMLoss(count_list, class_weight='margins').to(device),
        'LMF': LMFLoss(count_list).to(device),
        'official LMF': OfficialStyleLMF(counts.float()).to(device),
    }
    # the two LMF implementations compute the same value
    torch.testing.assert_close(losses['LMF'](logits, labels,
                                             avg_factor=batch),
                               losses['official LMF'](logits, labels))
    return {name: time_loss(fn, logits, labels, min_run_time)
            for name, fn in losses.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--shapes', nargs='+', default=DEFAULT_SHAPES,
                        help='batch x classes, e.g. 256x8')
    parser.add_argument('--device', choices=('cpu', 'cuda', 'all'),
                        default='all')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--min-run-time', type=float, default=0.5,
                        help='seconds of measurement per loss and shape')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ['cpu', 'cuda'] if args.device == 'all' else [args.device]
    devices = [d for d in devices if d == 'cpu' or torch.cuda.is_available()]
    print(f'torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{torch.get_num_threads()} CPU threads'
          + (f', {torch.cuda.get_device_name()}' if 'cuda' in devices else ''))
    header = ('| device | N x C | CE (ms) | Focal / CE | LDAM / CE | LMF / CE '
              '| official LMF / CE | LMF / official |')
    print(header)
    print('|' + '---|' * (header.count('|') - 1))
    for device in devices:
        for shape in args.shapes:
            batch, num_classes = (int(v) for v in shape.lower().split('x'))
            t = bench_shape(batch, num_classes, device, args.min_run_time)
            ce = t['CE']
            print(f"| {device} | {batch} x {num_classes} | {ce * 1e3:.3f} | "
                  f"{t['Focal'] / ce:.2f} | {t['LDAM'] / ce:.2f} | "
                  f"{t['LMF'] / ce:.2f} | {t['official LMF'] / ce:.2f} | "
                  f"{t['LMF'] / t['official LMF']:.2f} |", flush=True)


if __name__ == '__main__':
    main()
