"""One rank of the 2-process gloo test of ImbalancedClsMetric.

Run as ``python dist_eval_worker.py RANK WORLD_SIZE PORT DATA.npz OUT.json``
(launched by ``test_imbalanced_cls_metric.py::test_real_gloo_two_processes``).
Rank r evaluates the samples MMEngine's ``DefaultSampler(shuffle=False)``
gives it (r, r + W, r + 2W, ..., padded from the start of the dataset to
``ceil(N / W)`` samples, as in every MMEngine val/test loop) and writes what
``BaseMetric.evaluate(N)`` returns on that rank.
"""
import json
import sys
import warnings


def main(rank, world_size, port, data_path, out_path):
    import numpy as np
    import torch
    import torch.distributed as dist

    from mmengine.dataset import DefaultSampler

    import lmfloss_mm  # noqa: F401
    from lmfloss_mm.evaluation.metrics import ImbalancedClsMetric

    data = np.load(data_path)
    scores, target, counts = data['scores'], data['target'], data['counts']
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=world_size)
    try:
        metric = ImbalancedClsMetric(
            num_classes=scores.shape[1], cls_num_list='auto')
        metric.set_class_counts(counts.tolist())  # what the hook does
        indices = list(DefaultSampler(range(len(target)), shuffle=False))
        assert len(indices) == -(-len(target) // world_size)  # padded
        samples = [
            dict(pred_score=torch.from_numpy(scores[i]),
                 gt_label=torch.tensor([int(target[i])])) for i in indices
        ]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            metric.process(None, samples)
            out = metric.evaluate(len(target))
        with open(out_path, 'w') as f:
            json.dump(out, f)
    finally:
        dist.destroy_process_group()


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
         sys.argv[5])
