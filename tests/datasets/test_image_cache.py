"""The on-disk image cache (``image_cache=dict(root=...)``,
``tools/prepare_image_cache.py``) and reduced JPEG decoding
(``LoadReducedImageFromFile``)."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmcv.transforms import LoadImageFromFile
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmpretrain.registry import DATASETS, TRANSFORMS
from PIL import Image

from lmfloss_mm.datasets import (HAM10000, make_fake_ham10000,
                                 make_fake_isic2019, make_fake_odir5k)
from lmfloss_mm.datasets import image_cache
from lmfloss_mm.datasets.image_cache import (MANIFEST_NAME, ImageCacheError,
                                             cached_transforms)
from lmfloss_mm.datasets.image_cache_build import (build_image_cache,
                                                   build_lock,
                                                   cache_tasks_of_config)
from lmfloss_mm.datasets.synthetic import textured_image
from lmfloss_mm.datasets.transforms import jpeg_reduction

REPO = Path(__file__).resolve().parents[2]
SIZE = 24
RESIZE = dict(type='Resize', scale=(SIZE, SIZE), backend='pillow',
              interpolation='bilinear')
PIPELINE = [dict(type='LoadImageFromFile'), RESIZE, dict(type='PackInputs')]
#: Documented bound of LoadReducedImageFromFile + Resize against
#: LoadImageFromFile + Resize on generated photographs (docs/image_cache.md).
REDUCED_MEAN_BOUND, REDUCED_MAX_BOUND = 2.5, 40


def landscape(class_index, rng, image_size):
    """40 x 30 images (not square, so that ``scale_factor`` matters)."""
    return rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)


@pytest.fixture
def ham_root(tmp_path):
    return make_fake_ham10000(tmp_path / 'ham', draw=landscape)


def make_cfg(data_root, cache_root=None, pipeline=PIPELINE,
             dataset_type='HAM10000', splits=('train', 'val', 'test'),
             **extra):
    """A config with one dataset per split, reading ``cache_root``
    (``serialize_data=False`` skips a slow ``gc.collect()``)."""
    cfg = {}
    for split in splits:
        dataset = dict(type=dataset_type, data_root=str(data_root),
                       split=split, pipeline=pipeline, serialize_data=False,
                       **extra)
        if cache_root is not None:
            dataset['image_cache'] = dict(root=str(cache_root))
        cfg[f'{split}_dataloader'] = dict(dataset=dataset)
    return Config(cfg)


def build_caches(cfg, splits=('train', 'val', 'test'), **kwargs):
    """Build every cache of ``cfg``; the reports."""
    kwargs.setdefault('progress', False)
    return [build_image_cache(task, **kwargs)
            for task in cache_tasks_of_config(cfg, splits)]


def dataset_of(cfg, split='train', **changes):
    dataset_cfg = cfg[f'{split}_dataloader'].dataset.copy()
    dataset_cfg.update(changes)
    return DATASETS.build(dataset_cfg)


def assert_same_samples(a, b):
    """Every sample of ``a`` equals the one of ``b``: input tensor, label
    and all meta information."""
    assert len(a) == len(b) > 0
    for i in range(len(b)):
        x, y = a[i], b[i]
        assert torch.equal(x['inputs'], y['inputs']), i
        assert x['data_samples'].metainfo == y['data_samples'].metainfo
        assert torch.equal(x['data_samples'].gt_label,
                           y['data_samples'].gt_label)


# ------------------------------------------------------------------ exact
@pytest.mark.parametrize('dataset_type, make, kwargs', [
    ('HAM10000', make_fake_ham10000, {}),
    ('ISIC2019', make_fake_isic2019, {}),
    ('ODIR5K', make_fake_odir5k, dict(label_source='kaggle_full_df')),
])
def test_exact_cache_gives_the_same_samples(tmp_path, dataset_type, make,
                                            kwargs):
    data_root = make(tmp_path / 'data', draw=landscape)
    cfg = make_cfg(data_root, tmp_path / 'cache', dataset_type=dataset_type,
                   splits=('train', 'test'), **kwargs)
    (report, ) = build_caches(cfg, ('train', 'test'))
    assert report.failed == [] and report.reused == 0
    assert report.written == report.images
    for split in ('train', 'test'):
        cached = dataset_of(cfg, split)
        plain = dataset_of(cfg, split, image_cache=None)
        assert cached.stored_transforms() == 2
        assert_same_samples(cached, plain)
    assert cached[0]['data_samples'].ori_shape == (30, 40)
    assert cached[0]['data_samples'].scale_factor == (SIZE / 40, SIZE / 30)


@pytest.mark.parametrize('name', ['ham10000', 'isic2019', 'odir5k'])
def test_official_pipelines_are_cached_exactly(name):
    """The paper recipes' pipelines: the loader and the 224 x 224 Resize are
    cached, PackInputs is not."""
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' /
                              f'{name}_bs32_224.py'))
    for pipeline in (cfg.train_pipeline, cfg.test_pipeline):
        built = Compose([TRANSFORMS.build(t) for t in pipeline])
        cached = cached_transforms(built)
        assert [type(t).__name__ for t in cached] == [
            'LoadImageFromFile', 'Resize']
        assert cached[1].scale == (224, 224)


def test_cache_holds_the_results_of_the_cached_transforms(tmp_path,
                                                          ham_root):
    """The stored results equal those of LoadImageFromFile + Resize run
    here (every key, not only the packed ones), and the stored file holds
    exactly the resized array."""
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    cached = dataset_of(cfg, 'val')
    prefix = Compose([TRANSFORMS.build(t) for t in PIPELINE[:2]])
    for i in range(len(cached)):
        info = cached.get_data_info(i)
        stored = cached.image_cache.load(info)
        expected = prefix({k: v for k, v in info.items()
                           if not k.startswith('image_cache_')})
        assert set(stored) == set(expected)
        assert np.array_equal(stored.pop('img'), expected.pop('img'))
        assert stored == expected
    manifest = json.loads((tmp_path / 'cache' / MANIFEST_NAME).read_text())
    entry = manifest['images'][os.path.relpath(info['img_path'], ham_root)]
    png = (tmp_path / 'cache' / entry['file'])
    assert png.suffix == '.png' and png.stat().st_size == entry['file_size']
    assert entry['results']['keep_ratio'] is False


def test_pillow_resize_to_the_same_size_is_the_identity():
    """Why re-resizing a stored 224 x 224 image would be harmless (the CV
    benchmark's data roots rely on it): Pillow returns a copy."""
    rng = np.random.default_rng(0)
    resize = TRANSFORMS.build(RESIZE)
    for image in (rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8),
                  rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)):
        out = resize(dict(img=image.copy(), img_shape=image.shape[:2]))
        assert np.array_equal(out['img'], image)


def test_npy_cache_is_exact(tmp_path, ham_root):
    cfg = make_cfg(ham_root, splits=('val', ))
    cfg.val_dataloader.dataset.image_cache = dict(
        root=str(tmp_path / 'npy'), file_format='npy')
    build_caches(cfg, ('val', ))
    assert_same_samples(dataset_of(cfg, 'val'),
                        dataset_of(cfg, 'val', image_cache=None))
    files = [f for _, _, names in os.walk(tmp_path / 'npy') for f in names]
    assert sum(f.endswith('.jpg.npy') for f in files) == 16


def test_relative_root_is_relative_to_the_data_root(tmp_path, ham_root):
    cfg = make_cfg(ham_root, splits=('val', ))
    cfg.val_dataloader.dataset.image_cache = dict(root='cache/24px')
    build_caches(cfg, ('val', ))
    assert (ham_root / 'cache' / '24px' / MANIFEST_NAME).is_file()
    assert dataset_of(cfg, 'val').image_cache.root == os.path.join(
        str(ham_root), 'cache/24px')


def test_in_memory_cache_on_top_of_the_disk_cache(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    both = dataset_of(cfg, 'val', cache_images=True)
    info = both.get_data_info(0)
    assert info['img'].shape == (SIZE, SIZE, 3)  # the stored, small image
    assert 'image_cache_file' not in info and info['ori_shape'] == (30, 40)
    assert_same_samples(both, dataset_of(cfg, 'val', image_cache=None))


def test_reading_with_two_dataloader_workers(tmp_path, ham_root):
    """With MMEngine's serialized data list, as in training."""
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('train', ))
    cfg.train_dataloader.dataset.serialize_data = True
    build_caches(cfg, ('train', ))

    def batches(dataset):
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=8, num_workers=2, collate_fn=pseudo_collate)
        return [(torch.stack(b['inputs']),
                 [s.img_path for s in b['data_samples']]) for b in loader]

    cached = batches(dataset_of(cfg, 'train'))
    plain = [(torch.stack([s['inputs'] for s in chunk]),
              [s['data_samples'].img_path for s in chunk])
             for chunk in _chunks(dataset_of(cfg, 'train', image_cache=None),
                                  8)]
    assert len(cached) == len(plain) == 8  # 57 images
    for (x, paths_x), (y, paths_y) in zip(cached, plain):
        assert paths_x == paths_y and torch.equal(x, y)


def _chunks(dataset, size):
    samples = [dataset[i] for i in range(len(dataset))]
    return [samples[i:i + size] for i in range(0, len(samples), size)]


# ------------------------------------------------------------ short side
def test_short_side_cache_stores_reduced_images(tmp_path):
    data_root = make_fake_ham10000(
        tmp_path / 'ham', counts=dict(nv=3, mel=3),
        draw=lambda c, rng, s: (landscape(c, rng, s) if c == 4 else
                                rng.integers(0, 256, (12, 16, 3)).astype(
                                    np.uint8)))
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='RandomResizedCrop', scale=8, backend='pillow'),
                dict(type='PackInputs')]
    cfg = make_cfg(data_root, pipeline=pipeline, splits=('train', ))
    cfg.train_dataloader.dataset.split = 'all'
    with pytest.raises(ValueError, match='followed by RandomResizedCrop.*'
                       'short_side=S'):
        dataset_of(cfg, image_cache=dict(root=str(tmp_path / 'c')))
    cfg.train_dataloader.dataset.image_cache = dict(
        root=str(tmp_path / 'c'), short_side=20)
    build_caches(cfg, ('train', ))
    cached = dataset_of(cfg)
    plain = dataset_of(cfg, image_cache=None)
    assert cached.stored_transforms() == 1
    loader = LoadImageFromFile()
    for i in range(len(cached)):
        stored = cached.image_cache.load(cached.get_data_info(i))
        decoded = loader(dict(img_path=stored['img_path']))['img']
        if decoded.shape[0] == 30:  # 40 x 30 -> shorter side 20: 27 x 20
            expected = np.stack([
                np.asarray(Image.fromarray(decoded[..., c]).resize(
                    (27, 20), Image.BILINEAR)) for c in range(3)
            ], axis=-1)
        else:  # 16 x 12: smaller than 20, stored as decoded
            expected = decoded
        assert np.array_equal(stored['img'], expected)
        assert stored['img_shape'] == stored['ori_shape'] == \
            expected.shape[:2]
        assert cached[i]['inputs'].shape == plain[i]['inputs'].shape == (
            3, 8, 8)


# --------------------------------------------------------- stale caches
def test_changed_source_image_is_detected_and_re_encoded(tmp_path,
                                                         ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    changed = dataset_of(cfg, 'val', image_cache=None).get_data_info(3)[
        'img_path']
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(changed)
    with pytest.raises(ImageCacheError,
                       match=r'(?s)source image changed.*'
                       + os.path.basename(changed)
                       + '.*prepare_image_cache.py'):
        dataset_of(cfg, 'val')
    (report, ) = build_caches(cfg, ('val', ))
    assert (report.written, report.reused) == (1, 15)
    assert_same_samples(dataset_of(cfg, 'val'),
                        dataset_of(cfg, 'val', image_cache=None))
    os.utime(changed, ns=(1, 1))  # same bytes, other modification time
    with pytest.raises(ImageCacheError, match='source image changed'):
        dataset_of(cfg, 'val')


def test_same_content_with_new_times_is_not_re_encoded_with_hash(
        tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ), record_hash=True)
    hashed = dataset_of(cfg, 'val', image_cache=dict(
        root=str(tmp_path / 'cache'), verify='hash'))
    assert len(hashed) == 16
    for info in (hashed.get_data_info(i) for i in range(3)):
        os.utime(info['img_path'], ns=(1, 1))
    (report, ) = build_caches(cfg, ('val', ))
    assert (report.written, report.reused) == (0, 16)
    assert len(dataset_of(cfg, 'val')) == 16


def test_other_library_versions_are_reported(tmp_path, ham_root,
                                             monkeypatch):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    manifest = tmp_path / 'cache' / MANIFEST_NAME
    content = json.loads(manifest.read_text())
    content['environment']['pillow'] = '1.0'
    manifest.write_text(json.dumps(content))
    logged = []
    monkeypatch.setattr(image_cache, 'print_log',
                        lambda msg, **kwargs: logged.append((msg, kwargs)))
    assert len(dataset_of(cfg, 'val')) == 16  # used, with a warning
    ((message, kwargs), ) = logged
    assert "'pillow': ('1.0', " in message and '--force' in message
    assert kwargs['level'] == 'WARNING'


def test_verify_hash_needs_recorded_hashes(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    with pytest.raises(ImageCacheError, match='built without --hash'):
        dataset_of(cfg, 'val', image_cache=dict(
            root=str(tmp_path / 'cache'), verify='hash'))


def test_changed_annotation_file_is_detected(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    metadata = ham_root / 'HAM10000_metadata.csv'
    lines = metadata.read_text().splitlines()
    lines[1] = lines[1].rsplit(',', 1)[0] + ',scalp'  # localization only
    metadata.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ImageCacheError,
                       match='HAM10000_metadata.csv changed after'):
        dataset_of(cfg, 'val')
    (report, ) = build_caches(cfg, ('val', ))
    assert report.written == 0 and 'annotation' in report.notes[0]
    assert len(dataset_of(cfg, 'val')) == 16


def test_partial_or_damaged_cache_is_refused(tmp_path, ham_root):
    cache = tmp_path / 'cache'
    cfg = make_cfg(ham_root, cache, splits=('val', ))
    build_caches(cfg, ('val', ))
    manifest = cache / MANIFEST_NAME
    saved = manifest.read_bytes()
    manifest.unlink()
    with pytest.raises(ImageCacheError, match='manifest.json is missing'):
        dataset_of(cfg, 'val')
    manifest.write_bytes(saved)
    (first, entry1), (second, entry2) = list(
        json.loads(saved)['images'].items())[:2]
    (cache / entry1['file']).unlink()
    damaged = cache / entry2['file']
    damaged.write_bytes(damaged.read_bytes()[:-1])
    with pytest.raises(ImageCacheError, match='2 of the 16 images') as info:
        dataset_of(cfg, 'val')
    assert f'cached file missing: 1 ({first})' in str(info.value)
    assert ('cached file damaged (size differs from the manifest): 1 '
            f'({second})') in str(info.value)
    (report, ) = build_caches(cfg, ('val', ))
    assert report.written == 2
    dataset = dataset_of(cfg, 'val')
    assert_same_samples(dataset, dataset_of(cfg, 'val', image_cache=None))
    (cache / entry1['file']).unlink()  # damaged after the dataset loaded
    index = [dataset.get_data_info(i)['image_cache_file']
             for i in range(len(dataset))].index(entry1['file'])
    with pytest.raises(ImageCacheError, match='Cannot read the cached image'
                       '.*prepare_image_cache.py'):
        dataset[index]


def test_manifest_cannot_point_outside_the_cache(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    manifest = tmp_path / 'cache' / MANIFEST_NAME
    content = json.loads(manifest.read_text())
    key, entry = next(iter(content['images'].items()))
    shutil.copy(tmp_path / 'cache' / entry['file'], tmp_path / 'outside.png')
    entry['file'] = '../outside.png'
    manifest.write_text(json.dumps(content))
    with pytest.raises(ImageCacheError, match='stored file not where the '
                       f'cache layout puts it: 1 \\({key}\\)'):
        dataset_of(cfg, 'val')


def test_images_of_another_split_are_not_in_the_cache(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', 'test'))
    build_caches(cfg, ('val', ))
    with pytest.raises(ImageCacheError, match='13 of the 13 images:\n  not '
                       'in the cache: 13'):
        dataset_of(cfg, 'test')
    (report, ) = build_caches(cfg, ('test', ))
    assert report.written == 13
    assert len(dataset_of(cfg, 'test')) == 13
    assert len(dataset_of(cfg, 'val')) == 16  # kept: still fresh


@pytest.mark.parametrize('change, match', [
    (dict(pipeline=[dict(type='LoadImageFromFile'),
                    dict(RESIZE, scale=(20, 20)),
                    dict(type='PackInputs')]), r'"scale": \[20, 20\]'),
    (dict(pipeline=[dict(type='LoadImageFromFile', color_type='grayscale'),
                    RESIZE, dict(type='PackInputs')]), 'grayscale'),
    (dict(image_cache=dict(root='CACHE', file_format='npy')), '"npy"'),
    (dict(image_cache=dict(root='CACHE', short_side=SIZE)),
     '"short_side": 24'),
])
def test_other_transforms_or_settings_are_detected(tmp_path, ham_root,
                                                   change, match):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    if 'image_cache' in change:
        change['image_cache']['root'] = str(tmp_path / 'cache')
    with pytest.raises(ImageCacheError,
                       match=f'(?s)other transforms or settings.*pipeline:'
                       f'.*{match}'):
        dataset_of(cfg, 'val', **change)


def test_check_data_checks_the_sources_without_the_cache(tmp_path,
                                                         ham_root):
    from lmfloss_mm.datasets import check_config
    cfg = make_cfg(ham_root, tmp_path / 'never_built', splits=('val', ))
    report = check_config(cfg, ['val'], progress=False)
    assert report.ok and len(report.records['val']) == 16


def test_bad_options_and_pipelines_are_named(tmp_path, ham_root):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['size'\]"):
        HAM10000(str(ham_root), split='val', pipeline=PIPELINE,
                 image_cache=dict(root='c', size=3))
    with pytest.raises(ValueError, match='needs root='):
        HAM10000(str(ham_root), split='val', pipeline=PIPELINE,
                 image_cache=dict(short_side=3))
    with pytest.raises(TypeError, match='must be a dict'):
        HAM10000(str(ham_root), split='val', pipeline=PIPELINE,
                 image_cache=str(tmp_path))
    with pytest.raises(ValueError, match='starts with Resize'):
        cached_transforms(Compose([TRANSFORMS.build(t) for t in
                                   (RESIZE, dict(type='LoadImageFromFile'))]))
    with pytest.raises(ValueError, match='starts with LoadEyePair'):
        cached_transforms([TRANSFORMS.build(dict(type='LoadEyePair'))])


# ------------------------------------------------------------------ build
def test_failed_image_leaves_no_manifest(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    broken = dataset_of(cfg, 'val').get_data_info(5)['img_path']
    with open(broken, 'wb') as f:
        f.write(b'not a jpeg')
    (report, ) = build_caches(cfg, ('val', ))
    assert [source for source, _ in report.failed] == [broken]
    assert not (tmp_path / 'cache' / MANIFEST_NAME).exists()
    with pytest.raises(ImageCacheError, match='manifest.json is missing'):
        dataset_of(cfg, 'val')


def test_one_builder_per_folder(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    with build_lock(str(tmp_path / 'cache')):
        with pytest.raises(ImageCacheError, match='Another process'):
            build_caches(cfg, ('val', ))


def test_splits_sharing_a_folder_need_the_same_transforms(tmp_path,
                                                          ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', 'test'))
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'), dict(RESIZE, scale=(8, 8))]
    with pytest.raises(ValueError, match='also used by split.*val'):
        cache_tasks_of_config(cfg, ('val', 'test'))


def test_tool_builds_in_parallel_and_checks(tmp_path, ham_root, load_tool,
                                            capsys):
    tool = load_tool('prepare_image_cache')
    config = tmp_path / 'config.py'
    config.write_text(
        f'train_dataloader = dict(dataset=dict(type="HAM10000", '
        f'data_root={str(ham_root)!r}, split="train", pipeline={PIPELINE!r}'
        ', serialize_data=False))\ntest_dataloader = dict(dataset=dict('
        f'type="HAM10000", data_root={str(ham_root)!r}, split="test", '
        f'pipeline={PIPELINE!r}, serialize_data=False))\n')
    assert tool.main([str(config), '--no-progress']) == 1  # no cache named
    # a relative root is relative to the data root, as in the config
    assert tool.main([str(config), '--root', 'cache/24px', '--workers', '2',
                      '--splits', 'train', 'test', '--no-progress']) == 0
    out = capsys.readouterr().out
    assert f'{ham_root}/cache/24px: 70 images, 0 re-used, 70 written' in out
    assert (ham_root / 'cache' / '24px' / MANIFEST_NAME).is_file()
    switch = out.split('--cfg-options ')[-1].split()
    assert switch == [f'{split}_dataloader.dataset.image_cache.root='
                      'cache/24px' for split in ('train', 'test')]
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(dict(w.split('=', 1) for w in switch))
    assert_same_samples(dataset_of(cfg, 'test'),
                        dataset_of(cfg, 'test', image_cache=None))
    check = [str(config), '--root', 'cache/24px', '--check', '--splits',
             'train', 'test']
    assert tool.main(check) == 0
    os.utime(dataset_of(cfg, 'test', image_cache=None).get_data_info(0)[
        'img_path'], ns=(1, 1))
    capsys.readouterr()
    assert tool.main(check) == 1
    assert 'NOT up to date' in capsys.readouterr().out
    assert tool.main(check[:3] + ['--workers', '2', '--no-progress']) == 0
    assert '70 images, 69 re-used, 1 written' in capsys.readouterr().out


# ------------------------------------------------------ reduced decoding
@pytest.mark.parametrize('width, height, min_size, max_reduction, factor', [
    (600, 450, (224, 224), 8, 2),  # HAM10000: 300 x 225
    (450, 600, (224, 224), 8, 2),  # portrait
    (1024, 1024, (224, 224), 8, 4),  # ISIC 2019: 256 x 256
    (2592, 1728, (224, 224), 8, 4),  # ODIR-5K: 648 x 432 (1/8: 216 high)
    (2592, 1728, (224, 224), 2, 2),
    (224, 224, (224, 224), 8, 1),
    (448, 448, (225, 224), 8, 1),  # the longer side must cover 225
    (449, 448, (225, 224), 8, 2),  # ceil(449 / 2) = 225
])
def test_jpeg_reduction(width, height, min_size, max_reduction, factor):
    assert jpeg_reduction(width, height, min_size, max_reduction) == factor


def _pipeline_output(loader, path, size):
    out = Compose([TRANSFORMS.build(loader),
                   TRANSFORMS.build(dict(RESIZE, scale=(size, size)))])(
                       dict(img_path=str(path)))
    return out['img'].astype(np.int16)


def test_reduced_decoding_stays_within_the_documented_bound(tmp_path):
    """Scaled-down versions of the three datasets' cases (decoding at 1/2
    and 1/4, then the shrink to the network input)."""
    rng = np.random.default_rng(0)
    for width, height, factor in ((150, 112, 2), (256, 256, 4),
                                  (648, 432, 4)):
        path = tmp_path / f'{width}.jpg'
        Image.fromarray(textured_image(width, height, rng)).save(
            path, quality=90)
        reduced = TRANSFORMS.build(dict(type='LoadReducedImageFromFile',
                                        min_size=56))(dict(
                                            img_path=str(path)))
        assert reduced['decode_reduction'] == factor
        assert reduced['img'].shape[:2] == (-(-height // factor),
                                            -(-width // factor))
        difference = np.abs(
            _pipeline_output(dict(type='LoadReducedImageFromFile',
                                  min_size=56), path, 56) -
            _pipeline_output(dict(type='LoadImageFromFile'), path, 56))
        assert 0 < difference.mean() < REDUCED_MEAN_BOUND, (width,
                                                            difference.mean())
        assert difference.max() <= REDUCED_MAX_BOUND


def test_reduced_decoding_is_exact_when_nothing_is_reduced(tmp_path):
    rng = np.random.default_rng(1)
    image = textured_image(80, 60, rng)
    Image.fromarray(image).save(tmp_path / 'a.jpg', quality=90)
    Image.fromarray(image).save(tmp_path / 'a.png')
    for name, min_size in (('a.jpg', 56), ('a.png', 8)):
        reduced = TRANSFORMS.build(dict(type='LoadReducedImageFromFile',
                                        min_size=min_size))(dict(
                                            img_path=str(tmp_path / name)))
        plain = LoadImageFromFile()(dict(img_path=str(tmp_path / name)))
        assert reduced['decode_reduction'] == 1
        assert np.array_equal(reduced['img'], plain['img'])
    grey = TRANSFORMS.build(dict(type='LoadReducedImageFromFile',
                                 min_size=20, color_type='grayscale'))(
                                     dict(img_path=str(tmp_path / 'a.jpg')))
    assert grey['img'].shape == (30, 40) and grey['decode_reduction'] == 2


def test_reduced_decoding_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="imdecode_backend='pillow'"):
        TRANSFORMS.build(dict(type='LoadReducedImageFromFile', min_size=8,
                              imdecode_backend='pillow'))
    with pytest.raises(ValueError, match="got 'unchanged'"):
        TRANSFORMS.build(dict(type='LoadReducedImageFromFile', min_size=8,
                              color_type='unchanged'))
    with pytest.raises(ValueError, match='max_reduction must be'):
        TRANSFORMS.build(dict(type='LoadReducedImageFromFile', min_size=8,
                              max_reduction=3))


# -------------------------------------------------------------- real data
def test_exact_cache_on_real_isic2018_images(tmp_path, shared_data):
    data_root = shared_data / 'isic2018_task3_test'
    pipeline = [dict(type='LoadImageFromFile'), dict(RESIZE, scale=(56, 56)),
                dict(type='PackInputs')]
    cfg = make_cfg(data_root, tmp_path / 'cache', pipeline=pipeline,
                   splits=('test', ))
    cfg.test_dataloader.dataset.split = 'isic2018_test'
    ids = sorted(p.stem for p in (data_root / 'images').glob('*.jpg'))
    exclude = tmp_path / 'exclude.txt'  # every 20th image is kept
    exclude.write_text('\n'.join(i for k, i in enumerate(ids) if k % 20))
    cfg.test_dataloader.dataset.exclude_file = str(exclude)
    (report, ) = build_caches(cfg, ('test', ))
    assert report.written == 76 and not report.failed
    assert_same_samples(dataset_of(cfg, 'test'),
                        dataset_of(cfg, 'test', image_cache=None))


def test_png_cannot_hold_float_images(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ),
                   pipeline=[dict(type='LoadImageFromFile', to_float32=True),
                             dict(RESIZE, backend='cv2'),
                             dict(type='PackInputs')])
    (report, ) = build_caches(cfg, ('val', ))
    assert len(report.failed) == 16
    assert "file_format='npy'" in report.failed[0][1]


def test_manifest_is_json_with_one_line_per_image(tmp_path, ham_root):
    cfg = make_cfg(ham_root, tmp_path / 'cache', splits=('val', ))
    build_caches(cfg, ('val', ))
    text = (tmp_path / 'cache' / MANIFEST_NAME).read_text()
    manifest = json.loads(text)
    assert len(manifest['images']) == 16
    assert sum(line.startswith('    "HAM10000_images_part')
               for line in text.splitlines()) == 16
    assert set(manifest['annotation_files']) == {'HAM10000_metadata.csv'}


def test_benchmark_script_runs(tmp_path, load_tool, capsys):
    tool = load_tool('benchmark_image_loading')
    assert tool.main(['--images', '1', '--repeats', '1', '--size', '64',
                      '--sizes', 'HAM10000', '--work-dir',
                      str(tmp_path)]) == 0
    rows = [line.split(' | ') for line in capsys.readouterr().out.splitlines()
            if line.startswith('| HAM10000 600x450')]
    assert [row[1] for row in rows] == ['default', 'cache png', 'cache npy',
                                        'reduced']
    assert rows[1][-1].startswith('identical; built in')
    assert rows[2][-1].startswith('identical; built in')
    assert rows[3][-1].startswith('MAD ')
