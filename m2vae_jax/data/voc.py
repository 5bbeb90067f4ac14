"""TFDS builder for Pascal VOC 2012 semantic segmentation.

The data come from the official `VOCtrainval_11-May-2012.tar`, either
downloaded by TFDS or read from a local folder (`manual_dir`, our config field
`data.manual_dir`) that holds the tar or its extracted `VOCdevkit/` tree.

Splits:
  train: the 1,464 ids of `ImageSets/Segmentation/train.txt`.
  validation: the 1,449 ids of `ImageSets/Segmentation/val.txt`.
  unlabeled: every JPEG of `JPEGImages/` whose id is not in val.txt (15,676
    in the real tar). It includes the labeled train images: the paper trains
    on the full data set as unlabeled data. It has no masks, so every
    `segmentation_mask` there is all void (255), at the image's size.

Features:
  image: uint8 [h, w, 3], the original JPEG bytes.
  segmentation_mask: uint8 [h, w, 1], PNG, class index 0-20 or 255 (void).
  image_id: the file stem, e.g. '2007_000032'.

Usage:
  builder = voc_builder(data_dir, manual_dir)
  prepare(builder)
  source = builder.as_data_source('train')  # random access (array_record)
"""

import functools
import io
import os

from etils import epath
import numpy as np
from PIL import Image

from m2vae_jax.data import tfds_utils
from m2vae_jax.data.errors import DataError

TAR_NAME = 'VOCtrainval_11-May-2012.tar'
HOMEPAGE = 'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/'
URL = HOMEPAGE + TAR_NAME
# Size and sha256 of the official tar (as registered by TFDS's `voc` data set
# for a mirror of the same file), so a download is verified.
_TAR_SIZE = 1_999_639_040
_TAR_SHA256 = 'e14f763270cf193d0b5f74b169f44157a4b0c6efa708f4dd0ff78ee691763bcb'

CLASS_NAMES = (
    'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
    'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike',
    'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
)
NUM_CLASSES = len(CLASS_NAMES)
VOID_LABEL = 255
_DEFAULT_FILE_FORMAT = 'array_record'

_CITATION = """\
@misc{pascal-voc-2012,
  author = "Everingham, M. and Van~Gool, L. and Williams, C. K. I. and Winn,
    J. and Zisserman, A.",
  title = "The {PASCAL} {V}isual {O}bject {C}lasses {C}hallenge 2012
    {(VOC2012)} {R}esults",
  howpublished = "http://www.pascal-network.org/challenges/VOC/voc2012/
    workshop/index.html"}
"""


def palette() -> np.ndarray:
  """The standard VOC color map, for drawing masks in figures.

  Class i gets its colour from the bits of i: bit 3k+c of i sets bit 7-k of
  channel c (c = r, g, b). Index 255 (void) comes out as (224, 224, 192), the
  cream border of the VOC masks.

  Returns:
    uint8 [256, 3]; row i is the RGB colour of label i.
  """
  labels = np.arange(256)
  cmap = np.zeros((256, 3), np.int64)
  for k in range(8):
    for c in range(3):
      bit = (labels >> (3 * k + c)) & 1
      cmap[:, c] |= bit << (7 - k)
  return cmap.astype(np.uint8)


def _find_voc_root(folder: epath.PathLike) -> epath.Path:
  """The `VOC2012` folder of an extracted tar, checked for the needed parts.

  Args:
    folder: the folder holding `VOCdevkit/`.

  Returns:
    `folder/VOCdevkit/VOC2012`.

  Raises:
    DataError: if a part the builder reads is missing.
  """
  root = epath.Path(folder) / 'VOCdevkit' / 'VOC2012'
  for part in ('JPEGImages', 'SegmentationClass',
               'ImageSets/Segmentation/train.txt',
               'ImageSets/Segmentation/val.txt'):
    if not (root / part).exists():
      raise DataError(f'VOC folder {root} has no {part}; expected the layout '
                      f'of {TAR_NAME}')
  return root


def _read_ids(path: epath.Path) -> list[str]:
  return [line.strip() for line in path.read_text().splitlines()
          if line.strip()]


def _read_mask(path: epath.Path) -> np.ndarray:
  """Class indices of a VOC mask PNG, as uint8 [h, w].

  The PNGs are palette images whose palette index is the class id, so the
  indices are read as they are: converting to RGB would give colours.
  """
  if not path.exists():
    raise DataError(f'VOC mask {path} is missing')
  with Image.open(path) as png:
    if png.mode not in ('P', 'L'):
      raise DataError(f'VOC mask {path} has mode {png.mode}, expected a '
                      'palette (P) PNG of class indices')
    mask = np.asarray(png, dtype=np.uint8)
  bad = (mask >= NUM_CLASSES) & (mask != VOID_LABEL)
  if bad.any():
    raise DataError(f'VOC mask {path} has label {mask[bad].max()}, expected '
                    f'0-{NUM_CLASSES - 1} or {VOID_LABEL}')
  return mask


def _png(mask: np.ndarray) -> bytes:
  """Encodes a uint8 [h, w] mask as a grayscale PNG.

  Grayscale, not palette: TF's PNG decoder would expand a palette to colours.
  """
  buf = io.BytesIO()
  Image.fromarray(mask).save(buf, format='PNG')  # 2-D uint8 -> mode L.
  return buf.getvalue()


@functools.lru_cache(maxsize=1024)
def _void_png(height: int, width: int) -> bytes:
  # VOC has few distinct image sizes, so each void mask is encoded once.
  return _png(np.full((height, width), VOID_LABEL, np.uint8))


tfds = tfds_utils.import_tfds()


class Voc2012Segmentation(tfds.core.GeneratorBasedBuilder):
  """Pascal VOC 2012 segmentation: train, validation and unlabeled splits."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
  Put {TAR_NAME} (from {URL}) or its extracted VOCdevkit/ folder in a folder
  and pass that folder as `manual_dir` (config field `data.manual_dir`).
  """
  # Lets TFDS check the size and sha256 of the download.
  url_infos = {URL: tfds.download.checksums.UrlInfo(
      size=_TAR_SIZE, checksum=_TAR_SHA256, filename=TAR_NAME)}

  def __init__(self, *, manual_dir: epath.PathLike | None = None,
               file_format: str | None = None, **kwargs):
    """Creates the builder.

    Args:
      manual_dir: a folder holding `VOCtrainval_11-May-2012.tar` or its
        extracted `VOCdevkit/`; None downloads the tar (unless
        `download_and_prepare` gets a `DownloadConfig` with a `manual_dir`).
      file_format: record format to write; None means the format of data
        already prepared, else array_record, which gives random access
        (`as_data_source`) but no `as_dataset` in TFDS 4.9.
      **kwargs: `data_dir`, `config`, `version` for `tfds.core.DatasetBuilder`.
    """
    super().__init__(file_format=file_format, **kwargs)
    if file_format is None and not self.info.initialized:
      # Not prepared yet (no dataset_info.json): TFDS would pick tfrecord.
      self.info.set_file_format(_DEFAULT_FILE_FORMAT, override=True)
    self._manual_dir = epath.Path(manual_dir) if manual_dir else None
    # Pickling re-runs __init__ with these (TFDS keeps only its own args).
    self._original_state.update(manual_dir=manual_dir, file_format=file_format)

  @property
  def manual_dir(self) -> epath.Path | None:
    """The local folder the data are read from; None means download."""
    return self._manual_dir

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            'Pascal VOC 2012 semantic segmentation (21 classes, 255 = void). '
            'The unlabeled split holds every trainval image not in the '
            'validation list, with all-void masks.'),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(
                shape=(None, None, 3), encoding_format='jpeg'),
            'segmentation_mask': tfds.features.Image(
                shape=(None, None, 1), encoding_format='png',
                use_colormap=True),
            'image_id': tfds.features.Text(),
        }),
        supervised_keys=('image', 'segmentation_mask'),
        homepage=HOMEPAGE,
        citation=_CITATION,
    )

  def download_and_prepare(self, *, download_config=None, **kwargs):
    """Prepares the data; see `tfds.core.DatasetBuilder.download_and_prepare`.

    A `download_config.manual_dir` is used when the constructor got none, so
    the usual TFDS way of passing a manual folder works too.
    """
    if (self._manual_dir is None and download_config is not None
        and download_config.manual_dir):
      self._manual_dir = epath.Path(download_config.manual_dir)
    super().download_and_prepare(download_config=download_config, **kwargs)

  def _voc_root(self, dl_manager) -> epath.Path:
    """Finds, extracts or downloads the VOC2012 folder."""
    folder = self._manual_dir
    if folder is None:
      return _find_voc_root(dl_manager.download_and_extract(URL))
    if (folder / 'VOCdevkit' / 'VOC2012').is_dir():
      return _find_voc_root(folder)
    if (folder / TAR_NAME).is_file():
      # Extracted once under the download dir; reused on later runs.
      return _find_voc_root(dl_manager.extract(folder / TAR_NAME))
    if not folder.is_dir():
      raise DataError(f'VOC manual_dir {os.fspath(folder)} does not exist; '
                      f'expected a folder holding {TAR_NAME} or VOCdevkit/')
    raise DataError(f'VOC manual_dir {os.fspath(folder)} holds neither '
                    f'{TAR_NAME} nor VOCdevkit/VOC2012/')

  def _split_generators(self, dl_manager):
    root = self._voc_root(dl_manager)
    lists = root / 'ImageSets' / 'Segmentation'
    train_ids = _read_ids(lists / 'train.txt')
    val_ids = _read_ids(lists / 'val.txt')
    val_set = set(val_ids)
    unlabeled_ids = sorted(p.stem for p in (root / 'JPEGImages').glob('*.jpg')
                           if p.stem not in val_set)
    return {
        'train': self._generate_examples(root, train_ids, labeled=True),
        'validation': self._generate_examples(root, val_ids, labeled=True),
        'unlabeled': self._generate_examples(
            root, unlabeled_ids, labeled=False),
    }

  def _generate_examples(self, root, image_ids, labeled):
    for image_id in image_ids:
      image_path = root / 'JPEGImages' / f'{image_id}.jpg'
      if not image_path.exists():
        raise DataError(f'VOC image {image_path} is missing')
      with Image.open(image_path) as jpeg:  # Reads the header only.
        width, height = jpeg.size
        # Keep the JPEG bytes as they are; only a non-RGB JPEG is converted
        # so every stored image has 3 channels.
        image = image_path if jpeg.mode == 'RGB' else np.asarray(
            jpeg.convert('RGB'))
      if labeled:
        mask_path = root / 'SegmentationClass' / f'{image_id}.png'
        mask = _read_mask(mask_path)
        if mask.shape != (height, width):
          raise DataError(f'VOC mask {mask_path} is {mask.shape[1]}x'
                          f'{mask.shape[0]}, its image {width}x{height}')
        mask_png = _png(mask)
      else:
        mask_png = _void_png(height, width)
      yield image_id, {'image': image, 'segmentation_mask': mask_png,
                       'image_id': image_id}


def voc_builder(data_dir: str | None,
                manual_dir: str | None) -> Voc2012Segmentation:
  """The VOC 2012 segmentation builder.

  Args:
    data_dir: TFDS data dir (None: TFDS's default, ~/tensorflow_datasets).
    manual_dir: folder holding the tar or `VOCdevkit/`; None downloads.

  Returns:
    The builder, not yet prepared (see `prepare`).
  """
  return Voc2012Segmentation(data_dir=data_dir, manual_dir=manual_dir)


def prepare(builder: Voc2012Segmentation) -> Voc2012Segmentation:
  """Prepares the builder's data once; later calls reuse them.

  Args:
    builder: from `voc_builder`.

  Returns:
    The same builder, ready for `as_data_source` (`as_dataset` too if it was
    prepared as tfrecord).

  Raises:
    DataError: if `manual_dir` lacks the data, or the download fails.
  """
  try:
    builder.download_and_prepare()
  except (OSError, tfds.download.DownloadError,
          tfds.download.download_manager.NonMatchingChecksumError) as e:
    if builder.manual_dir is not None:
      raise
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else ''
    raise DataError(f'downloading {URL} failed ({type(e).__name__}: '
                    f'{first_line}); download it yourself and set '
                    'data.manual_dir to its folder') from e
  return builder
