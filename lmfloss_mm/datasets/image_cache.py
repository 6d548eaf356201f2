"""Images prepared once, read fast every epoch: an on-disk cache of the first
transforms of a dataset's pipeline.

The official recipes decode every full-size JPEG in every epoch and then
shrink it to 224 x 224.  An image cache stores the shrunk images instead;
``tools/prepare_image_cache.py`` builds it (:mod:`.image_cache_build`) and
the project's datasets read it with ``image_cache=dict(root=...)``
(:class:`~lmfloss_mm.datasets.SplitImageDataset`).  A cache is one of two
kinds:

* **exact** (the default): the output of the pipeline's loading transform
  (``LoadImageFromFile`` or :class:`LoadReducedImageFromFile`) and of the
  deterministic transforms right after it (``Resize``, ``ResizeEdge``,
  ``CenterCrop``), with every result key they set (``img_shape``,
  ``ori_shape``, ``scale_factor``...).  The dataset skips those transforms
  and runs the rest of the pipeline on the stored results, so every sample
  equals the one made without the cache, tensor and meta information.
* **short side** (``short_side=S``): the decoded image with its shorter side
  reduced to ``S`` pixels (Pillow bilinear, aspect ratio kept; images whose
  shorter side is at most ``S`` are stored as decoded); only the loading
  transform is skipped, and ``img_shape`` = ``ori_shape`` = the stored
  shape, as if the files themselves were smaller.  For pipelines that begin
  with a random crop.  The samples are *not* those of the full-size images:
  the crop sees a smaller image.

Both store the arrays losslessly, as PNG (``file_format='png'``; uint8 or
uint16 with 1, 3 or 4 channels) or as NumPy ``.npy`` files
(``file_format='npy'``; any numeric array, larger files, faster to read).

Layout of a cache folder::

    <root>/manifest.json                       written last by the builder
    <root>/images/<source path relative to the data root>.<png|npy>
    <root>/external/<hash>/<file name>.<png|npy>     sources elsewhere

The manifest records how the images were made (the cached transforms with
all their parameters, ``short_side``, the file format), the sha256 of the
annotation file(s), the versions of OpenCV, Pillow and MMCV, and per image
the source's size and modification time (and its sha256 when built with
``--hash``), the stored file's size and the stored results.  A dataset
checks all of it when it loads (one ``os.stat`` per source and per stored
file) and raises :class:`ImageCacheError`, naming what is stale and the
command that fixes it, instead of reading a stale or partial cache.
Datasets only read a cache; the builder writes every file atomically and
the manifest last.
"""
import hashlib
import io
import json
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import CenterCrop, LoadImageFromFile, Resize
from mmengine.logging import print_log
from mmpretrain.datasets.transforms import ResizeEdge

from lmfloss_mm.fileio import load_json
from .transforms import LoadReducedImageFromFile
from .utils import list_some

#: Name of the manifest file in a cache folder.
MANIFEST_NAME = 'manifest.json'
#: Version of the cache layout; other versions are rebuilt.
FORMAT_VERSION = 1
#: Accepted ``file_format`` values.
FILE_FORMATS = ('png', 'npy')
#: Accepted ``verify`` values.
VERIFY_MODES = ('stat', 'hash')
#: Keys of the ``image_cache`` dataset option.
OPTION_KEYS = ('root', 'short_side', 'file_format', 'verify')
#: Loading transforms whose output can be cached (exact classes).
CACHEABLE_LOADERS = (LoadImageFromFile, LoadReducedImageFromFile)
#: Transforms that always give the same output for the same input (exact
#: classes): an exact cache stores them when they follow the loader.
DETERMINISTIC_TRANSFORMS = (Resize, ResizeEdge, CenterCrop)
#: How a short-side cache shrinks the images (``mmcv.imresize`` arguments).
SHORT_SIDE_RESIZE = dict(backend='pillow', interpolation='bilinear')
#: Data-list key of the stored file (relative to the cache root).
FILE_KEY = 'image_cache_file'
#: Data-list key of the stored results of the cached transforms.
RESULTS_KEY = 'image_cache_results'
#: The command that builds or updates a cache.
REBUILD_HINT = ('Build or update it with `python tools/prepare_image_cache.py '
                'CONFIG` (it re-encodes only the images that changed).')


class ImageCacheError(RuntimeError):
    """An image cache is missing, incomplete or stale, or a file in it cannot
    be read; the message names the problem and the fix."""


# ------------------------------------------------------------- transforms
def cached_transforms(pipeline, short_side: Optional[int] = None) -> list:
    """The leading transforms of ``pipeline`` that a cache replaces.

    Args:
        pipeline: A built pipeline (MMEngine ``Compose``) or a sequence of
            transforms.
        short_side (int, optional): None for an exact cache (the loader and
            the :data:`DETERMINISTIC_TRANSFORMS` right after it), else a
            short-side cache (the loader only).

    Returns:
        list: The transforms, in pipeline order.

    Raises:
        ValueError: If the pipeline does not start with a
            :data:`CACHEABLE_LOADERS` transform, or (exact cache) nothing
            deterministic follows it, so the cache would hold full-size
            images.
    """
    transforms = list(getattr(pipeline, 'transforms', pipeline) or [])
    if not transforms or type(transforms[0]) not in CACHEABLE_LOADERS:
        first = type(transforms[0]).__name__ if transforms else 'nothing'
        raise ValueError(
            'image_cache stores the output of the pipeline\'s loading '
            'transform, so the pipeline must start with LoadImageFromFile '
            f'or LoadReducedImageFromFile, but it starts with {first}. Put '
            'the loader first or remove image_cache.')
    if short_side is not None:
        return transforms[:1]
    count = 1
    while (count < len(transforms)
           and type(transforms[count]) in DETERMINISTIC_TRANSFORMS):
        count += 1
    if count == 1:
        after = (type(transforms[1]).__name__
                 if len(transforms) > 1 else 'nothing')
        raise ValueError(
            'An exact image cache stores the loader\'s output and the '
            'transforms after it that always give the same result '
            f'({", ".join(t.__name__ for t in DETERMINISTIC_TRANSFORMS)}), '
            f'but the loader is followed by {after}, so the cache would '
            'hold the full-size images. For a pipeline that starts with a '
            "random crop set image_cache=dict(root=..., short_side=S) "
            '(images reduced to a shorter side S; the samples then differ '
            'from full-size ones), or use cache_images=True.')
    return transforms[:count]


def _plain(value):
    """``value`` as JSON data (tuples as lists; unknown objects as repr)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def transform_spec(transform) -> dict:
    """A transform as JSON data: its class (module and name) and every
    public attribute (its parameters)."""
    cls = type(transform)
    spec = {'type': f'{cls.__module__}.{cls.__qualname__}'}
    for key, value in sorted(vars(transform).items()):
        if not key.startswith('_'):
            spec[key] = _plain(value)
    return spec


def encode_results(results: dict) -> dict:
    """The result keys of the cached transforms as JSON data: scalars and
    (nested) tuples, stored as lists.

    Raises:
        ValueError: If a value is of another type (it could not be restored
            exactly).
    """
    stored = {}
    for key, value in results.items():
        if not _storable(value):
            raise ValueError(
                f'The cached transforms set {key!r} to a {type(value)} '
                f'({value!r}), which the image cache cannot store exactly '
                '(it stores numbers, strings, None and tuples of them). '
                'Move that transform after the cached ones or remove '
                'image_cache.')
        stored[key] = _plain(value)
    return stored


def _storable(value) -> bool:
    if isinstance(value, tuple):
        return all(_storable(v) for v in value)
    return value is None or isinstance(
        value, (bool, int, float, str, np.bool_, np.integer, np.floating))


def decode_value(value):
    """Inverse of the encoding of :func:`encode_results` (lists become
    tuples)."""
    if isinstance(value, list):
        return tuple(decode_value(v) for v in value)
    return value


def shrink_to_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    """``image`` with its shorter side reduced to ``short_side`` (longer side
    rounded half up), aspect ratio kept; returned unchanged if its shorter
    side is at most ``short_side``."""
    import mmcv
    height, width = image.shape[:2]
    if min(height, width) <= short_side:
        return image
    if height <= width:
        size = (int(width * short_side / height + 0.5), short_side)
    else:
        size = (short_side, int(height * short_side / width + 0.5))
    return mmcv.imresize(image, size, **SHORT_SIDE_RESIZE)


# --------------------------------------------------------------- files
def sha256_of(path: str) -> str:
    """The sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def source_stat(path: str) -> dict:
    """``{'size', 'mtime_ns'}`` of a file (symbolic links followed)."""
    stat = os.stat(path)
    return dict(size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def source_key(path: str, data_root: str) -> str:
    """The manifest key of a file: its path relative to ``data_root`` with
    ``/`` separators, or its absolute path when it lies elsewhere."""
    absolute = osp.abspath(path)
    if data_root:
        relative = osp.relpath(absolute, osp.abspath(data_root))
        if not relative.startswith(os.pardir):
            return relative.replace(os.sep, '/')
    return absolute


def encode_array(array: np.ndarray, file_format: str) -> bytes:
    """The lossless encoding of ``array`` as PNG or ``.npy`` bytes.

    Raises:
        ValueError: If PNG cannot hold the array (dtype other than uint8 or
            uint16, or not 1, 3 or 4 channels).
    """
    if file_format == 'npy':
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        return buffer.getvalue()
    channels = 1 if array.ndim == 2 else array.shape[-1]
    if array.dtype not in (np.uint8, np.uint16) or array.ndim not in (
            2, 3) or (array.ndim == 3 and channels not in (3, 4)):
        raise ValueError(
            f'PNG cannot store a {array.dtype} image of shape {array.shape} '
            'exactly (it stores uint8/uint16 images with 1, 3 or 4 '
            "channels). Use file_format='npy', or to_float32=False in the "
            'loading transform.')
    import cv2
    ok, encoded = cv2.imencode('.png', array)
    if not ok:
        raise ValueError(f'OpenCV could not encode a {array.dtype} image of '
                         f'shape {array.shape} as PNG.')
    return encoded.tobytes()


def read_array(path: str) -> np.ndarray:
    """The array stored in a cache file (``.npy``: never unpickled).

    Raises:
        ImageCacheError: If the file is missing or cannot be decoded.
    """
    try:
        if path.endswith('.npy'):
            return np.load(path, allow_pickle=False)
        import cv2
        array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if array is None:
            raise ValueError('OpenCV cannot decode it')
        return array
    except Exception as error:
        raise ImageCacheError(
            f'Cannot read the cached image {path} ({error}). The cache is '
            f'damaged: {REBUILD_HINT}') from error


def annotation_files(source: str) -> List[str]:
    """The annotation file(s) of an ``AnnotationTable.source`` (one path, or
    several joined by ``' + '``).

    Raises:
        ValueError: If no file of ``source`` exists.
    """
    if osp.isfile(source):
        return [source]
    files = [part for part in source.split(' + ') if osp.isfile(part)]
    if not files:
        raise ValueError(
            f'image_cache: cannot find the annotation file(s) {source!r} '
            'that the cache must be checked against.')
    return files


def environment() -> dict:
    """Versions of the libraries that make the cached pixels."""
    import cv2
    import mmcv
    import PIL
    return dict(opencv=cv2.__version__, pillow=PIL.__version__,
                mmcv=mmcv.__version__)


def entry_problem(root: str, entry: dict, source: str, expected_file: str,
                  check_hash: bool = False) -> Optional[str]:
    """Why the manifest ``entry`` of ``source`` cannot be used (None if it
    can).

    Args:
        root (str): The cache folder.
        entry (dict): The image's manifest entry.
        source (str): The source image file.
        expected_file (str): Where the layout stores the image
            (:meth:`ImageCache.cache_file`); an entry naming another file
            is not used.
        check_hash (bool): Also compare the source's sha256 (reads the
            file). Defaults to False.
    """
    if entry.get('file') != expected_file:
        return 'stored file not where the cache layout puts it'
    try:
        stat = source_stat(source)
    except OSError:
        return 'source image missing'
    if stat != {k: entry['source'][k] for k in ('size', 'mtime_ns')}:
        return 'source image changed (size or modification time)'
    if check_hash:
        if 'sha256' not in entry['source']:
            return "no recorded sha256 (built without --hash; verify='hash')"
        if sha256_of(source) != entry['source']['sha256']:
            return 'source image changed (content)'
    try:
        size = os.stat(osp.join(root, entry['file'])).st_size
    except OSError:
        return 'cached file missing'
    if size != entry['file_size']:
        return 'cached file damaged (size differs from the manifest)'
    return None


def format_problems(problems: Dict[str, List[str]]) -> str:
    """``reason: count (first names)`` lines."""
    return '\n'.join(f'  {reason}: {len(keys)} ({list_some(keys)})'
                     for reason, keys in problems.items())


# ---------------------------------------------------------------- cache
class ImageCache:
    """An image cache folder, as a dataset option
    (``image_cache=dict(root=..., ...)``).

    Args:
        root (str): The cache folder.
        short_side (int, optional): None (default) for an exact cache, else
            the shorter side of the stored images (short-side cache, see
            the module documentation).
        file_format (str): ``'png'`` or ``'npy'``: how the builder stores
            the images (a dataset requires the cache to have this format).
            Defaults to ``'png'``.
        verify (str): What a dataset compares before it uses the cache:
            ``'stat'`` (size and modification time of every source and
            stored file) or ``'hash'`` (also the sha256 of every source,
            which reads every source file; needs a cache built with
            ``--hash``). Defaults to ``'stat'``.
    """

    def __init__(self,
                 root: str,
                 short_side: Optional[int] = None,
                 file_format: str = 'png',
                 verify: str = 'stat'):
        if not root or not isinstance(root, str):
            raise ValueError('image_cache needs root=<cache folder>, got '
                             f'{root!r}.')
        if short_side is not None and (isinstance(short_side, bool)
                                       or not isinstance(short_side, int)
                                       or short_side <= 0):
            raise ValueError('image_cache: short_side must be a positive '
                             f'int or None, got {short_side!r}.')
        if file_format not in FILE_FORMATS:
            raise ValueError(f'image_cache: file_format must be one of '
                             f'{FILE_FORMATS}, got {file_format!r}.')
        if verify not in VERIFY_MODES:
            raise ValueError(f'image_cache: verify must be one of '
                             f'{VERIFY_MODES}, got {verify!r}.')
        self.root = root
        self.short_side = short_side
        self.file_format = file_format
        self.verify = verify
        #: How many leading transforms the cache replaces (set by
        #: :meth:`attach`).
        self.num_transforms = 0

    @classmethod
    def from_option(cls, option, data_root: str = '') -> Optional[
            'ImageCache']:
        """The cache of a dataset's ``image_cache`` argument.

        Args:
            option (dict | None): ``dict(root=..., short_side=...,
                file_format=..., verify=...)``; a relative ``root`` is
                relative to ``data_root``.  None: no cache.
            data_root (str): The dataset's data root.

        Raises:
            TypeError | ValueError: For another type or unknown keys.
        """
        if option is None:
            return None
        if not isinstance(option, dict):
            raise TypeError(
                'image_cache must be a dict such as '
                f"dict(root='cache/224px') or None, got {option!r}.")
        unknown = sorted(set(option) - set(OPTION_KEYS))
        if unknown:
            raise ValueError(f'image_cache: unknown key(s) {unknown}; the '
                             f'keys are {", ".join(OPTION_KEYS)}.')
        option = dict(option)
        root = option.pop('root', '')
        if root and not osp.isabs(root) and data_root:
            root = osp.join(data_root, root)
        return cls(root, **option)

    @property
    def manifest_path(self) -> str:
        return osp.join(self.root, MANIFEST_NAME)

    def describe(self) -> str:
        """One line for dataset reprs and logs."""
        kind = ('exact' if self.short_side is None else
                f'shorter side {self.short_side} px')
        return f'{self.root} ({kind}, {self.file_format})'

    def settings(self, transforms: Sequence) -> dict:
        """What makes the stored images, as recorded in the manifest."""
        return json.loads(json.dumps(dict(
            transforms=[transform_spec(t) for t in transforms],
            short_side=self.short_side,
            short_side_resize=(SHORT_SIDE_RESIZE
                               if self.short_side is not None else None),
            file_format=self.file_format)))

    def cache_file(self, key: str) -> str:
        """Where the image of manifest key ``key`` is stored (relative to
        the root)."""
        suffix = f'.{self.file_format}'
        if osp.isabs(key):
            digest = hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]
            return f'external/{digest}/{osp.basename(key)}{suffix}'
        return f'images/{key}{suffix}'

    def read_manifest(self) -> dict:
        """The manifest.

        Raises:
            ImageCacheError: If it is missing, unreadable or of another
                format version.
        """
        if not osp.isfile(self.manifest_path):
            raise ImageCacheError(
                f'No complete image cache in {self.root}: {MANIFEST_NAME} '
                'is missing (the cache was never built, or a build did not '
                f'finish). {REBUILD_HINT}')
        try:
            manifest = load_json(self.manifest_path)
        except (OSError, ValueError) as error:
            raise ImageCacheError(
                f'Cannot read {self.manifest_path} ({error}). '
                f'{REBUILD_HINT}') from error
        if manifest.get('format_version') != FORMAT_VERSION:
            raise ImageCacheError(
                f'{self.manifest_path} has format version '
                f'{manifest.get("format_version")!r}; this version of '
                f'lmfloss_mm reads version {FORMAT_VERSION}. {REBUILD_HINT}')
        return manifest

    # ------------------------------------------------------ dataset side
    def attach(self, data_list: List[dict], pipeline, data_root: str,
               annotation_source: str, dataset_name: str = '') -> None:
        """Check the cache against a dataset and point every sample at its
        stored image (``image_cache_file``, ``image_cache_results``).

        Args:
            data_list (list[dict]): The dataset's samples (``img_path``),
                updated in place.
            pipeline: The dataset's pipeline.
            data_root (str): The dataset's data root.
            annotation_source (str): The annotation file(s) the dataset
                read (``AnnotationTable.source``).
            dataset_name (str): For messages.

        Raises:
            ImageCacheError: If the manifest is missing, the cache was made
                by other transforms or parameters, from other annotations,
                or an image is not cached or stale.
        """
        name = f'{dataset_name}: ' if dataset_name else ''
        transforms = cached_transforms(pipeline, self.short_side)
        manifest = self.read_manifest()
        settings = self.settings(transforms)
        if manifest['settings'] != settings:
            raise ImageCacheError(
                f'{name}the image cache in {self.root} was made by other '
                f'transforms or settings.\n  cache:    '
                f'{json.dumps(manifest["settings"], sort_keys=True)}\n  '
                f'pipeline: {json.dumps(settings, sort_keys=True)}\n'
                f'{REBUILD_HINT} Use another root to keep both.')
        self._check_annotations(manifest, annotation_source, data_root, name)
        self._check_environment(manifest, name)
        entries = manifest['images']
        problems = defaultdict(list)
        located = []
        for info in data_list:
            key = source_key(info['img_path'], data_root)
            entry = entries.get(key)
            problem = ('not in the cache' if entry is None else entry_problem(
                self.root, entry, info['img_path'], self.cache_file(key),
                self.verify == 'hash'))
            if problem:
                problems[problem].append(key)
            else:
                located.append((info, entry))
        if problems:
            raise ImageCacheError(
                f'{name}the image cache in {self.root} does not match '
                f'{sum(map(len, problems.values()))} of the '
                f'{len(data_list)} images:\n{format_problems(problems)}\n'
                f'{REBUILD_HINT}')
        for info, entry in located:
            info[FILE_KEY] = entry['file']
            info[RESULTS_KEY] = {
                k: decode_value(v) for k, v in entry['results'].items()}
        self.num_transforms = len(transforms)

    def _check_annotations(self, manifest: dict, annotation_source: str,
                           data_root: str, name: str) -> None:
        recorded = manifest.get('annotation_files', {})
        for path in annotation_files(annotation_source):
            key = source_key(path, data_root)
            if key not in recorded:
                raise ImageCacheError(
                    f'{name}the image cache in {self.root} was not built '
                    f'for the annotation file {path} (it records '
                    f'{sorted(recorded) or "none"}). {REBUILD_HINT}')
            if sha256_of(path) != recorded[key]:
                raise ImageCacheError(
                    f'{name}the annotation file {path} changed after the '
                    f'image cache in {self.root} was built. {REBUILD_HINT}')

    def _check_environment(self, manifest: dict, name: str) -> None:
        built, now = manifest.get('environment', {}), environment()
        changed = {k: (built.get(k), v) for k, v in now.items()
                   if built.get(k) != v}
        if changed:
            print_log(
                f'{name}the image cache in {self.root} was built with other '
                f'library versions (built, now): {changed}. It holds the '
                'pixels that those versions computed; run '
                '`python tools/prepare_image_cache.py CONFIG --force` to '
                'store what this environment computes.',
                logger='current', level='WARNING')

    def load(self, info: dict) -> dict:
        """The results of the cached transforms for a sample of an attached
        data list: a copy of ``info`` with the stored image (``img``) and
        result keys, without the cache keys.

        Raises:
            ImageCacheError: If the stored file cannot be read or has
                another shape than recorded.
        """
        results = dict(info)
        path = osp.join(self.root, results.pop(FILE_KEY))
        stored = results.pop(RESULTS_KEY)
        image = read_array(path)
        if 'img_shape' in stored and image.shape[:2] != stored['img_shape']:
            raise ImageCacheError(
                f'The cached image {path} is {image.shape[:2]}, the manifest '
                f'says {stored["img_shape"]}. The cache is damaged: '
                f'{REBUILD_HINT}')
        results.update(stored)
        results['img'] = image
        return results
