"""check_image: the verdict on one file matches what the pipeline's loader
does with it; a sample that fails to load names its file and the reason."""
import logging
import os

import numpy as np
import pytest
import torch
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from PIL import Image

from lmfloss_mm.datasets import (HAM10000, ImageLoadError, LoadEyePair,
                                 check_image, make_fake_ham10000,
                                 read_exclude_file, write_exclude_file)
from lmfloss_mm.datasets.image_check import DecodeSpec, find_image_loaders

BROKEN = ('empty', 'garbage', 'truncated_half', 'truncated_no_eoi',
          'truncated_png', 'text')
CONVERTED = {'grey': 'L', 'rgba': 'RGBA', 'palette': 'P', 'grey_png': 'L'}


def _jpeg(path, array, **kwargs):
    Image.fromarray(array).save(path, 'JPEG', quality=90, **kwargs)
    return path.read_bytes()


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """name -> path of one file per case; sizes are 40 wide x 24 high."""
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    jpeg = _jpeg(root / 'rgb.jpg', rgb)
    (root / 'trailing.jpg').write_bytes(jpeg + b'\x00' * 7 + b'vendor data')
    (root / 'empty.jpg').write_bytes(b'')
    (root / 'garbage.jpg').write_bytes(
        rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    (root / 'text.png').write_bytes(b'<html>not an image</html>\n')
    (root / 'truncated_half.jpg').write_bytes(jpeg[:len(jpeg) // 2])
    (root / 'truncated_no_eoi.jpg').write_bytes(jpeg[:-2])
    Image.fromarray(rgb).save(root / 'rgb_png.png')
    png = (root / 'rgb_png.png').read_bytes()
    (root / 'truncated_png.png').write_bytes(png[:len(png) - 40])
    _jpeg(root / 'grey.jpg', rgb[..., 0])
    Image.fromarray(rgb[..., 1]).save(root / 'grey_png.png')
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(root / 'rgba.png')
    Image.fromarray(rgb).convert('P').save(root / 'palette.png')
    (root / 'folder.jpg').mkdir()
    paths = {p.name.split('.')[0]: str(p) for p in root.iterdir()}
    paths['missing'] = str(root / 'missing.jpg')
    return paths


def pipeline_fails(path, backend):
    """What mmcv's LoadImageFromFile itself does with the file."""
    try:
        LoadImageFromFile(imdecode_backend=backend)(dict(img_path=path))
    except Exception:
        return True
    return False


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_verdicts_match_the_pipeline_loader(files, backend):
    spec = DecodeSpec(imdecode_backend=backend)
    for name, path in files.items():
        record = check_image(path, spec)
        fails = pipeline_fails(path, backend)
        # everything the loader fails on is reported, and nothing that it
        # loads is, except a cut file that a lenient decoder fills in
        assert record.broken == fails or record.status == 'truncated', name
        assert record.broken == (name in BROKEN + ('missing', 'folder'))


def test_statuses_reasons_and_sizes(files):
    status = {n: check_image(p) for n, p in files.items()}
    assert status['missing'].status == 'missing'
    assert status['folder'].status == 'unreadable'
    assert 'IsADirectoryError' in status['folder'].reason
    assert status['empty'].status == 'empty'
    assert status['empty'].reason == 'empty file (0 bytes)'
    for name in ('garbage', 'text'):
        assert status[name].status == 'undecodable'
        assert 'not a recognised image format' in status[name].reason
    for name in ('truncated_half', 'truncated_no_eoi', 'truncated_png'):
        assert status[name].status == 'truncated', name
        assert 'no end marker' in status[name].reason
    assert 'truncated JPEG file' in status['truncated_half'].reason
    assert 'truncated PNG file' in status['truncated_png'].reason
    for name in ('rgb', 'rgb_png', 'trailing') + tuple(CONVERTED):
        record = status[name]
        size = (record.width, record.height)
        assert (record.status, size) == ('ok', (40, 24)), name
        assert record.converted == (name in CONVERTED), name
        assert record.mode == CONVERTED.get(name, 'RGB'), name
    assert status['rgb'].file_format == 'JPEG'
    assert status['rgba'].file_format == 'PNG'


def test_a_cut_file_that_the_decoder_fills_in_is_still_reported(
        files, monkeypatch):
    # older OpenCV builds decode a cut JPEG, grey where the data is missing
    monkeypatch.setattr(DecodeSpec, 'decode',
                        lambda self, data: np.zeros((24, 40, 3), np.uint8))
    record = check_image(files['truncated_half'])
    assert record.status == 'truncated'
    assert 'cv2 decodes it with the missing part filled in' in record.reason
    assert check_image(files['rgb']).status == 'ok'


def test_conversion_depends_on_the_colour_type(files):
    grey = DecodeSpec(color_type='grayscale')
    assert not check_image(files['grey'], grey).converted
    assert check_image(files['rgb'], grey).converted
    unchanged = DecodeSpec(color_type='unchanged')
    assert not check_image(files['rgba'], unchanged).converted


def test_loaders_are_read_from_the_built_pipeline():
    pipeline = [
        LoadImageFromFile(imdecode_backend='pillow', color_type='grayscale'),
        LoadEyePair(keys=('a', 'b'), imdecode_backend='cv2')
    ]
    assert find_image_loaders(pipeline) == [
        (('img_path', ), DecodeSpec('grayscale', 'pillow')),
        (('a', 'b'), DecodeSpec('color', 'cv2')),
    ]
    assert find_image_loaders(lambda results: results) == []


def test_exclude_file_round_trip(tmp_path):
    path = tmp_path / 'exclude.txt'
    write_exclude_file(str(path), [('ISIC_0000001.jpg', 'train: empty'),
                                   ('ISIC_0000002', '')], header='by me')
    text = path.read_text()
    assert '# by me' in text and 'ISIC_0000001.jpg  # train: empty' in text
    with open(path, 'a') as f:
        f.write('\n  some/folder/ISIC_0000003.JPG   # comment\n'
                'ISIC_0000001.jpg\n')
    assert read_exclude_file(str(path)) == [
        'ISIC_0000001', 'ISIC_0000002', 'ISIC_0000003'
    ]
    with pytest.raises(ValueError, match="'#' starts a comment"):
        write_exclude_file(str(path), [('a#b.jpg', '')])
    with pytest.raises(FileNotFoundError, match='--write-exclude'):
        read_exclude_file(str(tmp_path / 'nope.txt'))


# --------------------------------------------------- errors while loading
@pytest.fixture
def ham(tmp_path):
    root = make_fake_ham10000(
        tmp_path / 'ham',
        counts=dict(akiec=3, bcc=3, bkl=3, df=3, mel=3, nv=6, vasc=3),
        images_per_lesion=1)
    return root


def dataset(root, split='all', **loader):
    init_default_scope('mmpretrain')
    return HAM10000(str(root), split=split, pipeline=[
        dict(type='LoadImageFromFile', **loader), dict(type='PackInputs')])


def test_a_zero_byte_image_fails_with_its_path(ham):
    data = dataset(ham)
    path = data.get_data_info(3)['img_path']
    open(path, 'wb').close()
    with pytest.raises(ImageLoadError) as error:
        data[3]
    message = str(error.value)
    assert f'{path}: empty file (0 bytes)' in message
    assert "HAM10000 (split 'all'): sample 3" in message
    assert 'tools/check_data.py' in message
    assert 'buf.empty()' in str(error.value.__cause__)  # OpenCV's own words
    data[4]  # the other samples load


def test_ignore_empty_never_gives_another_sample(ham):
    data = dataset(ham, ignore_empty=True)
    path = data.get_data_info(5)['img_path']
    open(path, 'wb').write(b'GIF89a garbage')
    with pytest.raises(ImageLoadError, match='cv2 returns no image'):
        data[5]
    data.test_mode = True
    with pytest.raises(ImageLoadError, match=path):
        data[5]


def test_a_pipeline_that_drops_healthy_samples_is_an_error(ham):
    data = dataset(ham)
    data.pipeline = lambda results: None
    with pytest.raises(RuntimeError, match='returned None although its '
                       'image files decode'):
        data[0]


def test_other_pipeline_errors_keep_their_type(ham):
    init_default_scope('mmpretrain')
    data = HAM10000(str(ham), split='all', pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='CenterCrop', crop_size=64),  # larger than the image
        dict(type='PackInputs')])
    data.pipeline.transforms[1].transform = lambda results: results['nope']
    with pytest.raises(KeyError) as error:
        data[0]
    if hasattr(error.value, '__notes__'):
        note = error.value.__notes__[0]
        assert data.get_data_info(0)['img_path'] in note
        assert 'image files decode' in note


def test_the_error_crosses_dataloader_workers(ham):
    data = dataset(ham)
    path = data.get_data_info(2)['img_path']
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    loader = torch.utils.data.DataLoader(
        data, batch_size=4, num_workers=1, collate_fn=lambda batch: batch)
    with pytest.raises(ImageLoadError, match=f'{path}: truncated JPEG'):
        list(loader)


def test_exclude_file_leaves_images_out_and_logs_it(ham, tmp_path):
    full = dataset(ham, )
    ids = [os.path.basename(full.get_data_info(i)['img_path'])[:-4]
           for i in range(len(full))]
    exclude = tmp_path / 'exclude.txt'
    exclude.write_text(f'{ids[1]}.jpg  # broken\n{ids[7]}\nISIC_9999999\n')
    logger = MMLogger.get_current_instance()
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    try:
        init_default_scope('mmpretrain')
        data = HAM10000(str(ham), split='all', exclude_file=str(exclude))
    finally:
        logger.removeHandler(handler)
    assert data.excluded_images == [ids[1], ids[7]]
    kept = [os.path.basename(data.get_data_info(i)['img_path'])[:-4]
            for i in range(len(data))]
    assert kept == [i for i in ids if i not in (ids[1], ids[7])]
    log = '\n'.join(m for m in messages if 'exclude_file' in m)
    assert f'left out 2 of this split: {ids[1]}, {ids[7]}' in log
    assert '1 are not in the annotations' in log and 'ISIC_9999999' in log
    assert f'Excluded images: \t2 ({exclude})' in repr(data)
