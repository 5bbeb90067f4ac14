"""Segmentation scenes composed from MNIST digits (TFDS `digit_scenes`).

Each scene is a square RGB image on a noisy background with 1 to
`max_digits` MNIST digits pasted at random scales, positions and colours,
and a mask that gives every pixel of a digit's strokes the class 1 + digit
(0 is background): 11 classes. It is small enough to train the fully
convolutional M2 on a CPU, where VOC cannot be downloaded.

Generation is deterministic: scene i of a split draws everything from
`numpy.random.default_rng([seed, split_code, i])`, and its digits from that
split's MNIST digits only (train scenes from MNIST train, test scenes from
MNIST test). The digits come from TFDS `mnist`, or from a local IDX folder
(`idx_dir`, our config field `data.idx_dir`) read by `mnist.load_split`.

Splits:
  train: `num_train` scenes (default 20,000) from the MNIST training digits.
  test: `num_eval` scenes (default 2,000) from the MNIST test digits.

Features (examples stored in scene order, so example i is scene i):
  image: uint8 [S, S, 3], PNG.
  segmentation_mask: uint8 [S, S, 1], PNG, 0 background, 1 + digit.
  digits: int64 [max_digits], the classes of the digits drawn, in drawing
    order, padded with -1 (a digit may be hidden under later ones).

Usage:
  arrays = load_split('train', idx_dir=..., data_dir=...)
  arrays['image']  # uint8 [n, S, S, 3]
  arrays['label']  # uint8 [n, S, S]

The builder config's name spells out every setting that changes the scenes
(and the content digest of an IDX folder), so different settings never share
a TFDS cache folder. Bump `DigitScenes.VERSION` when the drawing changes.
"""

import io
import numbers
import os

import numpy as np
from PIL import Image

from m2vae_jax.data import mnist
from m2vae_jax.data import tfds_utils
from m2vae_jax.errors import ConfigError

CLASS_NAMES = ('background',) + tuple(str(d) for d in range(10))
NUM_CLASSES = len(CLASS_NAMES)
# Split name -> (code mixed into each scene's seed, MNIST split of digits).
SPLITS = {'train': (0, 'train'), 'test': (1, 'test')}
MIN_IMAGE_SIZE = 16
# Builder setting -> the config field that sets it, for error messages.
CONFIG_FIELDS = {
    'image_size': 'data.image_size',
    'num_train': 'data.num_train_scenes',
    'num_eval': 'data.num_eval_scenes',
    'max_digits': 'data.max_digits',
    'seed': 'data.scene_seed',
}

# Drawing parameters (part of the data set's definition: changing one
# changes every scene, so bump DigitScenes.VERSION with it).
HEIGHT_RANGE = (0.35, 0.75)  # digit height as a fraction of the scene
MAX_OUTSIDE = 0.1  # fraction of a digit that may lie outside each edge
BACKGROUND_MAX = 100.0  # background base colour: each channel in [0, 100)
NOISE_STD_RANGE = (4.0, 16.0)  # per-pixel Gaussian noise of the background
MIN_COLOUR_DISTANCE = 150.0  # RGB distance of a digit's colour from the base
COLOUR_CANDIDATES = 8  # colours drawn; the first far enough is used
CROP_THRESHOLD = 64  # MNIST pixels above this define the digit's box
STROKE_THRESHOLD = 0.5  # resized intensity above this is in the mask


def _check(field: str, value, ok: bool, expected: str) -> None:
  if not ok:
    raise ConfigError(f'{CONFIG_FIELDS[field]}={value!r}: {expected}')


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_settings(*, image_size: int, num_train: int, num_eval: int,
                   max_digits: int, seed: int) -> None:
  """Raises ConfigError, naming the config field, on an unusable setting."""
  _check('image_size', image_size,
         _is_int(image_size) and image_size >= MIN_IMAGE_SIZE,
         f'scenes must be at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}')
  for field, value in (('num_train', num_train), ('num_eval', num_eval),
                       ('max_digits', max_digits)):
    _check(field, value, _is_int(value) and value >= 1,
           'must be an integer >= 1')
  _check('seed', seed, _is_int(seed) and seed >= 0,
         'must be an integer >= 0')


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """The generator that draws scene `index` of `split`."""
  return np.random.default_rng([seed, SPLITS[split][0], index])


def _digit_box(digit: np.ndarray) -> tuple[int, int, int, int]:
  """(top, bottom, left, right) of the pixels above CROP_THRESHOLD; the
  whole image when there are none."""
  on = digit > CROP_THRESHOLD
  rows = np.flatnonzero(on.any(axis=1))
  cols = np.flatnonzero(on.any(axis=0))
  if rows.size == 0:
    return 0, digit.shape[0], 0, digit.shape[1]
  return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _contrasting_colour(rng: np.random.Generator,
                        base: np.ndarray) -> np.ndarray:
  """A colour at least MIN_COLOUR_DISTANCE from `base` (else the farthest
  of the candidates)."""
  candidates = rng.uniform(0.0, 256.0, (COLOUR_CANDIDATES, 3))
  distance = np.linalg.norm(candidates - base, axis=1)
  far = np.flatnonzero(distance >= MIN_COLOUR_DISTANCE)
  return candidates[far[0] if far.size else np.argmax(distance)]


def compose_scene(rng: np.random.Generator, digits: np.ndarray,
                  labels: np.ndarray, image_size: int, max_digits: int):
  """Draws one scene: a noisy background and 1 to `max_digits` digits.

  The background is a random dark base colour plus per-pixel Gaussian
  noise. Each digit is cropped to its box, resized (bilinear) to a height of
  HEIGHT_RANGE of the scene with its aspect ratio kept, placed at a random
  position (at most MAX_OUTSIDE of it outside any edge) and drawn in a random
  colour far from the background's, its grey intensity serving as alpha.
  A later digit covers an earlier one, in the image and in the mask.

  Args:
    rng: the scene's generator (see `scene_rng`); the scene depends only on
      its state and the digits.
    digits: uint8 [n, h, w] or [n, h, w, 1] (MNIST: 28x28), the digits to
      draw from.
    labels: int [n], their classes 0-9.
    image_size: S, the side of the square scene.
    max_digits: the most digits in a scene.

  Returns:
    image: uint8 [S, S, 3].
    mask: uint8 [S, S]; 0 background, 1 + class where the resized digit's
      intensity is above STROKE_THRESHOLD.
    classes: int64 [k], the classes of the k digits drawn, in order.
  """
  s = image_size
  base = rng.uniform(0.0, BACKGROUND_MAX, 3)
  noise_std = rng.uniform(*NOISE_STD_RANGE)
  noise = rng.standard_normal((s, s, 3), dtype=np.float32)
  image = np.clip(base.astype(np.float32) + noise_std * noise, 0.0, 255.0)
  mask = np.zeros((s, s), np.uint8)
  num = int(rng.integers(1, max_digits + 1))
  chosen = rng.integers(0, len(digits), num)
  classes = np.asarray(labels)[chosen].astype(np.int64)
  for index, label in zip(chosen, classes):
    digit = np.asarray(digits[index])
    digit = digit[..., 0] if digit.ndim == 3 else digit
    top, bottom, left, right = _digit_box(digit)
    height = max(2, round(rng.uniform(*HEIGHT_RANGE) * s))
    width = round(height * (right - left) / (bottom - top))
    width = int(np.clip(width, 1, s))
    colour = _contrasting_colour(rng, base).astype(np.float32)
    margin_y = int(MAX_OUTSIDE * height)
    margin_x = int(MAX_OUTSIDE * width)
    y0 = int(rng.integers(-margin_y, s - height + margin_y + 1))
    x0 = int(rng.integers(-margin_x, s - width + margin_x + 1))
    crop = Image.fromarray(np.ascontiguousarray(digit[top:bottom,
                                                      left:right]))
    alpha = np.asarray(crop.resize((width, height), Image.BILINEAR),
                       np.float32) / 255.0
    # The part of the digit inside the scene.
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + height, s), min(x0 + width, s)
    alpha = alpha[ys - y0:ye - y0, xs - x0:xe - x0]
    region = image[ys:ye, xs:xe]
    a = alpha[..., None]
    image[ys:ye, xs:xe] = region + a * (colour - region)
    mask[ys:ye, xs:xe][alpha > STROKE_THRESHOLD] = 1 + label
  image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
  return image, mask, classes


def generate_split(digits: np.ndarray, labels: np.ndarray, split: str,
                   num_scenes: int, *, image_size: int, max_digits: int,
                   seed: int, start: int = 0):
  """Yields (i, image, mask, classes) for scenes start..num_scenes-1."""
  for i in range(start, num_scenes):
    rng = scene_rng(seed, split, i)
    yield (i, *compose_scene(rng, digits, labels, image_size, max_digits))


def _png(array: np.ndarray) -> bytes:
  """PNG bytes of a uint8 [h, w] (grey) or [h, w, 3] (RGB) array."""
  buf = io.BytesIO()
  # Level 1: scenes are small and noisy; higher levels only cost time.
  Image.fromarray(array).save(buf, format='PNG', compress_level=1)
  return buf.getvalue()


tfds = tfds_utils.import_tfds()


class DigitScenesConfig(tfds.core.BuilderConfig):
  """The scene settings and the digits' source.

  Attributes:
    image_size: side S of the square scenes.
    num_train: scenes in 'train'.
    num_eval: scenes in 'test'.
    max_digits: most digits per scene (each scene has 1 to max_digits).
    seed: scene i of a split uses default_rng([seed, split_code, i]).
    idx_dir: local MNIST IDX folder; None means TFDS `mnist`.
    mnist_data_dir: TFDS data dir the MNIST digits are read from (None: the
      TFDS default). It does not change the scenes, so it is not in the name.
  """

  def __init__(self, *, image_size: int = 64, num_train: int = 20_000,
               num_eval: int = 2_000, max_digits: int = 3, seed: int = 0,
               idx_dir: str | None = None,
               mnist_data_dir: str | None = None, **kwargs):
    check_settings(image_size=image_size, num_train=num_train,
                   num_eval=num_eval, max_digits=max_digits, seed=seed)
    if idx_dir:
      idx_dir = os.path.abspath(idx_dir)
      files = mnist.idx_files(idx_dir)  # DataError if the folder is bad.
      digest = tfds_utils.file_digest([p for ps in files.values()
                                       for p in ps])
      source = f'idx{digest}'
      origin = f'an MNIST IDX folder (content digest {digest})'
    else:
      idx_dir = None
      source = 'mnist'
      origin = 'TFDS mnist'
    kwargs.setdefault(
        'name', f's{image_size}_train{num_train}_eval{num_eval}_'
        f'digits{max_digits}_seed{seed}_{source}')
    kwargs.setdefault(
        'description', f'{image_size}x{image_size} scenes of 1-{max_digits} '
        f'digits from {origin}, seed {seed}.')
    super().__init__(**kwargs)
    self.image_size = int(image_size)
    self.num_train = int(num_train)
    self.num_eval = int(num_eval)
    self.max_digits = int(max_digits)
    self.seed = int(seed)
    self.idx_dir = idx_dir
    self.mnist_data_dir = mnist_data_dir


class DigitScenes(tfds.core.GeneratorBasedBuilder):
  """Semantic-segmentation scenes composed from MNIST digits."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = []

  def _info(self):
    c = self.builder_config
    s = c.image_size
    return self.dataset_info_from_configs(
        description=(
            'Scenes of 1 to max_digits MNIST digits at random scale, '
            'position and colour on a noisy background; the mask is '
            '1 + digit on the strokes, 0 elsewhere (11 classes).'),
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(
                shape=(s, s, 3), encoding_format='png'),
            'segmentation_mask': tfds.features.Image(
                shape=(s, s, 1), encoding_format='png'),
            'digits': tfds.features.Tensor(
                shape=(c.max_digits,), dtype=np.int64),
        }),
        supervised_keys=('image', 'segmentation_mask'),
        # Example i is scene i: the split can be regenerated and compared.
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing is downloaded here; mnist.py fetches digits.
    c = self.builder_config
    sizes = {'train': c.num_train, 'test': c.num_eval}
    generators = {}
    for split, (_, mnist_split) in SPLITS.items():
      source = mnist.load_split(mnist_split, idx_dir=c.idx_dir,
                                data_dir=c.mnist_data_dir)
      generators[split] = self._generate_examples(
          source['image'], source['label'], split, sizes[split])
    return generators

  def _generate_examples(self, digits, labels, split, num_scenes):
    c = self.builder_config
    for i, image, mask, classes in generate_split(
        digits, labels, split, num_scenes, image_size=c.image_size,
        max_digits=c.max_digits, seed=c.seed):
      padded = np.full((c.max_digits,), -1, np.int64)
      padded[:len(classes)] = classes
      yield i, {'image': _png(image), 'segmentation_mask': _png(mask),
                'digits': padded}


def digit_scenes_builder(*, image_size: int = 64, num_train: int = 20_000,
                         num_eval: int = 2_000, max_digits: int = 3,
                         seed: int = 0, idx_dir: str | None = None,
                         data_dir: str | None = None,
                         mnist_data_dir: str | None = None) -> DigitScenes:
  """The builder for these settings, not yet prepared.

  Args:
    image_size, num_train, num_eval, max_digits, seed, idx_dir: see
      `DigitScenesConfig`.
    data_dir: TFDS data dir the scenes are written to (None: the TFDS
      default, ~/tensorflow_datasets).
    mnist_data_dir: TFDS data dir the digits are read from; None means
      `data_dir`.

  Raises:
    ConfigError: on an unusable setting.
    DataError: if `idx_dir` is not a folder of the four IDX files.
  """
  config = DigitScenesConfig(
      image_size=image_size, num_train=num_train, num_eval=num_eval,
      max_digits=max_digits, seed=seed, idx_dir=idx_dir,
      mnist_data_dir=mnist_data_dir or data_dir)
  return DigitScenes(config=config, data_dir=data_dir)


def load_split(split: str, *, image_size: int = 64, num_train: int = 20_000,
               num_eval: int = 2_000, max_digits: int = 3, seed: int = 0,
               idx_dir: str | None = None,
               data_dir: str | None = None) -> dict[str, np.ndarray]:
  """Prepares the scenes once (later calls reuse them) and reads a split.

  Args:
    split: 'train' or 'test'.
    image_size, num_train, num_eval, max_digits, seed, idx_dir: see
      `DigitScenesConfig`.
    data_dir: TFDS data dir for the scenes and for the MNIST digits.

  Returns:
    {'image': uint8 [n, S, S, 3], 'label': uint8 [n, S, S]}, scene i at
    index i.

  Raises:
    ConfigError: on an unusable setting or an unknown split.
    DataError: if `idx_dir` is not a folder of the four IDX files, or one
      of them is bad.
  """
  if split not in SPLITS:
    raise ConfigError(f'digit_scenes has splits {sorted(SPLITS)}, not '
                      f'{split!r}')
  builder = tfds_utils.prepared(digit_scenes_builder(
      image_size=image_size, num_train=num_train, num_eval=num_eval,
      max_digits=max_digits, seed=seed, idx_dir=idx_dir, data_dir=data_dir))
  arrays = tfds_utils.split_to_numpy(builder, split)
  return {'image': arrays['image'].astype(np.uint8),
          'label': arrays['segmentation_mask'][..., 0].astype(np.uint8)}
