"""tools/demo.py: the embedded-default pipeline, shortened to one epoch."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name,
                                                  REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def demo():
    return load_tool('demo')


def test_draw_gives_class_dependent_lesions(demo):
    rng = np.random.default_rng(0)
    images = {c: np.stack([demo.draw_lesion(c, rng, 32) for _ in range(50)])
              for c in range(7)}
    centre = {c: im[:, 14:18, 14:18].reshape(-1, 3).mean(0)
              for c, im in images.items()}
    # the lesion centre carries the class colour
    for c in range(7):
        assert np.abs(centre[c] - demo.LESION_COLOUR[c]).max() < 8
    assert images[0].dtype == np.uint8 and images[0].shape[1:] == (32, 32, 3)


def test_demo_runs_end_to_end(demo, tmp_path, capsys):
    results = demo.main(['--seeds', '0', '--epochs', '1', '--work-dir',
                         str(tmp_path)])
    out = capsys.readouterr().out
    assert set(results) == {'ce', 'lmf'}
    for runs in results.values():
        metrics, seconds = runs[0]
        assert 0 <= metrics['imbalanced/macro_f1'] <= 100 and seconds > 0
        assert len(metrics['imbalanced/f1_classwise']) == 7
    # the generated data is in the HAM10000 layout with the demo's counts
    meta = (tmp_path / 'HAM10000-synthetic' / 'HAM10000_metadata.csv')
    rows = meta.read_text().splitlines()
    assert rows[0] == 'lesion_id,image_id,dx,dx_type,age,sex,localization'
    assert len(rows) - 1 == sum(demo.DEMO_COUNTS.values())
    assert '| ce | ' in out and '| lmf | ' in out
    assert 'macro-F1, LMF - CE per seed: ' in out
    assert 'balanced accuracy, LMF - CE per seed: ' in out
    ce_f1 = results['ce'][0][0]['imbalanced/macro_f1']
    assert f'{ce_f1:.1f} ± nan' in out


def test_lmf_run_uses_the_paper_configs_loss(demo, tmp_path):
    cfg = demo.demo_config('lmf', tmp_path, tmp_path / 'w', epochs=2, seed=3)
    loss = cfg.model.head.loss
    assert (loss.type, loss.cls_num_list, loss.ldam_weight, loss.focal_weight,
            loss.gamma, loss.s) == ('LMFLoss', 'auto', 1.5, 1.0, 1.5, 30.0)
    assert '_delete_' not in loss
    ce = demo.demo_config('ce', tmp_path, tmp_path / 'w', epochs=2, seed=3)
    assert ce.model.head.loss.type == 'CrossEntropyLoss'
    assert (ce.train_cfg.max_epochs, ce.randomness.seed) == (2, 3)
    default = demo.demo_config('ce', tmp_path, tmp_path / 'w', epochs=None,
                               seed=0)
    assert default.train_cfg.max_epochs == 5  # the config's own length
    assert ce.train_dataloader.dataset.data_root == str(tmp_path)
