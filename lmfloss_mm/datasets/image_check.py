"""Decode one image file the way the pipeline's loading transform does, and
say precisely what is wrong with it.

The verdict uses the loader's own settings: the file is read with the same
file backend and decoded with :func:`mmcv.imfrombytes` with the same
``imdecode_backend`` and ``color_type`` as the pipeline's
``LoadImageFromFile`` (or :class:`~lmfloss_mm.datasets.LoadEyePair`), so
every file the pipeline would fail on is reported.  On top of that, JPEG and
PNG files cut short are reported as ``'truncated'`` even where the decoder
fills in the missing part instead of failing (older OpenCV builds do).

Used by :mod:`lmfloss_mm.datasets.data_check` (the pre-flight check) and by
:class:`~lmfloss_mm.datasets.SplitImageDataset` to name the file and the
reason when a sample fails to load.
"""
import io
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from PIL import Image, ImageFile

from .transforms import LoadEyePair
from .utils import strip_image_extension

#: ``ImageRecord.status`` values; every one but ``'ok'`` is a broken image.
IMAGE_STATUSES = ('ok', 'missing', 'unreadable', 'empty', 'undecodable',
                  'truncated')
#: What each PIL mode is, for the report.
MODE_NAMES = {
    '1': '1-bit',
    'L': 'grey-scale',
    'LA': 'grey-scale + alpha',
    'P': 'palette',
    'PA': 'palette + alpha',
    'RGB': 'RGB',
    'RGBA': 'RGB + alpha',
    'CMYK': 'CMYK',
    'YCbCr': 'YCbCr',
    'I': '32-bit integer grey-scale',
    'I;16': '16-bit grey-scale',
    'F': 'float grey-scale',
}
#: Bytes that close a complete file, after any zero padding.
_END_MARKERS = {'JPEG': b'\xff\xd9', 'PNG': b'IEND\xaeB`\x82'}


class ImageLoadError(OSError):
    """An image of a sample is missing, unreadable, empty or undecodable."""


@dataclass(frozen=True)
class DecodeSpec:
    """How a loading transform reads and decodes a file.

    Args:
        color_type (str): ``flag`` of :func:`mmcv.imfrombytes`.
            Defaults to ``'color'``.
        imdecode_backend (str): ``backend`` of :func:`mmcv.imfrombytes`.
            Defaults to ``'cv2'``.
        backend_args (dict, optional): File backend arguments
            (:func:`mmengine.fileio.get`). Defaults to None.
        file_client_args (dict, optional): The deprecated file client
            arguments of ``LoadImageFromFile``. Defaults to None.
    """
    color_type: str = 'color'
    imdecode_backend: str = 'cv2'
    backend_args: Optional[dict] = field(default=None, hash=False)
    file_client_args: Optional[dict] = field(default=None, hash=False)

    @classmethod
    def from_loader(cls, loader: LoadImageFromFile) -> 'DecodeSpec':
        """The settings of a ``LoadImageFromFile`` instance."""
        return cls(loader.color_type, loader.imdecode_backend,
                   loader.backend_args, loader.file_client_args)

    def read(self, path: str) -> bytes:
        """The file's bytes, read like the loading transform reads them."""
        if self.file_client_args is not None:
            client = fileio.FileClient.infer_client(self.file_client_args,
                                                    path)
            return client.get(path)
        return fileio.get(path, backend_args=self.backend_args)

    def decode(self, data: bytes):
        """``mmcv.imfrombytes`` with the loader's flag and backend."""
        return mmcv.imfrombytes(
            data, flag=self.color_type, backend=self.imdecode_backend)

    def converts(self, mode: str) -> bool:
        """Whether the decoder changes an image stored in PIL ``mode``."""
        if not mode or self.color_type == 'unchanged':
            return False
        target = 'L' if self.color_type.startswith('grayscale') else 'RGB'
        return mode != target

    def describe(self) -> str:
        return f'{self.imdecode_backend}, color_type={self.color_type!r}'


@dataclass
class ImageRecord:
    """The verdict on one image file.

    Attributes:
        path (str): The path as the dataset lists it.
        status (str): One of :data:`IMAGE_STATUSES`.
        reason (str): Why the image is broken (empty when ``'ok'``).
        width (int): Decoded width, 0 if it did not decode.
        height (int): Decoded height, 0 if it did not decode.
        mode (str): PIL mode of the stored image (``'RGB'``, ``'L'``,
            ``'RGBA'``, ``'P'``, ...), empty if unknown.
        file_format (str): PIL's name of the format (``'JPEG'``, ``'PNG'``,
            ...), empty if unknown.
        converted (bool): Whether the decoder converts the stored mode
            (e.g. grey-scale to 3-channel colour, alpha dropped).
    """
    path: str
    status: str
    reason: str = ''
    width: int = 0
    height: int = 0
    mode: str = ''
    file_format: str = ''
    converted: bool = False

    @property
    def broken(self) -> bool:
        return self.status != 'ok'

    @property
    def image_id(self) -> str:
        """File name without folder and image extension."""
        return strip_image_extension(self.path)

    def to_dict(self) -> dict:
        return asdict(self)


def _probe(data: bytes) -> Tuple[str, str]:
    """``(format, mode)`` from the file header, ``('', '')`` if PIL does not
    recognise it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format or '', image.mode
    except Exception:
        return '', ''


def _truncation(data: bytes, file_format: str) -> str:
    """Why a JPEG or PNG file is incomplete, or ``''``.

    A file that ends with its format's end marker is complete.  Otherwise
    (the marker may be followed by other data) PIL decodes the whole file:
    it raises on a file that ends before the image data does.
    """
    marker = _END_MARKERS.get(file_format)
    if marker is None or data[-4096:].rstrip(b'\x00').endswith(marker):
        return ''
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        return ''  # PIL was told to accept cut files: no second opinion
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as error:
        return (f'truncated {file_format} file ({len(data)} bytes, no end '
                f'marker; PIL: {error})')
    return ''


def check_image(path: str, spec: DecodeSpec = DecodeSpec()) -> ImageRecord:
    """Read and decode one image file as the pipeline would.

    Args:
        path (str): The image file.
        spec (DecodeSpec): The loading transform's settings.
            Defaults to ``LoadImageFromFile``'s defaults (cv2, colour).

    Returns:
        ImageRecord: ``'missing'`` (no such file), ``'unreadable'`` (the
        file cannot be read), ``'empty'`` (0 bytes), ``'truncated'`` (a JPEG
        or PNG file cut short, whether or not the decoder copes),
        ``'undecodable'`` (the decoder raises or returns nothing) or
        ``'ok'`` with the decoded size and the stored mode.
    """
    try:
        data = spec.read(path)
    except FileNotFoundError:
        return ImageRecord(path, 'missing', 'no such file')
    except Exception as error:
        return ImageRecord(path, 'unreadable',
                           f'cannot read the file: {type(error).__name__}: '
                           f'{error}')
    if not data:
        return ImageRecord(path, 'empty', 'empty file (0 bytes)')
    file_format, mode = _probe(data)
    backend = spec.imdecode_backend
    try:
        image = spec.decode(data)
        failure = '' if image is not None else f'{backend} returns no image'
    except Exception as error:
        image = None
        message = str(error).strip().splitlines()
        failure = (f'{backend} raises {type(error).__name__}'
                   f'{": " + message[-1] if message else ""}')
    truncation = _truncation(data, file_format)
    if truncation:
        what = failure or (f'{backend} decodes it with the missing part '
                           'filled in')
        return ImageRecord(path, 'truncated', f'{truncation}; {what}',
                           mode=mode, file_format=file_format)
    if image is None:
        kind = (f'{file_format} file' if file_format else
                'not a recognised image format')
        return ImageRecord(path, 'undecodable',
                           f'{failure} ({kind}, {len(data)} bytes)',
                           mode=mode, file_format=file_format)
    return ImageRecord(
        path,
        'ok',
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        mode=mode,
        file_format=file_format,
        converted=spec.converts(mode))


# ------------------------------------------------------------ the pipeline
#: An image loader of a pipeline: the sample keys it reads and how.
ImageLoader = Tuple[Tuple[str, ...], DecodeSpec]
#: Used when a pipeline has no loading transform.
DEFAULT_LOADERS: List[ImageLoader] = [(('img_path', ), DecodeSpec())]


def find_image_loaders(pipeline) -> List[ImageLoader]:
    """The image-loading transforms of a built pipeline.

    Args:
        pipeline: A dataset's ``pipeline`` (an MMEngine ``Compose`` or a
            sequence of transforms).

    Returns:
        list[tuple[tuple[str], DecodeSpec]]: ``(sample keys, decode spec)``
        per ``LoadImageFromFile`` (key ``img_path``) and ``LoadEyePair``
        (its ``keys``); empty if the pipeline has neither.
    """
    transforms = getattr(pipeline, 'transforms', pipeline)
    if not isinstance(transforms, (list, tuple)):
        return []  # e.g. a plain callable: no transform to inspect
    loaders = []
    for transform in transforms:
        if isinstance(transform, LoadEyePair):
            loaders.append(
                (transform.keys, DecodeSpec.from_loader(transform.loader)))
        elif isinstance(transform, LoadImageFromFile):
            loaders.append((('img_path', ),
                            DecodeSpec.from_loader(transform)))
    return loaders


def sample_images(data_info: dict, loaders: Sequence[ImageLoader]
                  ) -> List[Tuple[str, DecodeSpec]]:
    """``(path, spec)`` of every image file one sample loads.

    Args:
        data_info (dict): One entry of the dataset's data list.
        loaders (Sequence): From :func:`find_image_loaders`;
            :data:`DEFAULT_LOADERS` when empty.

    Raises:
        KeyError: If the sample lacks a key that a loader reads.
    """
    images = []
    for keys, spec in loaders or DEFAULT_LOADERS:
        for key in keys:
            if key not in data_info:
                raise KeyError(
                    f'The sample has no {key!r} (keys: {sorted(data_info)}), '
                    'but the pipeline loads it. Use a loading transform '
                    'that matches the dataset (e.g. LoadEyePair for '
                    "ODIR5K(sample_unit='patient')).")
            images.append((data_info[key], spec))
    return images


def broken_images(data_info: dict,
                  loaders: Sequence[ImageLoader]) -> List[ImageRecord]:
    """The broken image files of one sample (see :func:`check_image`)."""
    records = [check_image(path, spec)
               for path, spec in sample_images(data_info, loaders)]
    return [r for r in records if r.broken]


def format_records(records: Sequence[ImageRecord]) -> str:
    """``'<path>: <reason>'``, one per line."""
    return '\n'.join(f'  {r.path}: {r.reason}' for r in records)


def image_paths(data_info: dict, loaders: Sequence[ImageLoader]) -> str:
    """The sample's image paths, comma-separated (for messages)."""
    try:
        return ', '.join(p for p, _ in sample_images(data_info, loaders))
    except KeyError:
        return repr(data_info)


def count_by(records: Sequence[ImageRecord], attribute: str) -> Dict[str,
                                                                     int]:
    """How many records have each value of ``attribute``, most first."""
    counts: Dict[str, int] = {}
    for record in records:
        value = getattr(record, attribute) or '?'
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# --------------------------------------------------------- exclusion files
EXCLUDE_FILE_HEADER = """\
# Images left out of training and evaluation by the datasets' exclude_file=
# argument.  One image per line: its file name (any folder and the image
# extension are ignored, so the image id works too); '#' starts a comment.
"""


def write_exclude_file(path: str,
                       entries: Sequence[Tuple[str, str]],
                       header: str = '') -> None:
    """Write an exclusion list.

    Args:
        path (str): Output file.
        entries (Sequence[tuple[str, str]]): ``(file name or image id,
            comment)`` per image; the comment says why (one line).
        header (str): Extra comment lines at the top (``'#'`` is added).
    """
    lines = [EXCLUDE_FILE_HEADER.rstrip('\n')]
    lines += [f'# {line}' for line in header.splitlines()]
    for name, comment in entries:
        if '#' in name or not name.strip():
            raise ValueError(f'Cannot write image name {name!r} to an '
                             "exclusion list ('#' starts a comment).")
        comment = ' '.join(comment.split())
        lines.append(f'{name}  # {comment}' if comment else name)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def read_exclude_file(path: str) -> List[str]:
    """Image ids of an exclusion list (see :func:`write_exclude_file`), in
    file order, each once.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
    """
    if not path or not osp.isfile(path):
        raise FileNotFoundError(
            f'exclude_file {path!r} is not a file. Write one with '
            'tools/check_data.py CONFIG --write-exclude FILE, or list one '
            'image file name per line.')
    ids: Dict[str, None] = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            name = line.split('#', 1)[0].strip()
            if name:
                ids[strip_image_extension(name)] = None
    return list(ids)
