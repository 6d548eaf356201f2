"""Data transforms (registered in ``mmpretrain.registry.TRANSFORMS``)."""
from typing import Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadEyePair(BaseTransform):
    """Load a patient's two fundus images and put them side by side.

    Used by :class:`lmfloss_mm.datasets.ODIR5K` with
    ``sample_unit='patient'``, whose samples carry ``left_img_path`` and
    ``right_img_path`` instead of ``img_path``.  The output ``img`` is
    ``[left | right]`` (the left eye in the left half, both as stored, no
    mirroring): ``H x 2W`` where ``H x W`` is the left eye's size (or
    ``eye_scale``).  If the right eye has another size it is resized to the
    left eye's size first (PIL bilinear for 8-bit images), so each eye fills
    one half.  A
    following ``Resize(scale=(2 * s, s))`` gives each eye ``s x s`` pixels.

    Required keys: ``left_img_path``, ``right_img_path`` (see ``keys``).
    Added keys: ``img``, ``img_shape``, ``ori_shape``.

    Args:
        keys (Sequence[str]): The two path keys, in left-to-right order.
            Defaults to ``('left_img_path', 'right_img_path')``.
        eye_scale (tuple[int, int], optional): ``(w, h)`` to which each eye
            is resized before concatenation (saves memory with large
            originals). Defaults to None (left eye's size).
        to_float32 (bool): Convert the image to float32. Defaults to False.
        color_type (str): See ``mmcv.imfrombytes``. Defaults to ``'color'``.
        imdecode_backend (str): See ``mmcv.imfrombytes``.
            Defaults to ``'cv2'``.
        backend_args (dict, optional): File backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 keys: Sequence[str] = ('left_img_path', 'right_img_path'),
                 eye_scale: Optional[Tuple[int, int]] = None,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None):
        if len(keys) != 2:
            raise ValueError(f'LoadEyePair: keys must name two paths, got '
                             f'{keys!r}')
        if eye_scale is not None:
            eye_scale = tuple(int(v) for v in eye_scale)
            if len(eye_scale) != 2 or min(eye_scale) <= 0:
                raise ValueError('LoadEyePair: eye_scale must be (w, h) with '
                                 f'positive sides, got {eye_scale!r}')
        self.keys = tuple(keys)
        self.eye_scale = eye_scale
        self.to_float32 = to_float32
        self.loader = LoadImageFromFile(
            to_float32=False,
            color_type=color_type,
            imdecode_backend=imdecode_backend,
            backend_args=backend_args)

    def _load(self, path: str) -> np.ndarray:
        return self.loader.transform(dict(img_path=path))['img']

    def transform(self, results: dict) -> dict:
        for key in self.keys:
            if key not in results:
                raise KeyError(
                    f'LoadEyePair: the sample has no {key!r}; it expects a '
                    "patient sample (ODIR5K(sample_unit='patient')).")
        left, right = (self._load(results[key]) for key in self.keys)
        size = self.eye_scale or (left.shape[1], left.shape[0])
        eyes = []
        for eye in (left, right):
            if (eye.shape[1], eye.shape[0]) != size:
                eye = mmcv.imresize(
                    eye,
                    size,
                    interpolation='bilinear',
                    backend='pillow' if eye.dtype == np.uint8 else 'cv2')
            eyes.append(eye)
        img = np.concatenate(eyes, axis=1)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, eye_scale='
                f'{self.eye_scale}, to_float32={self.to_float32}, '
                f'loader={self.loader!r})')


#: ``IMREAD_REDUCED_*`` bits of OpenCV: decode at 1/2, 1/4 or 1/8 scale.
_REDUCED_DECODE_BITS = {2: 16, 4: 32, 8: 64}
#: ``color_type`` values that :class:`LoadReducedImageFromFile` accepts.
REDUCIBLE_COLOR_TYPES = ('color', 'grayscale', 'color_ignore_orientation',
                         'grayscale_ignore_orientation')


def jpeg_reduction(width: int, height: int, min_size: Tuple[int, int],
                   max_reduction: int = 8) -> int:
    """The largest JPEG decoding reduction (8, 4, 2, else 1) after which an
    image of ``width`` x ``height`` still covers ``min_size`` in either
    orientation (libjpeg rounds the scaled sides up).

    Args:
        width (int): Width of the stored image.
        height (int): Height of the stored image.
        min_size (tuple[int, int]): ``(w, h)`` the decoded image must cover.
        max_reduction (int): The largest reduction allowed (1, 2, 4 or 8).
            Defaults to 8.

    Returns:
        int: 1, 2, 4 or 8.
    """
    short, long = sorted((int(width), int(height)))
    min_short, min_long = sorted(min_size)
    for factor in (8, 4, 2):
        if (factor <= max_reduction and -(-short // factor) >= min_short
                and -(-long // factor) >= min_long):
            return factor
    return 1


@TRANSFORMS.register_module()
class LoadReducedImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that decodes JPEGs at 1/2, 1/4 or 1/8 of their
    size when the image then still covers ``min_size``.

    libjpeg can decode a JPEG directly at a reduced scale (OpenCV's
    ``IMREAD_REDUCED_*`` flags), which skips most of the work of decoding a
    large photograph that the next transform shrinks anyway.  The reduction
    is the largest of 8, 4 and 2 for which both sides of the decoded image
    stay at least ``min_size`` (in either orientation), so a following
    ``Resize(scale=min_size)`` still only shrinks.  Images that are not
    JPEGs, or too small to reduce, are decoded like ``LoadImageFromFile``
    does.

    The pixels are close to, not equal to, those of ``LoadImageFromFile``
    followed by the same ``Resize``: see ``docs/image_cache.md`` for the
    measured difference.  Use it only where that deviation is acceptable.

    Required keys: ``img_path``.
    Added keys: ``img``, ``img_shape``, ``ori_shape`` (both the decoded,
    possibly reduced, shape, as ``LoadImageFromFile`` would give for a
    reduced copy of the file) and ``decode_reduction`` (1, 2, 4 or 8).

    Args:
        min_size (int | tuple[int, int]): ``(w, h)`` (or one side of a
            square) that the decoded image must cover: the ``scale`` of the
            ``Resize`` that follows.
        max_reduction (int): The largest reduction to use, 1 (none), 2, 4
            or 8. Defaults to 8.
        **kwargs: The arguments of ``LoadImageFromFile``
            (``to_float32``, ``color_type``, ``ignore_empty``,
            ``backend_args``); ``imdecode_backend`` must be ``'cv2'`` and
            ``color_type`` one of :data:`REDUCIBLE_COLOR_TYPES`.

    Examples:
        >>> pipeline = [
        ...     dict(type='LoadReducedImageFromFile', min_size=224),
        ...     dict(type='Resize', scale=(224, 224), backend='pillow',
        ...          interpolation='bilinear'),
        ...     dict(type='PackInputs')]
    """

    def __init__(self, min_size, max_reduction: int = 8, **kwargs):
        super().__init__(**kwargs)
        if isinstance(min_size, int):
            min_size = (min_size, min_size)
        min_size = tuple(int(v) for v in min_size)
        if len(min_size) != 2 or min(min_size) <= 0:
            raise ValueError('LoadReducedImageFromFile: min_size must be a '
                             'positive side or (w, h), got '
                             f'{min_size!r}.')
        if max_reduction not in (1, 2, 4, 8):
            raise ValueError('LoadReducedImageFromFile: max_reduction must '
                             f'be 1, 2, 4 or 8, got {max_reduction!r}.')
        if self.imdecode_backend != 'cv2':
            raise ValueError(
                'LoadReducedImageFromFile decodes with OpenCV; '
                f"imdecode_backend={self.imdecode_backend!r} is not "
                "supported. Remove it (the default is 'cv2') or use "
                'LoadImageFromFile.')
        if self.color_type not in REDUCIBLE_COLOR_TYPES:
            raise ValueError(
                'LoadReducedImageFromFile: color_type must be one of '
                f'{", ".join(REDUCIBLE_COLOR_TYPES)}, got '
                f'{self.color_type!r}. Use LoadImageFromFile for it.')
        if self.file_client_args is not None:
            raise ValueError(
                'LoadReducedImageFromFile: file_client_args is deprecated '
                'in MMCV; pass backend_args instead.')
        self.min_size = min_size
        self.max_reduction = int(max_reduction)

    def reduction(self, content: bytes) -> int:
        """The reduction for the encoded image ``content`` (1 if it is not
        a JPEG or its header cannot be read)."""
        import io

        from PIL import Image
        try:
            with Image.open(io.BytesIO(content)) as header:
                if header.format != 'JPEG':
                    return 1
                width, height = header.size
        except Exception:  # the decoder below reports broken files
            return 1
        return jpeg_reduction(width, height, self.min_size,
                              self.max_reduction)

    def transform(self, results: dict) -> Optional[dict]:
        import cv2
        from mmcv.image.io import imread_flags
        from mmengine import fileio
        filename = results['img_path']
        try:
            content = fileio.get(filename, backend_args=self.backend_args)
            factor = self.reduction(content)
            if factor == 1:
                img = mmcv.imfrombytes(content, flag=self.color_type,
                                       backend='cv2')
            else:
                flag = (imread_flags[self.color_type]
                        | _REDUCED_DECODE_BITS[factor])
                img = cv2.imdecode(np.frombuffer(content, np.uint8), flag)
        except Exception:
            if self.ignore_empty:
                return None
            raise
        if img is None:
            raise ValueError(f'failed to load image: {filename}')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['decode_reduction'] = factor
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(min_size={self.min_size}, '
                f'max_reduction={self.max_reduction}, '
                f'to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f'ignore_empty={self.ignore_empty}, '
                f'backend_args={self.backend_args})')
