"""The MNIST/IDX data path and the batch streams."""

import concurrent.futures
import os

import numpy as np
import pytest

from m2vae_jax.data import mnist
from m2vae_jax.data import pipeline
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError
from tests.conftest import fake_digits
from tests.conftest import make_idx_dir
from tests.conftest import write_idx


def test_idx_builder_reads_the_folder_through_tfds(idx_dir, tfds_dir):
  train = mnist.load_split('train', idx_dir=idx_dir, data_dir=tfds_dir)
  test = mnist.load_split('test', idx_dir=idx_dir, data_dir=tfds_dir)
  assert train['image'].shape == (200, 28, 28, 1)
  assert train['image'].dtype == np.uint8
  assert test['image'].shape == (60, 28, 28, 1)
  # TFDS reorders examples; the multiset of (image, label) must survive.
  images, labels = fake_digits(200, 0)
  want = sorted((int(y), im.tobytes()) for im, y in zip(images, labels))
  got = sorted((int(y), im[..., 0].tobytes())
               for im, y in zip(train['image'], train['label']))
  assert got == want
  # A second load reuses the prepared data and gives the same order.
  again = mnist.load_split('train', idx_dir=idx_dir, data_dir=tfds_dir)
  np.testing.assert_array_equal(again['label'], train['label'])


def test_two_loaders_preparing_the_same_data_at_once_both_succeed(
    idx_dir, tmp_path):
  """Without the lock, the slower one fails to rename TFDS's temporary
  folder onto the one the faster one just wrote (FileExistsError)."""
  data_dir = str(tmp_path / 'tfds')
  load = lambda _: mnist.load_split('train', idx_dir=idx_dir,
                                    data_dir=data_dir)['label']
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    first, second = pool.map(load, range(2))
  np.testing.assert_array_equal(first, second)
  assert len(first) == 200


def test_tfds_mnist_is_used_without_idx_dir(monkeypatch):
  """Without data.idx_dir the registered TFDS `mnist` builder is asked for
  (on a machine with internet it downloads); here its data are mocked."""
  tfds = mnist.tfds
  asked = []
  real_builder = tfds.builder

  def spy(name, **kw):
    asked.append(name)
    return real_builder(name, **kw)

  monkeypatch.setattr(tfds, 'builder', spy)
  # The mock prepares nothing, so the download would be checked for.
  monkeypatch.setattr(mnist, 'check_download_reachable', lambda _: None)
  with tfds.testing.mock_data(num_examples=12):
    out = mnist.load_split('train')
  assert set(asked) == {'mnist'}
  assert out['image'].shape == (12, 28, 28, 1)
  assert out['label'].dtype == np.int32


@pytest.mark.usefixtures('network_unreachable')
def test_without_network_or_idx_dir_one_line_says_what_to_do(tmp_path):
  with pytest.raises(DataError, match='cannot be downloaded') as e:
    mnist.load_split('train', data_dir=str(tmp_path))
  assert '\n' not in str(e.value)
  assert '--config.data.idx_dir=DIR' in str(e.value)
  assert not list(tmp_path.glob('mnist/*/*.tfrecord*'))


@pytest.mark.parametrize('damage, message', [
    ('magic', 'has magic number 2049, expected 2051'),
    ('truncate', 'is truncated or corrupt'),
    ('missing', 'has no t10k-images-idx3-ubyte'),
])
def test_bad_idx_files_give_one_clear_line(tmp_path, damage, message):
  folder = make_idx_dir(tmp_path / 'idx', n_train=20, n_test=10)
  path = os.path.join(folder, 't10k-images-idx3-ubyte.gz')
  if damage == 'magic':
    write_idx(path, np.zeros((10, 28, 28), np.uint8), 2049)
  elif damage == 'truncate':
    images, _ = fake_digits(10, 1)
    header = (2051).to_bytes(4, 'big') + b''.join(
        d.to_bytes(4, 'big') for d in images.shape)
    import gzip  # pylint: disable=g-import-not-at-top
    with gzip.open(path, 'wb') as f:
      f.write(header + images.tobytes()[:-100])
  else:
    os.remove(path)
  with pytest.raises(DataError, match=message) as e:
    mnist.idx_builder(folder, str(tmp_path / 'tfds'))
  assert '\n' not in str(e.value)
  assert not (tmp_path / 'tfds').exists()  # Nothing half-prepared.


def test_missing_folder(tmp_path):
  with pytest.raises(DataError, match='is not a folder'):
    mnist.idx_builder(str(tmp_path / 'nope'))


def test_file_positions_are_found_in_the_loaded_order():
  images, _ = fake_digits(40, 5)
  file_images = images[..., None]
  order = np.random.default_rng(0).permutation(40)  # loaded[j] = file[order[j]]
  loaded = file_images[order]
  found = mnist.loader_indices(loaded, file_images, [7, 0, 39, 7])
  np.testing.assert_array_equal(order[found], [7, 0, 39, 7])
  np.testing.assert_array_equal(loaded[found], file_images[[7, 0, 39, 7]])


@pytest.mark.parametrize('change, message', [
    ('range', 'file index 40 is not in 0-39'),
    ('missing', 'the image at file index 3 is not in the loaded split'),
    ('twice', 'the image at file index 3 is in the loaded split 2 times, '
              'at \\[3, 9\\]'),
])
def test_file_positions_without_one_answer_are_named(change, message):
  images, _ = fake_digits(40, 5)
  file_images = images[..., None]
  loaded = file_images.copy()
  if change == 'missing':
    loaded[3] = 255 - loaded[3]
  elif change == 'twice':
    loaded[9] = loaded[3]
  with pytest.raises(DataError, match=message):
    mnist.loader_indices(loaded, file_images,
                         [40] if change == 'range' else [1, 3])


def test_labeled_subset_is_balanced_and_fixed_by_the_seed():
  labels = np.repeat(np.arange(10), 30)
  a = pipeline.select_labeled(labels, 50, 10, seed=3, balanced=True)
  b = pipeline.select_labeled(labels, 50, 10, seed=3, balanced=True)
  c = pipeline.select_labeled(labels, 50, 10, seed=4, balanced=True)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  np.testing.assert_array_equal(np.bincount(labels[a]), [5] * 10)
  with pytest.raises(DataError, match='class 0 has only 30'):
    pipeline.select_labeled(labels, 400, 10, seed=0, balanced=True)
  with pytest.raises(ConfigError, match='multiple of'):
    pipeline.select_labeled(labels, 55, 10, seed=0, balanced=True)
  assert len(pipeline.select_labeled(labels, -1, 10, 0, balanced=True)) == 300


def test_stream_is_a_function_of_the_step():
  arrays = {'image': np.arange(23)[:, None], 'label': np.arange(23)}
  stream = pipeline.BatchStream(arrays, np.arange(23), 8, seed=1)
  first = [stream(t)['label'] for t in range(9)]
  # Every epoch is a permutation: each index appears once per 23 draws.
  flat = np.concatenate(first)[:69]
  for e in range(3):
    assert sorted(flat[23 * e:23 * (e + 1)]) == list(range(23))
  # A fresh stream (a resumed run) gives the same batch at any step.
  resumed = pipeline.BatchStream(arrays, np.arange(23), 8, seed=1)
  np.testing.assert_array_equal(resumed(7)['label'], first[7])


def test_process_shards_concatenate_to_the_global_batch():
  arrays = {'image': np.arange(40)[:, None], 'label': np.arange(40)}
  whole = pipeline.BatchStream(arrays, np.arange(40), 8, seed=2)
  parts = [pipeline.BatchStream(arrays, np.arange(40), 8, seed=2,
                                process_index=p, process_count=4)
           for p in range(4)]
  for t in range(6):
    np.testing.assert_array_equal(
        np.concatenate([p(t)['label'] for p in parts]), whole(t)['label'])
  with pytest.raises(ConfigError, match='does not split over 3'):
    pipeline.BatchStream(arrays, np.arange(40), 8, seed=2, process_count=3)


def test_eval_batches_cover_the_split_once_with_padding():
  arrays = {'image': np.arange(10)[:, None], 'label': np.arange(10)}
  batches = list(pipeline.eval_batches(arrays, 4))
  assert len(batches) == 3
  valid = np.concatenate([b['valid'] for b in batches])
  labels = np.concatenate([b['label'] for b in batches])
  np.testing.assert_array_equal(valid, [1] * 10 + [0] * 2)
  np.testing.assert_array_equal(labels[valid > 0], np.arange(10))
  # Two processes see disjoint halves of each global batch.
  halves = [list(pipeline.eval_batches(arrays, 4, process_index=p,
                                       process_count=2)) for p in range(2)]
  np.testing.assert_array_equal(
      np.concatenate([h[0]['index'] for h in halves]), [0, 1, 2, 3])


def test_random_flip_moves_image_and_mask_together():
  image = np.arange(4 * 3).reshape(1, 4, 3, 1).repeat(2, 0).repeat(3, -1)
  mask = image[..., 0].copy()
  flips = pipeline.random_flip(0, vertical=True, horizontal=False)
  seen = set()
  for step in range(20):
    out = flips({'image': image, 'label': mask}, step)
    np.testing.assert_array_equal(out['image'][..., 0], out['label'])
    for i in range(2):
      same = np.array_equal(out['label'][i], mask[i])
      flipped = np.array_equal(out['label'][i], mask[i][::-1])
      assert same or flipped
      seen.add(flipped)
  assert seen == {True, False}


def test_random_shift_moves_image_and_mask_together_within_bounds():
  rng = np.random.default_rng(0)
  image = rng.integers(1, 256, (6, 8, 8, 1)).astype(np.uint8)
  mask = rng.integers(0, 5, (6, 8, 8)).astype(np.uint8)
  shift = pipeline.random_shift(0, 2)
  offsets = set()
  for step in range(10):
    out = shift({'image': image, 'label': mask}, step)
    for i in range(6):
      # Recover the offset from the padding: inputs are never 0 or void.
      (dy, dx), = {(a, b) for a in range(-2, 3) for b in range(-2, 3)
                   if np.array_equal(out['image'][i],
                                     pipeline.translated(image[i], a, b, 0))}
      offsets.add((dy, dx))
      np.testing.assert_array_equal(
          out['label'][i],
          pipeline.translated(mask[i], dy, dx, pipeline.VOID_LABEL))
      rows = slice(max(dy, 0), 8 + min(dy, 0))
      cols = slice(max(dx, 0), 8 + min(dx, 0))
      np.testing.assert_array_equal(
          out['image'][i, rows, cols],
          image[i, max(-dy, 0):8 + min(-dy, 0), max(-dx, 0):8 + min(-dx, 0)])
      assert (out['image'][i] == 0).sum() == 8 * 8 - (
          (8 - abs(dy)) * (8 - abs(dx)))
      assert (out['label'][i] == pipeline.VOID_LABEL).sum() == (
          (out['image'][i, ..., 0] == 0).sum())
    # The same step gives the same shifts (resume); inputs are untouched.
    np.testing.assert_array_equal(
        shift({'image': image, 'label': mask}, step)['image'], out['image'])
  assert image.min() > 0
  assert len(offsets) > 15  # Most of the 25 offsets turn up.


def test_random_shift_splits_the_global_draw_over_processes():
  image = np.arange(1, 4 * 5 * 5 + 1).reshape(4, 5, 5, 1).astype(np.uint8)
  labels = np.arange(4)
  whole = pipeline.random_shift(3, 1)({'image': image, 'label': labels}, 7)
  halves = [pipeline.random_shift(3, 1, process_index=p, process_count=2)(
      {'image': image[2 * p:2 * p + 2], 'label': labels[2 * p:2 * p + 2]}, 7)
            for p in range(2)]
  np.testing.assert_array_equal(
      np.concatenate([h['image'] for h in halves]), whole['image'])
  # Class labels are not images: they pass through.
  np.testing.assert_array_equal(whole['label'], labels)


def test_sheared_moves_each_row_by_its_distance_from_the_middle():
  rng = np.random.default_rng(0)
  image = rng.integers(1, 256, (5, 9, 2)).astype(np.uint8)
  np.testing.assert_array_equal(pipeline.sheared(image, 0.0, 0), image)
  # Factor 1 on 5 rows: row y moves y - 2 whole pixels, so each row is a
  # translation of the input's row (no interpolation at whole pixels).
  out = pipeline.sheared(image, 1.0, 0)
  for y in range(5):
    np.testing.assert_array_equal(
        out[y], pipeline.translated(image[y:y + 1], 0, y - 2, 0)[0])
  # Half a pixel: the mean of two neighbours, rounded like the uint8 input.
  half = pipeline.sheared(image, 0.5, 0)
  expected = np.rint((image[3, 0:8].astype(float)
                      + image[3, 1:9].astype(float)) / 2)
  np.testing.assert_array_equal(half[3, 1:9], expected)  # row 3 moves 0.5.
  np.testing.assert_array_equal(half[3, 0], np.rint(image[3, 0] / 2))
  np.testing.assert_array_equal(half[2], image[2])       # the middle row.
  # Masks take the nearest pixel: no class is invented between two.
  mask = rng.integers(0, 3, (5, 9)).astype(np.uint8)
  slanted = pipeline.sheared(mask, 0.3, pipeline.VOID_LABEL,
                             interpolate=False)
  assert set(np.unique(slanted)) <= {0, 1, 2, pipeline.VOID_LABEL}


def test_random_shear_slants_image_and_mask_together():
  # A ramp, 20 per column, as image and as mask: interpolating a ramp is
  # exact, so each example's factor can be read back from its rows 0 and 6,
  # which move -3f and +3f pixels: out[0, 3] - out[6, 3] = 120 f.
  ramp = np.broadcast_to(20 * np.arange(7) + 30, (8, 7, 7)).astype(np.uint8)
  batch = {'image': ramp[..., None], 'label': ramp.copy()}
  shear = pipeline.random_shear(0, 0.5)
  out = shear(batch, 3)
  factors = (out['image'][:, 0, 3, 0].astype(float)
             - out['image'][:, 6, 3, 0]) / 120
  assert np.all(np.abs(factors) <= 0.5 + 1 / 120)
  assert np.ptp(factors) > 0.3  # Drawn per example, not per batch.
  for image, mask, f in zip(out['image'], out['label'], factors):
    # Columns 2-4 read no fill from outside (rows move 1.5 at most);
    # f, read back from rounded pixels, is off by up to 1/120.
    np.testing.assert_allclose(
        image[:, 2:5, 0], pipeline.sheared(ramp[0], f, 0)[:, 2:5], atol=1)
    # The mask moves with its image, to the nearest pixel.
    moved = pipeline.sheared(ramp[0], f, pipeline.VOID_LABEL,
                             interpolate=False)
    assert np.mean(mask == moved) > 0.9
  # The same step draws the same slants (resume); another step, others.
  np.testing.assert_array_equal(shear(batch, 3)['image'], out['image'])
  assert not np.array_equal(shear(batch, 4)['image'], out['image'])
  halves = [pipeline.random_shear(0, 0.5, process_index=p, process_count=2)(
      {k: v[4 * p:4 * p + 4] for k, v in batch.items()}, 3)
            for p in range(2)]
  np.testing.assert_array_equal(
      np.concatenate([h['image'] for h in halves]), out['image'])


def test_chain_applies_transforms_in_order():
  add = lambda n: lambda batch, step: {'x': batch['x'] * 10 + n + step}
  assert pipeline.chain(None, None) is None
  assert pipeline.chain(add(1), None, add(2))({'x': 0}, 0) == {'x': 12}


@pytest.mark.parametrize('threads,depth', [(0, 0), (1, 2), (3, 4)])
def test_step_batches_are_the_batches_of_the_steps_in_order(threads, depth):
  made = []

  def make(step):
    made.append(step)
    return {'x': np.full(2, step)}

  batches = pipeline.step_batches(make, 5, 12, threads=threads, depth=depth)
  assert [int(b['x'][0]) for b in batches] == list(range(5, 12))
  assert sorted(made) == list(range(5, 12))  # each step built once
  batches.close()


def test_step_batches_of_a_stream_equal_the_stream_and_stop_early():
  # The trainer's host batches through grain's threads are the stream's own,
  # so a run fed this way resumes exactly as the stream does.
  arrays = {'image': np.arange(30 * 4, dtype=np.uint8).reshape(30, 2, 2, 1),
            'label': np.arange(30) % 3}
  stream = pipeline.BatchStream(
      arrays, np.arange(30), 4, 3,
      transform=pipeline.random_flip(3, vertical=True, horizontal=True))
  batches = pipeline.step_batches(stream, 7, 1000, threads=2, depth=3)
  for step in range(7, 20):
    got = next(batches)
    for k in ('image', 'label'):
      np.testing.assert_array_equal(got[k], stream(step)[k])
  batches.close()  # long before step 1000: the threads stop
  with pytest.raises(ValueError):
    next(batches)


def test_build_threads_is_the_request_or_the_usable_cores(monkeypatch):
  assert pipeline.build_threads(3) == 3
  monkeypatch.setattr(pipeline.os, 'sched_getaffinity', lambda pid: {0, 5},
                      raising=False)
  assert pipeline.build_threads(0) == 2
  monkeypatch.setattr(pipeline.os, 'sched_getaffinity', lambda pid: set(
      range(64)), raising=False)
  assert pipeline.build_threads(0) == 8


def test_image_hw_takes_a_side_or_a_pair():
  assert pipeline.image_hw(64) == (64, 64)
  assert pipeline.image_hw((120, 160)) == (120, 160)
  assert pipeline.image_hw(np.int64(8)) == (8, 8)
  for bad in (0, (8, 8, 3), 2.5, (8, -1), True):
    with pytest.raises(ConfigError, match='data.image_size'):
      pipeline.image_hw(bad)


def _coordinate_frames(n, h, w):
  """Images whose pixels encode their own row and column, and masks of the
  row band (labels 0-5, a void corner)."""
  rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
  image = np.stack([rows * 255 // (h - 1), cols * 255 // (w - 1),
                    np.full((h, w), 128)], -1).astype(np.uint8)
  mask = (rows * 6 // h).astype(np.uint8)
  mask[:4, :4] = pipeline.VOID_LABEL
  return np.repeat(image[None], n, 0), np.repeat(mask[None], n, 0)


def test_random_zoom_of_one_is_the_eval_resize():
  images, masks = _coordinate_frames(3, 36, 48)
  out = pipeline.random_zoom(0, (12, 16), 1.0)(
      {'image': images, 'label': masks}, 5)
  np.testing.assert_array_equal(out['image'],
                                pipeline.resize_images(images, (12, 16)))
  assert out['label'].shape == (3, 12, 16)
  assert set(np.unique(out['label'])) <= set(np.unique(masks))


def test_random_zoom_crops_inside_the_frame_with_its_mask():
  images, masks = _coordinate_frames(8, 36, 48)
  zoom = pipeline.random_zoom(1, (12, 16), 2.0)
  spans = []
  for step in range(6):
    out = zoom({'image': images, 'label': masks}, step)
    assert out['image'].shape == (8, 12, 16, 3)
    for image, mask in zip(out['image'], out['label']):
      # The crop's rows: the row code spans at least half the frame's and
      # at most all of it; image and mask show the same rows.
      rows = image[:, 0, 0].astype(int)
      spans.append(rows.max() - rows.min())
      band = np.where(mask[:, -1] == pipeline.VOID_LABEL, -1, mask[:, -1])
      np.testing.assert_array_equal(band, np.sort(band))
      assert set(np.unique(mask)) <= set(np.unique(masks))
    # A function of the step (resume), whatever came before.
    again = zoom({'image': images, 'label': masks}, step)
    np.testing.assert_array_equal(again['image'], out['image'])
  assert min(spans) >= 255 // 2 - 30 and max(spans) <= 255
  assert max(spans) - min(spans) > 40  # The zoom varies.


def test_random_zoom_splits_the_global_draw_over_processes():
  images, masks = _coordinate_frames(4, 36, 48)
  batch = lambda s: {'image': images[s], 'label': masks[s]}
  whole = pipeline.random_zoom(3, (12, 16), 1.7)(batch(slice(None)), 2)
  halves = []
  for p in range(2):
    zoom = pipeline.random_zoom(3, (12, 16), 1.7, process_index=p,
                                process_count=2)
    halves.append(zoom(batch(slice(2 * p, 2 * p + 2)), 2))
  np.testing.assert_array_equal(
      np.concatenate([h['image'] for h in halves]), whole['image'])
