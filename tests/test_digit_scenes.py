"""Tests of the digit scenes builder, on the tiny fake MNIST IDX folder."""

import os
import pickle
import re
import shutil
import tempfile

import numpy as np
import pytest

from m2vae_jax.data import digit_scenes
from m2vae_jax.data import mnist
from m2vae_jax.data import tfds_utils
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError
from tests.conftest import fake_digits
from tests.conftest import write_idx

SMALL = dict(image_size=32, num_train=24, num_eval=8, max_digits=3)
SIZES = {'train': 24, 'test': 8}


@pytest.fixture(autouse=True)
def _contain_tfds_tempdirs(tmp_path, monkeypatch):
  # A TFDS builder for unprepared data makes an empty temp dir each time it is
  # created (DatasetInfo.initialize_from_bucket); keep those under tmp_path.
  monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))


def _read(builder):
  """Prepares a builder and reads both splits with every feature."""
  builder.download_and_prepare()
  return {split: tfds_utils.split_to_numpy(builder, split)
          for split in SIZES}


@pytest.fixture(scope='module')
def built(idx_dir, tfds_dir, tmp_path_factory):
  """The tiny scenes (seed 0) prepared in the session's TFDS dir."""
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(tempfile, 'tempdir', str(tmp_path_factory.mktemp('tmp')))
    builder = digit_scenes.digit_scenes_builder(
        idx_dir=idx_dir, data_dir=tfds_dir, **SMALL)
    return builder, _read(builder)


def _regenerate(digits, labels, split, num, seed=0):
  out = list(digit_scenes.generate_split(
      digits, labels, split, num, image_size=SMALL['image_size'],
      max_digits=SMALL['max_digits'], seed=seed))
  return (np.stack([o[1] for o in out]), np.stack([o[2] for o in out]),
          [o[3] for o in out])


def test_load_split_shapes_and_values(built, idx_dir, tfds_dir):
  del built  # Prepared already: load_split reuses it.
  for split, n in SIZES.items():
    arrays = digit_scenes.load_split(split, idx_dir=idx_dir,
                                     data_dir=tfds_dir, **SMALL)
    assert sorted(arrays) == ['image', 'label']
    assert arrays['image'].shape == (n, 32, 32, 3)
    assert arrays['image'].dtype == np.uint8
    assert arrays['label'].shape == (n, 32, 32)
    assert arrays['label'].dtype == np.uint8
    assert arrays['label'].max() < digit_scenes.NUM_CLASSES
    assert (arrays['label'] > 0).any(axis=(1, 2)).all()  # Every scene.
    assert (arrays['label'] == 0).mean() > 0.5  # Mostly background.
  assert digit_scenes.NUM_CLASSES == 11
  assert digit_scenes.CLASS_NAMES[0] == 'background'
  assert digit_scenes.CLASS_NAMES[1:] == tuple('0123456789')


def test_splits_are_scene_i_drawn_from_their_own_mnist_split(
    built, idx_dir, tfds_dir):
  """Stored example i is compose_scene of scene i's rng over the digits of
  the matching MNIST split (train from train, test from test), pixel for
  pixel; its `digits` feature lists the classes drawn."""
  _, data = built
  sources = {s: mnist.load_split(s, idx_dir=idx_dir, data_dir=tfds_dir)
             for s in SIZES}
  for split, n in SIZES.items():
    src = sources[split]
    images, masks, classes = _regenerate(src['image'], src['label'], split,
                                         n)
    np.testing.assert_array_equal(data[split]['image'], images)
    np.testing.assert_array_equal(data[split]['segmentation_mask'][..., 0],
                                  masks)
    for stored, drawn in zip(data[split]['digits'], classes):
      np.testing.assert_array_equal(stored[:len(drawn)], drawn)
      assert (stored[len(drawn):] == -1).all()
      # Every class in the mask was drawn (a drawn one may be hidden).
    for mask, drawn in zip(masks, classes):
      assert set(np.unique(mask)) - {0} <= {1 + c for c in drawn}
  # The other split's digits would have given other test scenes.
  other, _, _ = _regenerate(sources['train']['image'],
                            sources['train']['label'], 'test', 8)
  assert not np.array_equal(other, data['test']['image'])


def test_eval_scenes_only_use_test_digits(tmp_path):
  """Train digits are classes 0-4 and test digits 5-9 here, so the classes
  in the scenes tell which MNIST split they came from."""
  folder = tmp_path / 'idx'
  folder.mkdir()
  for prefix, n, seed, offset in (('train', 40, 0, 0), ('t10k', 20, 1, 5)):
    images, labels = fake_digits(n, seed)
    labels = labels % 5 + offset
    write_idx(str(folder / f'{prefix}-images-idx3-ubyte.gz'), images, 2051)
    write_idx(str(folder / f'{prefix}-labels-idx1-ubyte.gz'), labels, 2049)
  for split, allowed in (('train', range(5)), ('test', range(5, 10))):
    arrays = digit_scenes.load_split(split, idx_dir=str(folder),
                                     data_dir=str(tmp_path / 'tfds'), **SMALL)
    present = set(np.unique(arrays['label']).tolist()) - {0}
    assert present and present <= {1 + c for c in allowed}


def test_same_seed_rebuilds_identically_other_seed_differs(
    built, idx_dir, tfds_dir, tmp_path):
  builder, data = built
  again = _read(digit_scenes.digit_scenes_builder(
      idx_dir=idx_dir, data_dir=str(tmp_path / 'tfds'), **SMALL))
  other_builder = digit_scenes.digit_scenes_builder(
      idx_dir=idx_dir, data_dir=tfds_dir, seed=1, **SMALL)
  other = _read(other_builder)
  assert other_builder.data_dir != builder.data_dir
  for split in SIZES:
    for key in ('image', 'segmentation_mask', 'digits'):
      np.testing.assert_array_equal(again[split][key], data[split][key])
    assert not np.array_equal(other[split]['image'], data[split]['image'])
    assert not np.array_equal(other[split]['segmentation_mask'],
                              data[split]['segmentation_mask'])


def test_every_setting_and_the_idx_content_has_its_own_cache(
    idx_dir, tmp_path):
  def name(**changes):
    settings = {**SMALL, 'idx_dir': idx_dir, **changes}
    return digit_scenes.DigitScenesConfig(**settings).name

  names = [name(), name(image_size=48), name(num_train=25),
           name(num_eval=9), name(max_digits=2), name(seed=1)]
  assert len(set(names)) == len(names)
  assert name() == name(mnist_data_dir=str(tmp_path))  # Not content.
  # Same path, edited content: a new name.
  copy = tmp_path / 'idx'
  copy.mkdir()
  for f in os.listdir(idx_dir):
    shutil.copy(os.path.join(idx_dir, f), copy / f)
  before = name(idx_dir=str(copy))
  assert before == name()  # Same files elsewhere: same data.
  images, labels = fake_digits(200, 7)
  write_idx(str(copy / 'train-images-idx3-ubyte.gz'), images, 2051)
  assert name(idx_dir=str(copy)) not in (before, *names)
  # Builders keep the config through pickling (TFDS re-creates them).
  builder = digit_scenes.digit_scenes_builder(
      idx_dir=idx_dir, data_dir=str(tmp_path / 'tfds'), **SMALL)
  clone = pickle.loads(pickle.dumps(builder))
  assert clone.builder_config.name == builder.builder_config.name
  assert clone.data_dir == builder.data_dir


def _rectangle_digits():
  """Two "digits" that are solid rectangles: their strokes are their boxes,
  so every pixel of the scene is either pure digit or pure background."""
  digits = np.zeros((2, 28, 28), np.uint8)
  digits[0, 4:24, 9:19] = 255
  digits[1, 6:22, 4:24] = 255
  return digits, np.array([3, 8])


@pytest.mark.parametrize('seed', range(6))
def test_mask_is_exactly_the_strokes(seed):
  digits, labels = _rectangle_digits()
  rng = np.random.default_rng(seed)
  image, mask, classes = digit_scenes.compose_scene(rng, digits, labels, 40,
                                                    3)
  assert image.shape == (40, 40, 3) and image.dtype == np.uint8
  assert mask.shape == (40, 40) and mask.dtype == np.uint8
  assert 1 <= len(classes) <= 3
  assert set(np.unique(mask)) - {0} <= {1 + c for c in classes}
  on = mask > 0
  assert on.any()
  # Inside a solid digit the pixel is that digit's colour; one colour per
  # class present, unlike the noisy background.
  for value in set(np.unique(mask)) - {0}:
    colours = np.unique(image[mask == value].reshape(-1, 3), axis=0)
    assert len(colours) <= list(1 + classes).count(value)
  background = image[~on].astype(float)
  assert len(np.unique(background, axis=0)) > 0.5 * len(background)
  centre = np.median(background, axis=0)
  assert np.linalg.norm(image[on] - centre, axis=-1).min() > 100
  # The same rng seed gives the same scene.
  again = digit_scenes.compose_scene(np.random.default_rng(seed), digits,
                                     labels, 40, 3)
  np.testing.assert_array_equal(again[0], image)
  np.testing.assert_array_equal(again[1], mask)


def test_digit_scale_and_position():
  """A lone digit is 35%-75% of the scene high, at most 10% of it outside
  an edge."""
  digits, labels = _rectangle_digits()
  s = 64
  heights = []
  for seed in range(40):
    _, mask, _ = digit_scenes.compose_scene(
        np.random.default_rng(seed), digits[:1], labels[:1], s, 1)
    rows = np.flatnonzero(mask.any(axis=1))
    height = rows[-1] + 1 - rows[0]
    heights.append(height)
    assert 0.9 * 0.35 * s - 1 <= height <= 0.75 * s + 1
  assert max(heights) - min(heights) > 0.2 * s  # The scale varies.


def test_stroke_pixels_stand_out_from_the_background():
  """On fake MNIST digits (alpha varies): masked pixels are far from the
  background colour, unmasked pixels away from strokes are near it."""
  images, labels = fake_digits(50, 3)
  for seed in range(4):
    image, mask, _ = digit_scenes.compose_scene(
        np.random.default_rng(seed), images, labels, 32, 3)
    pixels = image.astype(float)
    on = mask > 0
    # Background: pixels with no mask pixel within 3 px.
    near = np.zeros_like(on)
    for dy in range(-3, 4):
      for dx in range(-3, 4):
        near |= np.roll(on, (dy, dx), axis=(0, 1))
    centre = np.median(pixels[~near], axis=0)
    far_on = np.linalg.norm(pixels[on] - centre, axis=-1)
    assert np.median(far_on) > 80


@pytest.mark.parametrize('setting, value, field', [
    ('image_size', 8, 'data.image_size=8'),
    ('num_train', 0, 'data.num_train_scenes=0'),
    ('num_eval', -1, 'data.num_eval_scenes=-1'),
    ('max_digits', 0, 'data.max_digits=0'),
])
def test_bad_settings_name_the_config_field(setting, value, field, tmp_path):
  settings = dict(SMALL, **{setting: value})
  with pytest.raises(ConfigError, match=re.escape(field)):
    digit_scenes.load_split('train', data_dir=str(tmp_path), **settings)
  assert not os.listdir(tmp_path)  # Nothing written.


def test_unknown_split_and_missing_idx_dir(idx_dir, tmp_path):
  with pytest.raises(ConfigError, match='validation'):
    digit_scenes.load_split('validation', idx_dir=idx_dir,
                            data_dir=str(tmp_path), **SMALL)
  with pytest.raises(DataError, match='is not a folder'):
    digit_scenes.load_split('train', idx_dir=str(tmp_path / 'nope'),
                            data_dir=str(tmp_path), **SMALL)
