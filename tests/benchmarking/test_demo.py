"""tools/demo.py and lmfloss_mm.benchmarking.demo on a few hundred
generated images, one epoch, one seed: the generated data, the records,
the printed table (one seed: the value alone) and the progress lines."""
import numpy as np
import pytest

from lmfloss_mm.benchmarking import demo
from lmfloss_mm.results import load_runs
from tests.conftest import REPO

LMF_CONFIG = (REPO / 'configs/ham10000/'
              'resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py')
DEMO_CONFIG = (REPO / 'configs/demo/'
               'resnet18-w16_32px_1xb32-ce-5e_synthetic-ham10000.py')


def test_draw_gives_class_dependent_lesions():
    rng = np.random.default_rng(0)
    images = {c: np.stack([demo.draw_lesion(c, rng, 32) for _ in range(50)])
              for c in range(7)}
    centre = {c: im[:, 14:18, 14:18].reshape(-1, 3).mean(0)
              for c, im in images.items()}
    # the lesion centre carries the class colour
    for c in range(7):
        assert np.abs(centre[c] - demo.LESION_COLOUR[c]).max() < 8
    assert images[0].dtype == np.uint8 and images[0].shape[1:] == (32, 32, 3)


def test_scaled_counts_keep_every_class():
    assert demo.scaled_counts(1.0) == demo.DEMO_COUNTS
    small = demo.scaled_counts(0.05)
    assert small == dict(nv=200, mel=30, bkl=25, bcc=14, akiec=14, vasc=14,
                         df=14)
    with pytest.raises(ValueError, match='scale'):
        demo.scaled_counts(0)


def test_lmf_run_uses_the_paper_configs_loss(tmp_path):
    cfg = demo.demo_config(str(DEMO_CONFIG), str(LMF_CONFIG), 'lmf',
                           tmp_path, tmp_path / 'w', epochs=2, seed=3)
    loss = cfg.model.head.loss
    assert (loss.type, loss.cls_num_list, loss.ldam_weight, loss.focal_weight,
            loss.gamma, loss.s) == ('LMFLoss', 'auto', 1.5, 1.0, 1.5, 30.0)
    assert '_delete_' not in loss
    ce = demo.demo_config(str(DEMO_CONFIG), str(LMF_CONFIG), 'ce', tmp_path,
                          tmp_path / 'w', epochs=2, seed=3)
    assert ce.model.head.loss.type == 'CrossEntropyLoss'
    assert (ce.train_cfg.max_epochs, ce.randomness.seed) == (2, 3)
    default = demo.demo_config(str(DEMO_CONFIG), str(LMF_CONFIG), 'ce',
                               tmp_path, tmp_path / 'w', epochs=None, seed=0)
    assert default.train_cfg.max_epochs == 5  # the config's own length
    assert ce.train_dataloader.dataset.data_root == str(tmp_path)
    with pytest.raises(ValueError, match="'ce' or 'lmf'"):
        demo.demo_config(str(DEMO_CONFIG), str(LMF_CONFIG), 'focal',
                         tmp_path, tmp_path / 'w', epochs=1, seed=0)


def test_demo_runs_end_to_end(load_tool, tmp_path, capsys):
    records = load_tool('demo').main(['--seeds', '0', '--epochs', '1',
                                      '--scale', '0.05', '--work-dir',
                                      str(tmp_path)])
    out = capsys.readouterr().out
    assert [(r.loss, r.seed) for r in records] == [('ce', 0), ('lmf', 0)]
    # the data: the HAM10000 layout with the scaled counts
    meta = tmp_path / 'HAM10000-synthetic' / 'HAM10000_metadata.csv'
    rows = meta.read_text().splitlines()
    assert rows[0] == 'lesion_id,image_id,dx,dx_type,age,sex,localization'
    assert len(rows) - 1 == sum(demo.scaled_counts(0.05).values())
    # progress: an ETA per epoch of each run and after each run
    assert '[1/2] ce, seed 0 epoch 1/1, run ETA' in out
    assert 'all runs ETA' in out and ', ETA ' in out
    # the table: one seed gives the value alone, never '± nan'
    for record in records:
        metrics = [record.scalar(k) for k in ('accuracy',
                                              'balanced_accuracy',
                                              'macro_f1')]
        per_class = record.metric('f1_classwise')
        assert len(per_class) == 7
        row = f'| {record.loss} | ' + ' | '.join(
            f'{v:.1f}' for v in metrics + per_class) + ' |'
        assert row in out
    assert 'nan' not in out and '±' not in out.split('(percent):')[1]
    assert 'macro-F1, LMF - CE per seed: ' in out
    # the stored records are what the tables and figures read
    stored = sorted(load_runs([str(tmp_path)]), key=lambda r: r.loss)
    assert stored == records
