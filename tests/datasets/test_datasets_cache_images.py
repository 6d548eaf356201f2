"""SplitImageDataset(cache_images=True): images decoded once, the same
samples as without the cache."""
import numpy as np
import pytest
import torch

from lmfloss_mm.datasets import HAM10000, make_fake_ham10000

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(12, 12), backend='pillow',
         interpolation='bilinear'),
    dict(type='PackInputs'),
]


@pytest.fixture(scope='module')
def ham_root(tmp_path_factory):
    return make_fake_ham10000(tmp_path_factory.mktemp('ham'), image_size=20)


def test_cached_samples_equal_decoded_ones(ham_root):
    cached = HAM10000(str(ham_root), split='train', pipeline=PIPELINE,
                      cache_images=True)
    plain = HAM10000(str(ham_root), split='train', pipeline=PIPELINE)
    assert len(cached) == len(plain) > 10
    np.testing.assert_array_equal(cached.get_gt_labels(),
                                  plain.get_gt_labels())
    for i in range(len(plain)):
        a, b = cached[i], plain[i]
        assert torch.equal(a['inputs'], b['inputs'])
        assert a['data_samples'].gt_label.tolist() == \
            b['data_samples'].gt_label.tolist()
        assert a['data_samples'].img_path == b['data_samples'].img_path
        assert a['data_samples'].ori_shape == (20, 20)
    info = cached.get_data_info(0)
    assert info['img'].shape == (20, 20, 3) and info['img'].dtype == np.uint8
    assert 'img' not in plain.get_data_info(0)


def test_cache_is_not_changed_by_the_pipeline(ham_root):
    dataset = HAM10000(str(ham_root), split='val',
                       pipeline=[dict(type='LoadImageFromFile'),
                                 dict(type='PackInputs')],
                       cache_images=True)
    first = dataset[0]['inputs'].clone()
    dataset[0]['inputs'].zero_()  # a consumer writing into its sample
    assert torch.equal(dataset[0]['inputs'], first)
    assert first.abs().sum() > 0


def test_cache_needs_the_loader_first(ham_root):
    with pytest.raises(ValueError,
                       match='cache_images=True .* pipeline starts with '
                       'Resize'):
        HAM10000(str(ham_root), split='val', cache_images=True,
                 pipeline=[dict(type='Resize', scale=(8, 8)),
                           dict(type='LoadImageFromFile')])
    with pytest.raises(ValueError, match='starts with nothing'):
        HAM10000(str(ham_root), split='val', cache_images=True)
