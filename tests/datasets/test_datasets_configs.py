"""The dataset base configs load, honour their environment variable, follow
the official recipe and build on fixtures."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS

from lmfloss_mm.datasets import (make_fake_ham10000, make_fake_isic2019,
                                 make_fake_odir5k)

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / \
    'datasets'
CASES = {
    'ham10000_bs32_224.py': ('HAM10000', 'HAM10000_ROOT', 'data/HAM10000', 7,
                             make_fake_ham10000),
    'isic2019_bs32_224.py': ('ISIC2019', 'ISIC2019_ROOT', 'data/ISIC2019', 8,
                             make_fake_isic2019),
    'odir5k_bs32_224.py': ('ODIR5K', 'ODIR5K_ROOT', 'data/ODIR-5K', 8,
                           make_fake_odir5k),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_config_contents(name, monkeypatch):
    dataset_type, env, default_root, num_classes, _ = CASES[name]
    monkeypatch.delenv(env, raising=False)
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    # only the shared input recipe, no MMPretrain base (whose keys would
    # collide with the model and schedule bases of the paper configs)
    assert "_base_ = './plain-resize_bs32_224.py'" in Path(
        CONFIG_DIR / name).read_text()
    assert cfg.dataset_type == dataset_type
    assert cfg.data_root == default_root
    assert cfg.num_classes == num_classes
    assert cfg.data_preprocessor == dict(
        num_classes=num_classes, mean=[0., 0., 0.], std=[255., 255., 255.],
        to_rgb=True)
    resize = dict(type='Resize', scale=(224, 224), backend='pillow',
                  interpolation='bilinear')
    for pipeline in (cfg.train_pipeline, cfg.test_pipeline):
        assert pipeline == [dict(type='LoadImageFromFile'), resize,
                            dict(type='PackInputs')]
    for split, shuffle in (('train', True), ('val', False), ('test', False)):
        loader = cfg[f'{split}_dataloader']
        assert loader.batch_size == 32 and loader.num_workers == 4
        assert loader.persistent_workers is True
        assert loader.sampler == dict(type='DefaultSampler', shuffle=shuffle)
        assert loader.dataset.type == dataset_type
        assert loader.dataset.split == split
        assert loader.dataset.data_root == default_root
    assert not any(k.endswith('evaluator') for k in cfg.keys())


@pytest.mark.parametrize('name', sorted(CASES))
def test_config_env_variable_and_build(name, tmp_path, monkeypatch):
    dataset_type, env, _, num_classes, make = CASES[name]
    root = make(tmp_path / 'data root')
    monkeypatch.setenv(env, str(root))
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    assert cfg.data_root == str(root)
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == str(root)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert type(dataset).__name__ == dataset_type
    assert len(dataset.CLASSES) == num_classes and len(dataset) > 0
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 224, 224)
    # "no normalisation": the preprocessor scales pixels to [0, 1]
    preprocessor = MODELS.build(
        dict(type='ClsDataPreprocessor', **cfg.data_preprocessor))
    batch = preprocessor(dict(inputs=[sample['inputs']],
                              data_samples=[sample['data_samples']]))
    inputs = batch['inputs']
    assert inputs.dtype == torch.float32 and inputs.shape == (1, 3, 224, 224)
    assert 0 <= float(inputs.min()) and float(inputs.max()) <= 1
    assert float(inputs.max()) > 0.5
    # to_rgb: channel 0 of the output is channel 2 of the BGR input
    assert torch.allclose(inputs[0, 0], sample['inputs'][2].float() / 255)


def test_cfg_options_style_override(tmp_path):
    root = make_fake_ham10000(tmp_path / 'ham')
    cfg = Config.fromfile(str(CONFIG_DIR / 'ham10000_bs32_224.py'))
    cfg.merge_from_dict({
        f'{split}_dataloader.dataset.data_root': str(root)
        for split in ('train', 'val', 'test')
    })
    sizes = [len(DATASETS.build(cfg[f'{s}_dataloader'].dataset))
             for s in ('train', 'val', 'test')]
    assert sum(sizes) == 86 and min(sizes) > 0
