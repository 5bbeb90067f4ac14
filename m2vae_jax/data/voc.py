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

For training, `load_task_data(config.data)` prepares the builder and holds
every split in memory at the configured size (`load_split_resized`), cached
as .npz files next to the prepared data so later runs load in seconds.
"""

import collections
import concurrent.futures
import functools
import hashlib
import io
import json
import os
import re
import time
import uuid

from absl import logging
from etils import epath
import ml_collections
import numpy as np
from PIL import Image

from m2vae_jax import palettes
from m2vae_jax.data import pipeline
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
VOID_LABEL = pipeline.VOID_LABEL
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
  """The VOC colour map, uint8 [256, 3] (`palettes.voc`)."""
  return palettes.voc()


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
  """Prepares the builder's data once per machine; later calls reuse them.

  Args:
    builder: from `voc_builder`.

  Returns:
    The builder (or, if another process prepared the data meanwhile, a copy
    that has read them), ready for `as_data_source` (`as_dataset` too if it
    was prepared as tfrecord).

  Raises:
    DataError: if `manual_dir` lacks the data, or the download fails.
  """
  try:
    return tfds_utils.prepared(builder)
  except (OSError, tfds.download.DownloadError,
          tfds.download.download_manager.NonMatchingChecksumError) as e:
    if builder.manual_dir is not None:
      raise
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else ''
    raise DataError(f'downloading {URL} failed ({type(e).__name__}: '
                    f'{first_line}); download it yourself and set '
                    'data.manual_dir to its folder') from e


# --- Whole splits in memory, resized -----------------------------------------

# Bumped whenever the resizing changes, so old caches are not reused.
_CACHE_FORMAT = 1
UNLABELED_SPLIT = 'unlabeled'


def resize_example(jpeg: bytes, png: bytes | None,
                   hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
  """Decodes and resizes one example to `hw`, ignoring its aspect ratio.

  Args:
    jpeg: the encoded image.
    png: the encoded class-index mask, or None to skip it.
    hw: target (height, width).

  Returns:
    (uint8 [h, w, 3] image resized bilinearly, antialiased when shrinking;
     uint8 [h, w] mask resized by nearest neighbour, so every output label,
     void included, is one of the input's; None without `png`).
  """
  size = (hw[1], hw[0])  # PIL sizes are (width, height).
  with Image.open(io.BytesIO(jpeg)) as im:
    im = im if im.mode == 'RGB' else im.convert('RGB')
    image = np.asarray(im.resize(size, Image.Resampling.BILINEAR))
  mask = None
  if png is not None:
    with Image.open(io.BytesIO(png)) as m:
      # Mode L (or P): pixel values are class indices, resized as they are.
      mask = np.asarray(m.resize(size, Image.Resampling.NEAREST))
  return image, mask


def _split_signature(builder, split: str, hw: tuple[int, int],
                     labeled: bool) -> dict:
  """What a cache must match: the prepared split and the resizing."""
  info = builder.info.splits[split]
  base = builder.info.splits[split.split('[')[0]]
  return {'format': _CACHE_FORMAT, 'name': builder.name,
          'version': str(builder.version), 'split': split,
          'num_examples': int(info.num_examples),
          'split_bytes': int(base.num_bytes),
          'shard_lengths': [int(x) for x in base.shard_lengths],
          'height': hw[0], 'width': hw[1], 'labeled': labeled}


def _cache_path(cache_dir: str, builder, split: str,
                hw: tuple[int, int]) -> epath.Path:
  name = re.sub(r'[^A-Za-z0-9_.-]+', '-', split)
  if name != split:  # A split slice: keep distinct slices apart.
    name += '-' + hashlib.sha256(split.encode()).hexdigest()[:8]
  return epath.Path(cache_dir) / (
      f'{builder.name}_{builder.version}_{name}_{hw[0]}x{hw[1]}.npz')


def _read_cache(path: epath.Path, signature: dict) -> dict | None:
  """The cached arrays, or None if absent, stale, truncated or corrupt.

  The .npz is an uncompressed zip: a truncated file has no central
  directory, and a corrupt one fails the CRC check zipfile makes as it reads
  each array to its end.
  """
  if not path.exists():
    return None
  n, h, w = signature['num_examples'], signature['height'], signature['width']
  expected = {'image': (n, h, w, 3)}
  if signature['labeled']:
    expected['label'] = (n, h, w)
  try:
    with path.open('rb') as f, np.load(f, allow_pickle=False) as npz:
      found = json.loads(str(npz['signature']))
      if found != signature:
        logging.warning('Ignoring the stale cache %s (made for %s)', path,
                        found)
        return None
      arrays = {k: npz[k] for k in expected}
  except Exception as e:  # pylint: disable=broad-except
    # BadZipFile, KeyError, ValueError, OSError, EOFError, zlib.error, ...:
    # whatever is wrong with the file, it is rebuilt.
    logging.warning('Ignoring the unreadable cache %s (%s: %s)', path,
                    type(e).__name__, e)
    return None
  for k, shape in expected.items():
    if arrays[k].shape != shape or arrays[k].dtype != np.uint8:
      logging.warning('Ignoring the cache %s: %s is %s %s, expected uint8 %s',
                      path, k, arrays[k].dtype, arrays[k].shape, shape)
      return None
  return arrays


def _write_cache(path: epath.Path, arrays: dict, signature: dict) -> None:
  """Writes the cache atomically: a temp file, then a rename over `path`.

  A reader thus sees either no file or a whole one. A failure (e.g. a
  read-only data dir) is logged, not raised: the cache only saves time.
  """
  tmp = path.parent / f'.{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp'
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open('wb') as f:
      np.savez(f, signature=np.array(json.dumps(signature, sort_keys=True)),
               **arrays)
    tmp.replace(path)
  except OSError as e:
    logging.warning('Could not write the cache %s (%s); the next run will '
                    'resize again', path, e)
    try:
      tmp.unlink(missing_ok=True)
    except OSError:
      pass


def _raw_chunks(builder, split: str, chunk: int):
  """Yields (start, fetch) for consecutive chunks of `split`, in order.

  `fetch()` returns the chunk's undecoded examples, each {'image': JPEG
  bytes, 'segmentation_mask': PNG bytes, 'image_id': bytes}. Data prepared
  as array_record (the default) are read by random access through
  `as_data_source`, inside `fetch`, so the workers read in parallel (the
  readers are thread-safe); tfrecord data are read here, through tf.data.
  """
  skip = tfds.decode.SkipDecoding()
  decoders = {'image': skip, 'segmentation_mask': skip}
  if builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD:
    source = builder.as_data_source(split, decoders=decoders)
    for start in range(0, len(source), chunk):
      stop = min(start + chunk, len(source))
      yield start, lambda a=start, b=stop: [source[i] for i in range(a, b)]
  else:
    ds = builder.as_dataset(split, decoders=decoders, shuffle_files=False)
    examples, start = [], 0
    for ex in tfds.as_numpy(ds):
      examples.append(ex)
      if len(examples) == chunk:
        yield start, lambda got=examples: got
        examples, start = [], start + chunk
    if examples:
      yield start, lambda got=examples: got


def _resize_split(builder, split: str, hw: tuple[int, int], labeled: bool,
                  workers: int) -> dict[str, np.ndarray]:
  """Decodes and resizes a whole split in a thread pool."""
  n = builder.info.splits[split].num_examples
  images = np.empty((n, *hw, 3), np.uint8)
  labels = np.empty((n, *hw), np.uint8) if labeled else None

  def resize_chunk(start: int, fetch) -> int:
    examples = fetch()
    if start + len(examples) > n:
      raise DataError(f'VOC split {split} of {builder.data_dir} holds more '
                      f'than the {n} examples its dataset_info.json says; '
                      'delete that folder to prepare it again')
    for i, ex in enumerate(examples, start):
      try:
        image, mask = resize_example(
            ex['image'], ex['segmentation_mask'] if labeled else None, hw)
      except (OSError, ValueError) as e:
        raise DataError(f'VOC {split} example {i} '
                        f'({ex["image_id"].decode()}) cannot be decoded: '
                        f'{e}') from e
      images[i] = image
      if labeled:
        labels[i] = mask
    return len(examples)

  # PIL decodes and resizes outside the GIL, so threads run in parallel. At
  # most 2 * workers chunks are in flight.
  workers = max(1, workers)
  done = 0
  pending = collections.deque()
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    try:
      for start, fetch in _raw_chunks(builder, split, chunk=16):
        pending.append(pool.submit(resize_chunk, start, fetch))
        while len(pending) > 2 * workers:
          done += pending.popleft().result()
      while pending:
        done += pending.popleft().result()
    finally:
      for f in pending:
        f.cancel()
  if done != n:
    raise DataError(f'VOC split {split} of {builder.data_dir} holds {done} '
                    f'examples, its dataset_info.json says {n}; delete that '
                    'folder to prepare it again')
  arrays = {'image': images}
  if labeled:
    arrays['label'] = labels
  return arrays


def load_split_resized(builder, split: str,
                       image_size: int | tuple[int, int], *,
                       cache_dir: str | None, workers: int = 4,
                       labeled: bool | None = None) -> dict[str, np.ndarray]:
  """A whole split in memory, resized to `image_size`.

  Images are resized bilinearly (antialiased), masks by nearest neighbour
  (void stays 255, no new label appears); the aspect ratio is not kept.
  With `cache_dir`, the result is cached there as one .npz per split and
  size, written atomically and checked on reading (a stale, truncated or
  corrupt file is rebuilt), so a later call loads it in seconds.

  Args:
    builder: a prepared VOC builder (see `prepare`).
    split: a split name, e.g. 'train'; TFDS slices ('train[:10]') work too.
    image_size: the target side, or (height, width).
    cache_dir: where the cache lives; None: no cache.
    workers: threads that decode and resize.
    labeled: whether the split has masks; None: every split but
      'unlabeled'.

  Returns:
    {'image': uint8 [n, h, w, 3], 'label': uint8 [n, h, w]} (class ids,
    255 void). For a split without masks, `label` is a read-only all-void
    broadcast view that costs no memory; indexing it gives real arrays.
  """
  hw = pipeline.image_hw(image_size)
  if labeled is None:
    labeled = split.split('[')[0] != UNLABELED_SPLIT
  try:
    signature = _split_signature(builder, split, hw, labeled)
  except (KeyError, ValueError):  # TFDS raises ValueError today.
    raise DataError(f'VOC has no split {split!r}; its splits are '
                    f'{sorted(builder.info.splits)}') from None
  start = time.perf_counter()
  path = (_cache_path(cache_dir, builder, split, hw)
          if cache_dir is not None else None)
  arrays = _read_cache(path, signature) if path is not None else None
  if arrays is not None:
    logging.info('VOC %s: %d images at %dx%d loaded from %s in %.1f s', split,
                 signature['num_examples'], *hw, path,
                 time.perf_counter() - start)
  else:
    arrays = _resize_split(builder, split, hw, labeled, workers)
    logging.info('VOC %s: %d images resized to %dx%d in %.1f s', split,
                 signature['num_examples'], *hw, time.perf_counter() - start)
    if path is not None:
      _write_cache(path, arrays, signature)
  if not labeled:
    arrays['label'] = np.broadcast_to(
        np.uint8(VOID_LABEL), arrays['image'].shape[:3])
  return arrays


def default_cache_dir(builder) -> str:
  """Where resized splits are cached: beside the prepared data, so they go
  when the data set's folder is deleted to prepare it again."""
  return os.fspath(epath.Path(builder.data_dir) / 'resized')


def load_task_data(cfg: ml_collections.ConfigDict) -> pipeline.TaskData:
  """VOC 2012 for the trainer, every split at `cfg.image_size`.

  Args:
    cfg: the `config.data` block: `manual_dir` ('' downloads),
      `tfds_data_dir` ('' is TFDS's default), `image_size`, `train_split`,
      `eval_split`, `unlabeled_split` ('' uses the train split's images),
      optionally `workers` (resizing threads; 0 or absent: up to 8, one per
      core).

  Returns:
    The TaskData: 21 classes, masks with 255 for void.
  """
  builder = prepare(voc_builder(cfg.tfds_data_dir or None,
                                cfg.manual_dir or None))
  workers = pipeline.build_threads(cfg.get('workers', 0))
  load = functools.partial(load_split_resized, builder,
                           image_size=cfg.image_size,
                           cache_dir=default_cache_dir(builder),
                           workers=workers)
  train = load(cfg.train_split)
  unlabeled = None
  if cfg.unlabeled_split == cfg.train_split:
    unlabeled = {'image': train['image']}
  elif cfg.unlabeled_split:
    unlabeled = {'image': load(cfg.unlabeled_split)['image']}
  return pipeline.TaskData(
      train=train, eval=load(cfg.eval_split), num_classes=NUM_CLASSES,
      eval_split=cfg.eval_split, unlabeled=unlabeled)
