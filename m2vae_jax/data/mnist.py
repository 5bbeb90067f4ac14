"""MNIST through TFDS: the registered `mnist` data set or a local IDX folder.

With `idx_dir` unset, TFDS `mnist` is used (downloaded on first use on a
machine with internet). With `idx_dir` set, the `mnist_idx` builder below
prepares a TFDS data set from the four IDX files in that folder and nothing
is downloaded:

  train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]  -> split 'train'
  t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]   -> split 'test'

Both give the same features: `image` uint8 [28, 28, 1] and `label` int64.
"""

import glob
import gzip
import os
import socket

import numpy as np

from m2vae_jax.data import tfds_utils
from m2vae_jax.data.errors import DataError

IMAGES_MAGIC = 2051  # IDX: unsigned byte, 3 dimensions.
LABELS_MAGIC = 2049  # IDX: unsigned byte, 1 dimension.
IDX_PREFIXES = {'train': 'train', 'test': 't10k'}
NUM_CLASSES = 10
# Where TFDS `mnist` downloads from, checked before the download starts:
# without a network TFDS retries for minutes and ends in a long traceback.
DOWNLOAD_HOST = ('storage.googleapis.com', 443)
OFFLINE_HINT = ('pass --config.data.idx_dir=DIR, a folder holding the four '
                'MNIST IDX files (train-images-idx3-ubyte, '
                'train-labels-idx1-ubyte, t10k-images-idx3-ubyte, '
                't10k-labels-idx1-ubyte, .gz or not)')


def read_idx(path: str, magic: int) -> np.ndarray:
  """Reads an IDX file (optionally gzipped) of unsigned bytes.

  Args:
    path: file path.
    magic: the expected magic number (2051 images, 2049 labels).

  Returns:
    uint8 array with the shape stored in the header.

  Raises:
    DataError: on a wrong magic number or a size that does not match the
      header (a truncated or corrupt file).
  """
  opener = gzip.open if path.endswith('.gz') else open
  try:
    with opener(path, 'rb') as f:
      data = f.read()
  except (OSError, EOFError) as e:  # gzip raises these when truncated.
    raise DataError(f'cannot read IDX file {path}: {e}') from None
  if len(data) < 4:
    raise DataError(f'IDX file {path} is truncated ({len(data)} bytes)')
  found = int.from_bytes(data[:4], 'big')
  if found != magic:
    raise DataError(f'IDX file {path} has magic number {found}, '
                    f'expected {magic}')
  ndim = magic & 0xFF
  header = 4 + 4 * ndim
  if len(data) < header:
    raise DataError(f'IDX file {path} is truncated inside its header')
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
                for i in range(ndim))
  expected = int(np.prod(shape))
  if len(data) - header != expected:
    raise DataError(f'IDX file {path} holds {len(data) - header} bytes of '
                    f'data but its header {shape} says {expected}: the file '
                    'is truncated or corrupt')
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def idx_files(idx_dir: str) -> dict[str, tuple[str, str]]:
  """Finds the image and label files of each split in an IDX folder.

  Returns:
    split -> (images path, labels path).

  Raises:
    DataError: if the folder or one of the four files is missing.
  """
  if not os.path.isdir(idx_dir):
    raise DataError(f'data.idx_dir={idx_dir!r} is not a folder')
  files = {}
  for split, prefix in IDX_PREFIXES.items():
    pair = []
    for kind, ndim in (('images', 3), ('labels', 1)):
      pattern = os.path.join(idx_dir, f'{prefix}-{kind}-idx{ndim}-ubyte*')
      found = sorted(glob.glob(pattern))
      if not found:
        raise DataError(f'data.idx_dir={idx_dir!r} has no {prefix}-{kind}-'
                        f'idx{ndim}-ubyte[.gz] file')
      pair.append(found[0])
    files[split] = tuple(pair)
  return files


def read_idx_split(images_path: str, labels_path: str):
  """Reads and checks one split: images [n, 28, 28, 1], labels [n]."""
  images = read_idx(images_path, IMAGES_MAGIC)
  labels = read_idx(labels_path, LABELS_MAGIC)
  if images.shape[0] != labels.shape[0]:
    raise DataError(f'{images_path} holds {images.shape[0]} images but '
                    f'{labels_path} holds {labels.shape[0]} labels')
  if labels.size and labels.max() >= NUM_CLASSES:
    raise DataError(f'{labels_path} has label {labels.max()}, expected 0-9')
  return images[..., None], labels


def loader_indices(loader_images: np.ndarray, file_images: np.ndarray,
                   file_indices) -> np.ndarray:
  """Where the examples at `file_indices` of an IDX file sit in the loaded
  split, matched by their pixels.

  TFDS stores a split in its own fixed order (sorted by a hash of each
  example's key), so a position in the IDX file, as a published split gives
  it, is not a position in the arrays the trainer indexes.

  Args:
    loader_images: uint8 [n, 28, 28, 1], the split as `load_split` returns it.
    file_images: uint8 [n, 28, 28, 1], the same split in the file's order.
    file_indices: int [k], positions in the file.

  Returns:
    int [k]: the loaded split's positions of those examples, in their order.

  Raises:
    DataError: if an index is out of range, or its image is missing from the
      loaded split or held there twice (no unique answer).
  """
  file_indices = np.asarray(file_indices, dtype=np.int64).reshape(-1)
  bad = file_indices[(file_indices < 0) | (file_indices >= len(file_images))]
  if bad.size:
    raise DataError(f'file index {int(bad[0])} is not in 0-'
                    f'{len(file_images) - 1}')
  wanted: dict[bytes, list[int]] = {}
  for i in np.unique(file_indices).tolist():
    wanted.setdefault(file_images[i].tobytes(), []).append(i)
  found: dict[int, list[int]] = {}
  for position, image in enumerate(loader_images):
    for index in wanted.get(image.tobytes(), ()):
      found.setdefault(index, []).append(position)
  for index in file_indices.tolist():
    positions = found.get(index, [])
    if not positions:
      raise DataError(f'the image at file index {index} is not in the '
                      'loaded split: the files are not the ones it was '
                      'loaded from')
    if len(positions) > 1:
      raise DataError(f'the image at file index {index} is in the loaded '
                      f'split {len(positions)} times, at {positions}: its '
                      'position is ambiguous')
  return np.array([found[i][0] for i in file_indices.tolist()], np.int64)


tfds = tfds_utils.import_tfds()


class MnistIdxConfig(tfds.core.BuilderConfig):
  """One IDX folder; the config name is a hash of the files' contents."""

  def __init__(self, *, idx_dir: str, **kwargs):
    super().__init__(**kwargs)
    self.idx_dir = idx_dir


class MnistIdx(tfds.core.GeneratorBasedBuilder):
  """MNIST-format data from a local folder of IDX files."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = []

  def _info(self):
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(28, 28, 1)),
            'label': tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }),
        supervised_keys=('image', 'label'),
        description='MNIST-format IDX files from a local folder.')

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing is downloaded.
    files = idx_files(self.builder_config.idx_dir)
    return {split: self._generate_examples(*paths)
            for split, paths in files.items()}

  def _generate_examples(self, images_path, labels_path):
    images, labels = read_idx_split(images_path, labels_path)
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image, 'label': int(label)}


def idx_builder(idx_dir: str, data_dir: str | None = None):
  """The TFDS builder of an IDX folder, checked before anything is written.

  Every file is read and validated first, so a bad file stops the run with
  one line naming it and never leaves a half-prepared data set behind.
  """
  files = idx_files(idx_dir)
  for paths in files.values():
    read_idx_split(*paths)
  digest = tfds_utils.file_digest([p for ps in files.values() for p in ps])
  config = MnistIdxConfig(name=f'd{digest}', idx_dir=os.path.abspath(idx_dir))
  return MnistIdx(config=config, data_dir=data_dir)


def check_download_reachable(data_dir: str, timeout_s: float = 10.0) -> None:
  """Raises DataError, one line saying what to do, when TFDS cannot reach
  the MNIST download."""
  try:
    socket.create_connection(DOWNLOAD_HOST, timeout=timeout_s).close()
  except OSError as e:
    raise DataError(
        f'MNIST is not prepared in {data_dir} and cannot be downloaded '
        f'({DOWNLOAD_HOST[0]} unreachable: {e}); without internet, '
        f'{OFFLINE_HINT}') from None


def load_split(split: str, *, idx_dir: str | None = None,
               data_dir: str | None = None) -> dict[str, np.ndarray]:
  """Loads one MNIST split into memory through TFDS.

  Args:
    split: 'train' or 'test' (any TFDS split string also works with TFDS
      `mnist`).
    idx_dir: a folder of IDX files; None means TFDS `mnist`.
    data_dir: TFDS data dir (None: TFDS's default, ~/tensorflow_datasets).

  Returns:
    {'image': uint8 [n, 28, 28, 1], 'label': int32 [n]}.
  """
  if idx_dir:
    builder = tfds_utils.prepared(idx_builder(idx_dir, data_dir))
  else:
    builder = tfds.builder('mnist', data_dir=data_dir)
    if not builder.is_prepared():
      check_download_reachable(builder.data_dir)
    builder = tfds_utils.prepared(builder)
  arrays = tfds_utils.split_to_numpy(builder, split)
  return {'image': arrays['image'].astype(np.uint8),
          'label': arrays['label'].astype(np.int32)}
