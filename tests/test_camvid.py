"""The CamVid builder and loader on small fabricated SegNet-layout folders."""

import os
import tempfile

import numpy as np
from PIL import Image
import pytest

from m2vae_jax import palettes
from m2vae_jax import train
from m2vae_jax.data import camvid
from m2vae_jax.data import pipeline
from m2vae_jax.data.errors import DataError
from tests.camvid_tree import SPLIT_SIZES
from tests.camvid_tree import frame
from tests.camvid_tree import frame_name
from tests.camvid_tree import make_camvid_tree
from tests.conftest import load_config


@pytest.fixture(autouse=True)
def _contain_tfds_tempdirs(tmp_path, monkeypatch):
  # TFDS makes an empty temp dir per builder of unprepared data.
  monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
  return make_camvid_tree(tmp_path_factory.mktemp('camvid'))


def _prepare(data_dir, manual_dir):
  from m2vae_jax.data import tfds_utils  # pylint: disable=g-import-not-at-top
  return tfds_utils.prepared(camvid.camvid_builder(str(data_dir),
                                                   str(manual_dir)))


def _expected(split):
  images, masks = zip(*(frame(split, i) for i in range(SPLIT_SIZES[split])))
  masks = [np.where(m == 11, 255, m) for m in masks]
  return np.stack(images), np.stack(masks)


def test_train_and_val_in_list_order_with_void_as_255(tree, tmp_path):
  builder = _prepare(tmp_path, tree)
  assert set(builder.info.splits) == {'train', 'val'}
  for split in ('train', 'val'):
    arrays = camvid.load_split(builder, split)
    images, masks = _expected(split)
    assert arrays['image'].shape == (SPLIT_SIZES[split], 360, 480, 3)
    assert arrays['image'].dtype == arrays['label'].dtype == np.uint8
    np.testing.assert_array_equal(arrays['image'], images)
    np.testing.assert_array_equal(arrays['label'], masks)
  assert set(np.unique(camvid.load_split(builder, 'train')['label'])) == {
      *range(11), 255}
  with pytest.raises(DataError, match="no split 'test'"):
    camvid.load_split(builder, 'test')


def test_a_test_split_is_read_when_the_folder_has_it(tmp_path):
  root = make_camvid_tree(tmp_path / 'CamVid',
                          splits=('train', 'val', 'test'))
  # The folder holding CamVid/ works as well as CamVid/ itself.
  builder = _prepare(tmp_path / 'tfds', tmp_path)
  assert set(builder.info.splits) == {'train', 'val', 'test'}
  arrays = camvid.load_split(builder, 'test')
  np.testing.assert_array_equal(arrays['label'], _expected('test')[1])
  assert camvid.find_root(root) == camvid.find_root(tmp_path)


def test_a_folder_that_gains_a_test_split_is_prepared_again(tmp_path):
  folder = make_camvid_tree(tmp_path / 'cv')
  data_dir = tmp_path / 'tfds'
  assert set(_prepare(data_dir, folder).info.splits) == {'train', 'val'}
  make_camvid_tree(folder, splits=('test',))
  assert set(_prepare(data_dir, folder).info.splits) == {'train', 'val',
                                                         'test'}


def test_without_lists_the_folders_png_names_are_read(tmp_path):
  folder = make_camvid_tree(tmp_path / 'cv', lists=False)
  frames = camvid.list_split(camvid.find_root(folder), 'val')
  assert [f.name for f in frames] == sorted(
      frame_name('val', i) for i in range(SPLIT_SIZES['val']))


def _break(folder, how):
  """Damages a fabricated folder; returns the path the error must name."""
  name = frame_name('train', 3)
  image = os.path.join(folder, 'train', f'{name}.png')
  label = os.path.join(folder, 'trainannot', f'{name}.png')
  if how == 'missing label':
    os.remove(label)
    return image
  if how == 'label size':
    Image.fromarray(np.zeros((180, 240), np.uint8)).save(label)
    return label
  if how == 'class 12':
    bad = np.asarray(Image.open(label)).copy()
    bad[100, 100] = 12
    Image.fromarray(bad).save(label)
    return label
  if how == 'corrupt image':
    with open(image, 'wb') as f:
      f.write(b'\x89PNG not really')
    return image
  if how == 'missing image':
    os.remove(image)
    return image
  raise ValueError(how)


@pytest.mark.parametrize('how', ['missing label', 'label size', 'class 12',
                                 'corrupt image', 'missing image'])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, how):
  folder = make_camvid_tree(tmp_path / 'cv')
  path = _break(folder, how)
  with pytest.raises(DataError) as err:
    _prepare(tmp_path / 'tfds', folder)
  message = str(err.value)
  assert '\n' not in message and path in message
  # Nothing half-prepared is left for a later run to pick up.
  assert not list((tmp_path / 'tfds').rglob('dataset_info.json'))


def test_missing_folder_and_unset_manual_dir(tmp_path):
  with pytest.raises(DataError, match='does not exist'):
    camvid.find_root(str(tmp_path / 'nowhere'))
  with pytest.raises(DataError, match='data.manual_dir'):
    camvid.find_root('')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(DataError, match='train/, val/'):
    camvid.find_root(str(tmp_path / 'empty'))


def test_bad_data_stop_the_trainer_before_the_workdir_exists(tmp_path):
  folder = make_camvid_tree(tmp_path / 'cv')
  _break(folder, 'class 12')
  config = load_config('camvid_baseline', **{
      'data.manual_dir': folder, 'data.tfds_data_dir': str(tmp_path / 't')})
  with pytest.raises(DataError, match='holds class 12'):
    train.Trainer(config, str(tmp_path / 'work'))
  assert not (tmp_path / 'work').exists()


def test_task_data_keep_frames_and_eval_masks_at_full_size(tree, tmp_path):
  config = load_config('camvid_m2', **{'data.manual_dir': tree,
                                       'data.tfds_data_dir': str(tmp_path)})
  data = camvid.load_task_data(config.data)
  h, w = config.data.image_size
  assert data.input_shape == (h, w, 3)
  assert data.train['image'].shape == (SPLIT_SIZES['train'], 360, 480, 3)
  assert data.eval['image'].shape == (SPLIT_SIZES['val'], h, w, 3)
  assert data.eval['label'].shape == (SPLIT_SIZES['val'], 360, 480)
  images, _ = _expected('val')
  np.testing.assert_array_equal(data.eval['image'],
                                pipeline.resize_images(images, (h, w)))
  np.testing.assert_array_equal(data.palette, palettes.camvid())
  assert data.num_classes == camvid.NUM_CLASSES == 11 and data.unlabeled is None


def test_palette_is_segnets():
  cmap = camvid.palette()
  assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
  np.testing.assert_array_equal(cmap[3], [128, 64, 128])   # road
  np.testing.assert_array_equal(cmap[8], [64, 0, 128])     # car
  np.testing.assert_array_equal(cmap[255], [0, 0, 0])      # void
  assert len({tuple(c) for c in cmap[:11]}) == 11
