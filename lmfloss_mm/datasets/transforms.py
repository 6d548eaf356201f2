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
