"""Time forward + backward of the losses against ``F.cross_entropy``.

For each batch x classes shape it measures cross-entropy, the focal, LDAM
and LMF losses of this package (hard labels, the LMF recipe's
hyper-parameters) and a straightforward composition of the official LMF
code's two modules (an LDAM module that builds a one-hot index and a margin
matrix, plus a focal module as in the official ``torch.hub`` dependency),
written here from their formulas. The two LMF implementations are checked to
compute the same value first.

    python tools/benchmark_losses.py                 # CPU, and CUDA if present
    python tools/benchmark_losses.py --device cpu --threads 1 --repeats 5
    python tools/benchmark_losses.py --device cuda --json cuda.json
    python tools/benchmark_losses.py --shapes 32x7 256x8

Every repeat times all losses of a shape one after the other, so a ratio to
cross-entropy compares measurements taken under the same machine load; the
table gives the median ratio over the repeats and, with several repeats, its
range (the noise). CUDA timings synchronise the device at the start and end
of every timed block. ``--clock cpu`` times the CPU with the process's CPU
time instead of the wall clock: other jobs on a shared machine then slow a
measurement only through shared caches and memory, not by taking the core
away (with several threads it measures CPU cost rather than latency).
Printed: a Markdown table; ``--json`` also writes every measurement.

This is a benchmark script, not a test: it prints numbers and asserts only
that the two LMF implementations agree.
"""
import argparse
import json
import platform
import statistics
import sys
import time
import timeit

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils import benchmark

import lmfloss_mm  # noqa: F401
from lmfloss_mm.models.losses import LDAMLoss, LMFLoss, SoftmaxFocalLoss

DEFAULT_SHAPES = ('32x7', '256x8', '256x1000', '1024x8142')
#: Ratios to cross-entropy shown in the table, in this order.
RATIOS = (('Focal / CE', 'Focal', 'CE'), ('LDAM / CE', 'LDAM', 'CE'),
          ('LMF / CE', 'LMF', 'CE'),
          ('official LMF / CE', 'official LMF', 'CE'),
          ('LMF / official', 'LMF', 'official LMF'))


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


def parse_shape(text):
    """``'256x8'`` -> ``(256, 8)``."""
    try:
        batch, num_classes = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'shape {text!r} is not BATCHxCLASSES, e.g. 256x8') from None
    if batch < 1 or num_classes < 2:
        raise argparse.ArgumentTypeError(
            f'shape {text!r}: need a batch >= 1 and >= 2 classes')
    return batch, num_classes


def device_timer(device, clock='wall'):
    """A clock for ``torch.utils.benchmark.Timer``.

    On CUDA it waits for the device's queued work before reading the wall
    clock, so a timed block covers its kernels, not just their launch. On
    the CPU it reads the wall clock, or with ``clock='cpu'`` the CPU time of
    the process (all threads).
    """
    if device.type != 'cuda':
        return time.process_time if clock == 'cpu' else timeit.default_timer

    def cuda_timer():
        torch.cuda.synchronize(device)
        return timeit.default_timer()

    return cuda_timer


def time_loss(fn, logits, labels, min_run_time, timer):
    """Median seconds of one forward + backward."""

    def step():
        logits.grad = None
        fn(logits, labels).backward()

    measurement = benchmark.Timer(
        stmt='step()', globals=dict(step=step),
        timer=timer).blocked_autorange(min_run_time=min_run_time)
    return measurement.median


def build_losses(num_classes, device):
    """The timed losses for ``num_classes`` imbalanced classes."""
    counts = imbalanced_counts(num_classes)
    count_list = counts.long().tolist()
    return counts, {
        'CE': F.cross_entropy,
        'Focal': SoftmaxFocalLoss(gamma=1.5, class_weight='margins',
                                  cls_num_list=count_list).to(device),
        'LDAM': LDAMLoss(count_list, class_weight='margins').to(device),
        'LMF': LMFLoss(count_list).to(device),
        'official LMF': OfficialStyleLMF(counts.float()).to(device),
    }


def bench_shape(batch, num_classes, device, min_run_time, repeats,
                clock='wall'):
    """Per loss, the seconds of one forward + backward in each repeat."""
    torch.manual_seed(0)
    counts, losses = build_losses(num_classes, device)
    logits = torch.randn(batch, num_classes, device=device,
                         requires_grad=True)
    labels = torch.multinomial(counts.float() / counts.sum(), batch,
                               replacement=True).to(device)
    # the two LMF implementations compute the same value
    torch.testing.assert_close(losses['LMF'](logits, labels,
                                             avg_factor=batch),
                               losses['official LMF'](logits, labels))
    timer = device_timer(logits.device, clock)
    seconds = {name: [] for name in losses}
    for _ in range(repeats):
        for name, fn in losses.items():
            seconds[name].append(
                time_loss(fn, logits, labels, min_run_time, timer))
    return seconds


def summarize(seconds):
    """Median milliseconds per loss, and per table ratio the median and the
    range over the repeats of the ratio measured within each repeat."""
    ratios = {}
    for label, num, den in RATIOS:
        values = [a / b for a, b in zip(seconds[num], seconds[den])]
        ratios[label] = dict(median=statistics.median(values),
                             min=min(values), max=max(values))
    ms = {name: statistics.median(v) * 1e3 for name, v in seconds.items()}
    return ms, ratios


def format_ratio(ratio, repeats):
    text = f"{ratio['median']:.2f}"
    if repeats > 1:
        text += f" ({ratio['min']:.2f}-{ratio['max']:.2f})"
    return text


def table_header():
    columns = ['device', 'N x C', 'CE (ms)'] + [r[0] for r in RATIOS]
    return '\n'.join(['| ' + ' | '.join(columns) + ' |',
                      '|' + '---|' * len(columns)])


def table_row(device, batch, num_classes, ms, ratios, repeats):
    cells = [device, f'{batch} x {num_classes}', f"{ms['CE']:.3f}"]
    cells += [format_ratio(ratios[r[0]], repeats) for r in RATIOS]
    return '| ' + ' | '.join(cells) + ' |'


def select_devices(choice, clock='wall'):
    """Device names for ``--device``; exits with a message when CUDA is
    asked for and absent, or asked for with ``--clock cpu``."""
    if choice == 'cuda' and clock == 'cpu':
        sys.exit('benchmark_losses: --clock cpu measures CPU time and cannot '
                 'time CUDA kernels; use --clock wall with --device cuda.')
    if choice == 'cuda' and not torch.cuda.is_available():
        sys.exit('benchmark_losses: --device cuda, but CUDA is not available '
                 f'(torch {torch.__version__}, built with CUDA '
                 f'{torch.version.cuda or "none"}; torch.cuda.is_available()'
                 ' is False). Run on a machine with an NVIDIA GPU and a CUDA '
                 'build of PyTorch, or use --device cpu.')
    if choice == 'all':
        use_cuda = torch.cuda.is_available() and clock == 'wall'
        return ['cpu'] + (['cuda'] if use_cuda else [])
    return [choice]


def environment(devices, clock):
    """What the numbers were measured on."""
    info = dict(torch=torch.__version__,
                cpu=platform.processor() or platform.machine(),
                cpu_threads=torch.get_num_threads(), clock=clock)
    if 'cuda' in devices:
        info.update(cuda=torch.version.cuda,
                    gpu=torch.cuda.get_device_name())
    return info


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--shapes', nargs='+', type=parse_shape,
                        default=[parse_shape(s) for s in DEFAULT_SHAPES],
                        metavar='NxC',
                        help='batch x classes, e.g. 256x8 (default: '
                        + ' '.join(DEFAULT_SHAPES) + ')')
    parser.add_argument('--device', choices=('cpu', 'cuda', 'all'),
                        default='all',
                        help="'all' (default): the CPU, and CUDA if present")
    parser.add_argument('--clock', choices=('wall', 'cpu'), default='wall',
                        help="'wall' (default), or 'cpu': the process's CPU "
                        'time, for CPU timings on a machine shared with '
                        "other jobs ('all' then skips CUDA)")
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--min-run-time', type=float, default=0.5,
                        help='seconds of measurement per loss, shape and '
                        'repeat (default: 0.5)')
    parser.add_argument('--repeats', type=int, default=1,
                        help='measure every shape this many times; the '
                        'table gives median ratios and their range '
                        '(default: 1)')
    parser.add_argument('--json', metavar='OUT',
                        help='also write the environment and every '
                        'measurement to this JSON file')
    args = parser.parse_args(argv)
    if args.repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error('--repeats and --threads must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    devices = select_devices(args.device, args.clock)
    if args.threads:
        torch.set_num_threads(args.threads)
    env = environment(devices, args.clock)
    print(', '.join(f'{k} {v}' for k, v in env.items()) +
          f', median of {args.repeats} repeat(s)')
    print(table_header(), flush=True)
    records = []
    for device in devices:
        for batch, num_classes in args.shapes:
            seconds = bench_shape(batch, num_classes, device,
                                  args.min_run_time, args.repeats,
                                  args.clock)
            ms, ratios = summarize(seconds)
            print(table_row(device, batch, num_classes, ms, ratios,
                            args.repeats), flush=True)
            records.append(dict(device=device, batch=batch,
                                num_classes=num_classes, median_ms=ms,
                                ratios=ratios, seconds=seconds))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(environment=env, repeats=args.repeats,
                           min_run_time=args.min_run_time, results=records),
                      f, indent=1)
    return records


if __name__ == '__main__':
    main()
