"""Tests of the VOC 2012 segmentation builder on a tiny fabricated VOCdevkit."""

import concurrent.futures
import pickle
import tarfile
import tempfile

import numpy as np
from PIL import Image
import pytest

from m2vae_jax.data import voc
from m2vae_jax.data.errors import DataError

tfds = voc.tfds

# id -> (height, width); all different and non-square.
TRAIN = {'2007_000032': (20, 28), '2007_000039': (30, 22),
         '2008_000002': (18, 26)}
VAL = {'2007_000033': (24, 16), '2009_000001': (14, 32)}
EXTRA = {'2010_000005': (26, 19), '2011_000007': (17, 23)}
LABELED = {**TRAIN, **VAL}
ALL = {**LABELED, **EXTRA}


@pytest.fixture(autouse=True)
def _contain_tfds_tempdirs(tmp_path, monkeypatch):
  # A TFDS builder for unprepared data makes an empty temp dir each time it is
  # created (DatasetInfo.initialize_from_bucket); keep those under tmp_path.
  monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))


def _image(image_id, hw):
  seed = int(image_id.replace('_', ''))
  rng = np.random.default_rng(seed)
  # Smooth content so JPEG round-trips closely.
  base = rng.integers(0, 256, size=(1, 1, 3))
  ramp = np.linspace(0, 60, hw[1])[None, :, None]
  return np.clip(base + ramp, 0, 255).astype(np.uint8) * np.ones(
      (hw[0], 1, 1), np.uint8)


def _mask(index, hw):
  """Class indices covering 0-20 over the labeled images, with void borders."""
  h, w = hw
  classes = (np.arange(h * w) % 5 + 5 * index) % voc.NUM_CLASSES
  mask = classes.reshape(h, w).astype(np.uint8)
  mask[0, :] = voc.VOID_LABEL
  mask[:, -1] = voc.VOID_LABEL
  return mask


def _palette_png(mask):
  # Mode P like the VOC masks: pixel values are palette indices.
  return Image.frombytes('P', mask.shape[::-1], mask.tobytes())


def _expected_masks():
  return {i: _mask(k, hw) for k, (i, hw) in enumerate(LABELED.items())}


def _make_devkit(folder):
  root = folder / 'VOCdevkit' / 'VOC2012'
  for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
    (root / sub).mkdir(parents=True)
  for image_id, hw in ALL.items():
    Image.fromarray(_image(image_id, hw)).save(
        root / 'JPEGImages' / f'{image_id}.jpg', quality=95)
  for image_id, mask in _expected_masks().items():
    png = _palette_png(mask)
    png.putpalette(voc.palette().ravel().tolist())
    png.save(root / 'SegmentationClass' / f'{image_id}.png')
  lists = root / 'ImageSets' / 'Segmentation'
  lists.joinpath('train.txt').write_text(''.join(f'{i}\n' for i in TRAIN))
  lists.joinpath('val.txt').write_text(''.join(f'{i}\n' for i in VAL))
  return root


@pytest.fixture(scope='module')
def devkit_folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp('extracted')
  _make_devkit(folder)
  return folder


@pytest.fixture(scope='module')
def tar_folder(tmp_path_factory, devkit_folder):
  folder = tmp_path_factory.mktemp('tarred')
  # Like the original: one top-level entry, VOCdevkit/.
  with tarfile.open(folder / voc.TAR_NAME, 'w') as tar:
    tar.add(devkit_folder / 'VOCdevkit', arcname='VOCdevkit')
  return folder


def _check_source(builder):
  """Reads every split by random access and checks it against the fixture."""
  masks = _expected_masks()
  expected = {'train': TRAIN, 'validation': VAL,
              'unlabeled': {**TRAIN, **EXTRA}}
  assert builder.info.file_format.value == 'array_record'
  for split, ids in expected.items():
    source = builder.as_data_source(split)
    assert len(source) == len(ids)
    examples = {ex['image_id'].decode(): ex
                for ex in (source[i] for i in range(len(source)))}
    assert set(examples) == set(ids)
    for image_id, ex in examples.items():
      hw = ids[image_id]
      assert ex['image'].shape == (*hw, 3) and ex['image'].dtype == np.uint8
      diff = np.abs(ex['image'].astype(int) - _image(image_id, hw))
      assert diff.mean() < 3
      mask = ex['segmentation_mask']
      assert mask.shape == (*hw, 1) and mask.dtype == np.uint8
      if split == 'unlabeled':
        assert (mask == voc.VOID_LABEL).all()
      else:
        np.testing.assert_array_equal(mask[..., 0], masks[image_id])
  # The fixture holds every class and void, so the round trip is exhaustive.
  labels = np.concatenate([m.ravel() for m in masks.values()])
  assert set(np.unique(labels)) == {*range(voc.NUM_CLASSES), voc.VOID_LABEL}


def test_builds_from_tar(tar_folder, tmp_path):
  builder = voc.prepare(voc.voc_builder(str(tmp_path), str(tar_folder)))
  _check_source(builder)


def test_builds_from_folder_and_reads_by_name(devkit_folder, tmp_path):
  voc.prepare(voc.voc_builder(str(tmp_path), str(devkit_folder)))
  # A fresh builder restores the format from disk, as tfds.data_source does.
  _check_source(voc.voc_builder(str(tmp_path), None))
  source = tfds.data_source('voc2012_segmentation', split='unlabeled',
                            data_dir=str(tmp_path), download=False)
  assert len(source) == len(TRAIN) + len(EXTRA)
  # The extracted tree is read in place, not copied.
  assert not list((tmp_path / 'downloads').rglob('*.jpg'))


def test_download_config_manual_dir(devkit_folder, tmp_path):
  builder = voc.Voc2012Segmentation(data_dir=str(tmp_path))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(
          manual_dir=str(devkit_folder)))
  assert builder.info.splits['train'].num_examples == len(TRAIN)


def test_download_path_uses_official_url(devkit_folder, tmp_path, monkeypatch):
  urls = []

  def fake_download_and_extract(self, url):
    urls.append(url)
    return devkit_folder

  monkeypatch.setattr(tfds.download.DownloadManager, 'download_and_extract',
                      fake_download_and_extract)
  builder = voc.prepare(voc.voc_builder(str(tmp_path), None))
  assert urls == [voc.URL]
  assert builder.info.splits['unlabeled'].num_examples == 5


def test_failed_download_is_one_line_data_error(tmp_path, monkeypatch):
  def failing_download_and_extract(self, url):
    raise tfds.download.DownloadError(f'cannot reach {url}\nsecond line')

  monkeypatch.setattr(tfds.download.DownloadManager, 'download_and_extract',
                      failing_download_and_extract)
  with pytest.raises(DataError) as err:
    voc.prepare(voc.voc_builder(str(tmp_path), None))
  assert '\n' not in str(err.value)
  assert 'data.manual_dir' in str(err.value) and voc.URL in str(err.value)


@pytest.mark.parametrize('content', ['missing', 'empty', 'other_file'])
def test_bad_manual_dir_is_one_line_data_error(tmp_path, content):
  manual = tmp_path / 'voc_manual'
  if content != 'missing':
    manual.mkdir()
  if content == 'other_file':
    (manual / 'VOCtrainval_06-Nov-2007.tar').write_bytes(b'')
  builder = voc.voc_builder(str(tmp_path / 'tfds'), str(manual))
  with pytest.raises(DataError) as err:
    voc.prepare(builder)
  message = str(err.value)
  assert '\n' not in message
  assert str(manual) in message and voc.TAR_NAME in message
  assert not (tmp_path / 'tfds' / 'voc2012_segmentation' / '1.0.0').exists()


def test_mask_with_bad_label_names_the_file(tmp_path):
  root = _make_devkit(tmp_path / 'bad')
  path = root / 'SegmentationClass' / f'{next(iter(TRAIN))}.png'
  png = _palette_png(np.full((20, 28), 40, np.uint8))
  png.putpalette(voc.palette().ravel().tolist())
  png.save(path)
  builder = voc.voc_builder(str(tmp_path / 'tfds'), str(tmp_path / 'bad'))
  with pytest.raises(DataError, match='label 40'):
    voc.prepare(builder)


def test_palette():
  cmap = voc.palette()
  assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
  np.testing.assert_array_equal(cmap[:3], [[0, 0, 0], [128, 0, 0],
                                           [0, 128, 0]])
  np.testing.assert_array_equal(cmap[15], [192, 128, 128])  # person
  np.testing.assert_array_equal(cmap[255], [224, 224, 192])
  assert len(voc.CLASS_NAMES) == 21 and voc.CLASS_NAMES[15] == 'person'
  assert len({tuple(c) for c in cmap}) == 256


def test_two_processes_preparing_at_once_both_get_the_data(devkit_folder,
                                                           tmp_path):
  """Preparation runs under the per-machine lock: the second waits, then
  gets a builder that has read what the first wrote."""
  make = lambda _: voc.prepare(voc.voc_builder(str(tmp_path),
                                               str(devkit_folder)))
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    builders = list(pool.map(make, range(2)))
  for builder in builders:
    _check_source(builder)


def test_tfrecord_variant_is_kept_on_reload(devkit_folder, tmp_path):
  builder = voc.Voc2012Segmentation(
      data_dir=str(tmp_path), manual_dir=str(devkit_folder),
      file_format='tfrecord')
  voc.prepare(builder)
  # A fresh builder takes the format from disk, and tf.data can read it.
  reloaded = pickle.loads(pickle.dumps(voc.voc_builder(str(tmp_path), None)))
  assert reloaded.info.file_format.value == 'tfrecord'
  ds = reloaded.as_dataset('validation', shuffle_files=False)
  masks = _expected_masks()
  for ex in tfds.as_numpy(ds):
    image_id = ex['image_id'].decode()
    np.testing.assert_array_equal(ex['segmentation_mask'][..., 0],
                                  masks[image_id])


def test_pickle_keeps_manual_dir(devkit_folder, tmp_path):
  builder = voc.voc_builder(str(tmp_path), str(devkit_folder))
  assert pickle.loads(pickle.dumps(builder)).manual_dir == builder.manual_dir
