"""Tests of VOC splits loaded into memory at a fixed size, with their cache."""

import io
import pathlib
import tempfile

import ml_collections
import numpy as np
from PIL import Image
import pytest

from m2vae_jax.data import voc
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError
from tests import test_voc_builder as fab  # The fabricated VOCdevkit.

SPLITS = {'train': fab.TRAIN, 'validation': fab.VAL,
          'unlabeled': {**fab.TRAIN, **fab.EXTRA}}


@pytest.fixture(scope='module')
def tmp_module(tmp_path_factory):
  folder = tmp_path_factory.mktemp('voc_loading')
  # TFDS makes temp dirs for unprepared builders; keep them in here.
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(tempfile, 'tempdir', str(folder))
    yield folder


@pytest.fixture(scope='module')
def devkit(tmp_module):
  fab._make_devkit(tmp_module / 'extracted')
  return tmp_module / 'extracted'


@pytest.fixture(scope='module')
def builder(tmp_module, devkit):
  return voc.prepare(voc.voc_builder(str(tmp_module / 'tfds'), str(devkit)))


def _resized_masks(split, hw):
  """Every expected mask of `split`, resized by nearest neighbour."""
  masks = fab._expected_masks()
  return [np.asarray(Image.fromarray(masks[i]).resize(hw[::-1],
                                                      Image.Resampling.NEAREST))
          for i in SPLITS[split]]


@pytest.mark.parametrize('image_size', [16, (12, 20), (40, 9)])
@pytest.mark.parametrize('split', ['train', 'validation'])
def test_resized_shapes_and_labels(builder, split, image_size):
  hw = (image_size,) * 2 if isinstance(image_size, int) else image_size
  out = voc.load_split_resized(builder, split, image_size, cache_dir=None,
                               workers=2)
  n = len(SPLITS[split])
  assert out['image'].shape == (n, *hw, 3) and out['image'].dtype == np.uint8
  assert out['label'].shape == (n, *hw) and out['label'].dtype == np.uint8
  # Each mask is the nearest-neighbour resize of one fabricated mask: only
  # its labels, void included, and every example appears once.
  expected = _resized_masks(split, hw)
  matches = [[k for k, e in enumerate(expected) if np.array_equal(m, e)]
             for m in out['label']]
  assert sorted(sum(matches, [])) == list(range(n))
  originals = np.concatenate([fab._expected_masks()[i].ravel()
                              for i in SPLITS[split]])
  assert set(np.unique(out['label'])) <= set(np.unique(originals))
  assert (out['label'] == voc.VOID_LABEL).any()


def test_images_are_the_resized_originals(builder):
  out = voc.load_split_resized(builder, 'train', (10, 14), cache_dir=None)
  expected = [np.asarray(Image.fromarray(fab._image(i, hw)).resize((14, 10)),
                         np.float64) for i, hw in fab.TRAIN.items()]
  for image in out['image']:
    # JPEG round trip: close to exactly one of the originals.
    errors = [np.abs(image - e).mean() for e in expected]
    assert sorted(errors)[0] < 3 < sorted(errors)[1]


def _encode(array, fmt):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format=fmt)
  return buf.getvalue()


def test_resize_example_nearest_keeps_void_and_bilinear_smooths():
  mask = np.full((30, 40), 7, np.uint8)
  mask[10:20, 5:25] = voc.VOID_LABEL
  mask[0, 0] = 20
  image = np.zeros((30, 40, 3), np.uint8)
  image[:, 20:] = 200
  enc = (_encode(image, 'JPEG'), _encode(mask, 'PNG'))
  for hw in ((8, 8), (15, 20), (64, 48)):
    img, m = voc.resize_example(*enc, hw)
    assert img.shape == (*hw, 3) and m.shape == hw
    assert set(np.unique(m)) <= {7, 20, voc.VOID_LABEL}
    assert (m == voc.VOID_LABEL).any() and (m == 7).any()
    # Bilinear: the step edge gets intermediate values, no ringing beyond.
    assert img.max() <= 215
  img, m = voc.resize_example(enc[0], None, (8, 8))
  assert m is None and 0 < img[4, 4].mean() < 200


def test_unlabeled_split_has_void_labels_that_index(builder):
  out = voc.load_split_resized(builder, 'unlabeled', 16, cache_dir=None)
  n = len(SPLITS['unlabeled'])
  assert out['image'].shape == (n, 16, 16, 3)
  assert out['label'].shape == (n, 16, 16)
  batch = out['label'][np.array([0, 3, 3, 1])]
  assert batch.shape == (4, 16, 16) and (batch == voc.VOID_LABEL).all()
  batch[0, 0, 0] = 1  # A real array, not a view of the constant.


def _fail(*args, **kwargs):
  raise AssertionError('the data source was read despite the cache')


def test_cache_is_used_then_rebuilt_when_damaged(builder, tmp_path,
                                                 monkeypatch):
  cache = tmp_path / 'cache'
  first = voc.load_split_resized(builder, 'train', (12, 20),
                                 cache_dir=str(cache))
  (path,) = cache.iterdir()  # One file, no temp files left over.
  assert path.name == 'voc2012_segmentation_1.0.0_train_12x20.npz'
  size = path.stat().st_size

  with monkeypatch.context() as mp:
    mp.setattr(voc.Voc2012Segmentation, 'as_data_source', _fail)
    cached = voc.load_split_resized(builder, 'train', (12, 20),
                                    cache_dir=str(cache))
    for k in first:
      np.testing.assert_array_equal(cached[k], first[k])
    # Another size is another file: it needs the data.
    with pytest.raises(AssertionError, match='despite the cache'):
      voc.load_split_resized(builder, 'train', 16, cache_dir=str(cache))

  damage = {'truncated': lambda b: b[:len(b) // 2],
            'flipped byte': lambda b: b[:size // 2] + bytes([b[size // 2] ^ 1])
                                      + b[size // 2 + 1:],
            'empty': lambda b: b''}
  for how, change in damage.items():
    path.write_bytes(change(path.read_bytes()))
    rebuilt = voc.load_split_resized(builder, 'train', (12, 20),
                                     cache_dir=str(cache))
    for k in first:
      np.testing.assert_array_equal(rebuilt[k], first[k], err_msg=how)
    assert path.stat().st_size == size, how  # Written again, whole.
  assert sorted(p.name for p in cache.iterdir()) == [path.name]


def test_cache_of_unlabeled_split_skips_labels(builder, tmp_path,
                                               monkeypatch):
  cache = str(tmp_path)
  voc.load_split_resized(builder, 'unlabeled', 8, cache_dir=cache)
  (path,) = tmp_path.glob('*.npz')
  with np.load(path) as npz:
    assert sorted(npz.files) == ['image', 'signature']
  monkeypatch.setattr(voc.Voc2012Segmentation, 'as_data_source', _fail)
  out = voc.load_split_resized(builder, 'unlabeled', 8, cache_dir=cache)
  assert (out['label'][[0, 1]] == voc.VOID_LABEL).all()


def test_unknown_split_and_bad_size_are_one_line_errors(builder):
  with pytest.raises(DataError, match="'test'"):
    voc.load_split_resized(builder, 'test', 8, cache_dir=None)
  for size in (0, (8, 8, 3), 2.5):
    with pytest.raises(ConfigError, match='image_size'):
      voc.load_split_resized(builder, 'train', size, cache_dir=None)


def test_tfrecord_data_load_the_same(builder, devkit, tmp_path):
  tf_builder = voc.prepare(voc.Voc2012Segmentation(
      data_dir=str(tmp_path), manual_dir=str(devkit),
      file_format='tfrecord'))
  want = voc.load_split_resized(builder, 'validation', 8, cache_dir=None)
  got = voc.load_split_resized(tf_builder, 'validation', 8, cache_dir=None)
  key = lambda arrays: sorted(m.tobytes() for m in arrays['label'])
  assert key(got) == key(want)


def _data_config(tmp_module, devkit, **overrides):
  cfg = ml_collections.ConfigDict(dict(
      name='voc', manual_dir=str(devkit),
      tfds_data_dir=str(tmp_module / 'tfds'), image_size=16,
      train_split='train', eval_split='validation',
      unlabeled_split='unlabeled'))
  cfg.update(overrides)
  return cfg


def test_load_task_data(builder, tmp_module, devkit, monkeypatch):
  data = voc.load_task_data(_data_config(tmp_module, devkit))
  assert data.num_classes == 21 and data.eval_split == 'validation'
  assert data.is_segmentation
  assert data.train['image'].shape == (len(fab.TRAIN), 16, 16, 3)
  assert data.train['label'].shape == (len(fab.TRAIN), 16, 16)
  assert data.eval['image'].shape == (len(fab.VAL), 16, 16, 3)
  assert set(data.unlabeled) == {'image'}
  assert data.unlabeled['image'].shape == (len(SPLITS['unlabeled']), 16, 16,
                                           3)
  # The cache sits beside the prepared data.
  resized = pathlib.Path(builder.data_dir) / 'resized'
  names = sorted(p.name for p in resized.iterdir())
  assert names == [f'voc2012_segmentation_1.0.0_{s}_16x16.npz'
                   for s in ('train', 'unlabeled', 'validation')]

  # A second run (a fresh builder) reads only the cache.
  monkeypatch.setattr(voc.Voc2012Segmentation, 'as_data_source', _fail)
  again = voc.load_task_data(_data_config(tmp_module, devkit,
                                          unlabeled_split=''))
  assert again.unlabeled is None
  np.testing.assert_array_equal(again.eval['label'], data.eval['label'])
