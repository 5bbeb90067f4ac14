"""Labeled, unlabeled and eval batches, deterministic and resumable.

Batch `t` of a stream depends only on (seed, t): sample position
p = t * batch + i falls in epoch p // n, which is a fixed permutation of
the stream's indices. So the whole iterator state is the step number, a
resumed run sees exactly the batches an uninterrupted run would, and every
process computes the same global batch and keeps its own contiguous slice
(multi-host data parallelism without coordination).

Pixels stay uint8 here; binarization happens on the accelerator inside the
train step, where it is fresh every step and costs nothing on the host.
"""

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import dataclasses
import os

import numpy as np

from m2vae_jax import default_config
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError

Batch = dict[str, np.ndarray]

VOID_LABEL = 255  # segmentation masks: pixels without a class


@dataclasses.dataclass
class TaskData:
  """What a data set provides to the trainer.

  Attributes:
    train: the training split, {'image': uint8 [n, h, w, c], 'label': int
      [n] (classification) or uint8 [n, h, w] (segmentation, 255 void)}.
      Labels are drawn from it.
    eval: the evaluation split, same features.
    num_classes: classes of y.
    eval_split: name of the eval split, for reports.
    unlabeled: images used as unlabeled data; None means all of `train`.
    input_hw: (height, width) the networks see, when the stored training
      images are larger (CamVid keeps its 360x480 frames and the streams
      resize them every step); None: the training images' own size.
      Segmentation eval masks may be larger than this too: predictions are
      upsampled to them before they are scored.
    palette: uint8 [256, 3] colours of the labels in figures (None: the
      VOC colours).
  """

  train: Batch
  eval: Batch
  num_classes: int
  eval_split: str
  unlabeled: Batch | None = None
  input_hw: tuple[int, int] | None = None
  palette: np.ndarray | None = None

  @property
  def is_segmentation(self) -> bool:
    return self.train['label'].ndim == 3

  @property
  def input_shape(self) -> tuple[int, ...]:
    """[height, width, channels] (or the example shape) of the networks'
    input."""
    shape = tuple(self.train['image'].shape[1:])
    return shape if self.input_hw is None else (*self.input_hw, *shape[2:])


def select_labeled(labels: np.ndarray, num_labeled: int, num_classes: int,
                   seed: int, *, balanced: bool) -> np.ndarray:
  """Indices of the labeled subset, drawn once from the seed.

  Args:
    labels: [n] class indices (or [n, ...] masks when not balanced).
    num_labeled: how many; -1 for all.
    num_classes: classes (balanced draws take num_labeled / classes each).
    seed: the same seed gives the same subset on every host.
    balanced: draw the same number from every class.

  Returns:
    Sorted int array of indices into `labels`.
  """
  n = labels.shape[0]
  if num_labeled < 0:
    return np.arange(n)
  rng = np.random.default_rng([seed, 0x1abe1])
  if not balanced:
    if num_labeled > n:
      raise DataError(f'data.num_labeled={num_labeled} but the training '
                      f'split has only {n} labeled images')
    return np.sort(rng.choice(n, num_labeled, replace=False))
  if num_labeled % num_classes:
    raise ConfigError(f'data.num_labeled={num_labeled} must be a multiple of '
                      f'the {num_classes} classes (labels are drawn equally '
                      'from every class)')
  per_class = num_labeled // num_classes
  chosen = []
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    if per_class > members.size:
      raise DataError(f'data.num_labeled={num_labeled} asks for {per_class} '
                      f'labels per class but class {c} has only '
                      f'{members.size} training images')
    chosen.append(rng.choice(members, per_class, replace=False))
  return np.sort(np.concatenate(chosen))


def given_labeled(indices: Sequence[int], num_labeled: int,
                  num_train: int) -> np.ndarray:
  """data.labeled_indices checked against the training split: sorted int
  array [num_labeled] of distinct indices in [0, num_train)."""
  given = np.asarray(indices)
  if given.ndim != 1 or not np.issubdtype(given.dtype, np.integer):
    raise ConfigError('data.labeled_indices must be a flat sequence of '
                      f'integers, got {tuple(indices)[:5]!r}')
  if given.size != num_labeled:
    raise ConfigError(f'data.labeled_indices holds {given.size} indices but '
                      f'data.num_labeled={num_labeled}; set '
                      f'data.num_labeled={given.size}')
  outside = given[(given < 0) | (given >= num_train)]
  if outside.size:
    raise DataError(f'data.labeled_indices holds {outside[0]}, outside the '
                    f'training split (indices 0-{num_train - 1})')
  unique, counts = np.unique(given, return_counts=True)
  if unique.size != given.size:
    raise ConfigError('data.labeled_indices names index '
                      f'{unique[counts > 1][0]} more than once')
  return unique


def process_slice(global_size: int, process_index: int,
                  process_count: int) -> slice:
  """This process's contiguous share of a global batch."""
  if global_size % process_count:
    raise ConfigError(f'a global batch of {global_size} does not split over '
                      f'{process_count} processes')
  per = global_size // process_count
  return slice(process_index * per, (process_index + 1) * per)


class BatchStream:
  """An endless, shuffled stream of batches over a fixed index set."""

  def __init__(self, arrays: Batch, indices: np.ndarray,
               global_batch_size: int, seed: int, *,
               keys: tuple[str, ...] = ('image', 'label'),
               process_index: int = 0, process_count: int = 1,
               transform: Callable[[Batch, int], Batch] | None = None):
    """Creates the stream.

    Args:
      arrays: feature name -> array with a leading example axis.
      indices: which examples the stream draws from.
      global_batch_size: examples per step over all processes.
      seed: shuffling seed (use different seeds for different streams).
      keys: features to emit.
      process_index, process_count: which slice this process keeps.
      transform: (batch, step) -> batch, e.g. random flips; must be
        deterministic given the step.
    """
    if len(indices) == 0:
      raise DataError('a data stream has no examples to draw from')
    self.arrays = {k: arrays[k] for k in keys}
    self.indices = np.asarray(indices)
    self.global_batch_size = global_batch_size
    self.seed = seed
    self.local = process_slice(global_batch_size, process_index,
                               process_count)
    self.transform = transform
    self._perms: dict[int, np.ndarray] = {}

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      if len(self._perms) > 2:
        self._perms.pop(min(self._perms))
      rng = np.random.default_rng([self.seed, epoch])
      self._perms[epoch] = self.indices[rng.permutation(len(self.indices))]
    return self._perms[epoch]

  def global_indices(self, step: int) -> np.ndarray:
    """Example indices of the whole global batch of `step`."""
    n = len(self.indices)
    pos = step * self.global_batch_size + np.arange(self.global_batch_size)
    epochs, offsets = np.divmod(pos, n)
    out = np.empty(self.global_batch_size, np.int64)
    for e in np.unique(epochs):
      sel = epochs == e
      out[sel] = self._permutation(int(e))[offsets[sel]]
    return out

  def __call__(self, step: int) -> Batch:
    """This process's share of batch `step`."""
    idx = self.global_indices(step)[self.local]
    batch = {k: v[idx] for k, v in self.arrays.items()}
    if self.transform is not None:
      batch = self.transform(batch, step)
    return batch


def eval_batches(arrays: Batch, global_batch_size: int, *,
                 keys: tuple[str, ...] = ('image', 'label'),
                 process_index: int = 0,
                 process_count: int = 1) -> Iterator[Batch]:
  """The whole split once, in order, the last batch padded.

  Every batch has `valid` (1 for real examples, 0 for padding) and `index`
  (the example's position in the split, used to derive per-example noise
  that does not depend on the batch size).

  Yields:
    This process's share of each global batch.
  """
  n = arrays[keys[0]].shape[0]
  local = process_slice(global_batch_size, process_index, process_count)
  for start in range(0, n, global_batch_size):
    idx = np.arange(start, start + global_batch_size)[local]
    valid = idx < n
    safe = np.where(valid, idx, 0)
    batch = {k: arrays[k][safe] for k in keys}
    batch['valid'] = valid.astype(np.float32)
    batch['index'] = idx.astype(np.int32)
    yield batch


def _process_draws(draws: np.ndarray, n_local: int,
                   process_index: int) -> np.ndarray:
  """This process's rows of draws made for the whole global batch."""
  return draws[process_index * n_local:(process_index + 1) * n_local]


def random_flip(seed: int, *, vertical: bool, horizontal: bool,
                process_index: int = 0, process_count: int = 1):
  """A stream transform flipping image and mask together, per example.

  The flips of batch `t` are drawn for the global batch from (seed, t), so
  they do not depend on how the batch is split over processes.

  Returns:
    transform(batch, step) -> batch.
  """

  def transform(batch: Batch, step: int) -> Batch:
    n_local = batch['image'].shape[0]
    rng = np.random.default_rng([seed, step, 0xf11b])
    draws = _process_draws(rng.random((n_local * process_count, 2)) < 0.5,
                           n_local, process_index)
    out = dict(batch)
    for axis, enabled, flips in ((1, vertical, draws[:, 0]),
                                 (2, horizontal, draws[:, 1])):
      if not enabled or not flips.any():
        continue
      for k in out:
        if k in ('image', 'label') and out[k].ndim >= 3:
          v = out[k].copy()
          v[flips] = np.flip(v[flips], axis=axis)
          out[k] = v
    return out

  return transform


def image_hw(image_size) -> tuple[int, int]:
  """(height, width) from data.image_size: a side or a (height, width)
  pair of positive ints.

  Raises:
    ConfigError: for anything else.
  """
  hw = ((image_size, image_size) if np.ndim(image_size) == 0
        else tuple(image_size))
  if (len(hw) != 2 or any(isinstance(s, bool) or not isinstance(
      s, int | np.integer) or s < 1 for s in hw)):
    raise ConfigError('data.image_size must be a positive int or (height, '
                      f'width), got {image_size!r}')
  return int(hw[0]), int(hw[1])


def resized(array: np.ndarray, hw: tuple[int, int], *, mask: bool,
            box: tuple[float, float, float, float] | None = None
            ) -> np.ndarray:
  """One image [h, w, c] (bilinear, antialiased when shrinking) or mask
  [h, w] (nearest: every output label, void included, is an input one)
  resized to hw, optionally from a crop box (left, top, right, bottom) in
  pixel coordinates (floats allowed)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if box is None and array.shape[:2] == hw:
    return array
  resample = Image.Resampling.NEAREST if mask else Image.Resampling.BILINEAR
  out = Image.fromarray(array).resize((hw[1], hw[0]), resample, box=box)
  return np.asarray(out)


def resize_images(images: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
  """uint8 [n, h, w, c] -> [n, hw[0], hw[1], c], each as `resized`."""
  if images.shape[1:3] == hw:
    return images
  return np.stack([resized(im, hw, mask=False) for im in images])


def random_zoom(seed: int, hw: tuple[int, int], max_zoom: float, *,
                process_index: int = 0, process_count: int = 1):
  """A stream transform bringing every example to size hw: a random crop
  of 1/s of its height and width, s log-uniform in [1, max_zoom], at a
  uniform position, resized to hw (masks by nearest neighbour). The
  standard scale-and-crop augmentation of street scenes; max_zoom = 1 is
  the whole image resized, exactly as `resize_images` does for eval.

  Drawn for the global batch from (seed, t), like `random_flip`.

  Returns:
    transform(batch, step) -> batch.
  """

  def draw(rng, n):
    zoom = np.exp(rng.uniform(0.0, np.log(max_zoom), n))
    return np.stack([zoom, rng.random(n), rng.random(n)], axis=1)

  def move(array, params, fill, mask):
    del fill
    zoom, fy, fx = params
    h, w = array.shape[:2]
    ch, cw = h / zoom, w / zoom
    top, left = fy * (h - ch), fx * (w - cw)
    if zoom == 1.0:
      return resized(array, hw, mask=mask)
    return resized(array, hw, mask=mask,
                   box=(left, top, left + cw, top + ch))

  return _moved_per_example(seed, 0x200A, process_index, process_count,
                            draw=draw, move=move)


def translated(image: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
  """image [h, w, ...] moved down dy and right dx pixels (negative: up,
  left); what comes in from outside is `fill`."""
  h, w = image.shape[:2]
  out = np.full_like(image, fill)
  out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = (
      image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)])
  return out


def _moved_per_example(seed: int, salt: int, process_index: int,
                       process_count: int, *, draw, move):
  """A stream transform moving each example's image (filled with 0) and
  segmentation mask (filled with void) by its own parameters.

  draw(rng, n) gives the parameters of the n examples of the global batch,
  from (seed, t, salt), so they do not depend on how the batch is split
  over processes; move(array, parameters, fill, is_mask) moves one array.
  """

  def transform(batch: Batch, step: int) -> Batch:
    n_local = batch['image'].shape[0]
    rng = np.random.default_rng([seed, step, salt])
    params = _process_draws(draw(rng, n_local * process_count), n_local,
                            process_index)
    out = dict(batch)
    out['image'] = np.stack([move(im, p, 0, False)
                             for im, p in zip(batch['image'], params)])
    if 'label' in batch and batch['label'].ndim >= 3:
      out['label'] = np.stack([move(m, p, VOID_LABEL, True)
                               for m, p in zip(batch['label'], params)])
    return out

  return transform


def random_shift(seed: int, max_shift: int, *, process_index: int = 0,
                 process_count: int = 1):
  """A stream transform translating each example by up to `max_shift`
  pixels along each image axis (uniform integers in [-max_shift,
  max_shift]); images are padded with 0, segmentation masks move with
  their image and are padded with void (255).

  Drawn for the global batch from (seed, t), like `random_flip`.

  Returns:
    transform(batch, step) -> batch.
  """

  return _moved_per_example(
      seed, 0x5417, process_index, process_count,
      draw=lambda rng, n: rng.integers(-max_shift, max_shift + 1, (n, 2)),
      move=lambda array, offset, fill, mask: translated(array, *offset, fill))


def sheared(image: np.ndarray, factor: float, fill, *,
            interpolate: bool = True) -> np.ndarray:
  """image [h, w, ...] slanted: row y moves right by factor * (y - c)
  pixels, c the middle row, so the bottom goes right and the top left
  for factor > 0 (a horizontal shear about the centre). Pixels between two
  source columns are interpolated linearly (interpolate=False: the nearest,
  for masks); what comes in from outside is `fill`."""
  h, w = image.shape[:2]
  rows = np.arange(h)[:, None]
  source = np.arange(w)[None, :] - factor * (rows - (h - 1) / 2)  # [h, w]

  def gather(columns):
    inside = (columns >= 0) & (columns < w)
    values = image[rows, np.clip(columns, 0, w - 1)].astype(np.float32)
    values[~inside] = fill
    return values

  if not interpolate:
    return gather(np.rint(source).astype(int)).astype(image.dtype)
  left = np.floor(source).astype(int)
  frac = (source - left).reshape(source.shape + (1,) * (image.ndim - 2))
  out = (1 - frac) * gather(left) + frac * gather(left + 1)
  if np.issubdtype(image.dtype, np.integer):
    out = np.rint(out)
  return out.astype(image.dtype)


def random_shear(seed: int, max_factor: float, *, process_index: int = 0,
                 process_count: int = 1):
  """A stream transform slanting each example by a shear factor uniform in
  [-max_factor, max_factor] (`sheared`): the slant of handwriting, which a
  few labeled digits cover poorly. Segmentation masks are slanted with their
  image (nearest pixel) and filled with void (255).

  Drawn for the global batch from (seed, t), like `random_flip`.

  Returns:
    transform(batch, step) -> batch.
  """

  return _moved_per_example(
      seed, 0x54EA, process_index, process_count,
      draw=lambda rng, n: rng.uniform(-max_factor, max_factor, n),
      move=lambda array, factor, fill, mask: sheared(
          array, factor, fill, interpolate=not mask))


def chain(*transforms):
  """The stream transforms applied in order (None entries skipped); None
  if there are none."""
  transforms = [t for t in transforms if t is not None]
  if not transforms:
    return None

  def transform(batch: Batch, step: int) -> Batch:
    for t in transforms:
      batch = t(batch, step)
    return batch

  return transform


def step_batches(make: Callable[[int], object], start: int, stop: int, *,
                 threads: int, depth: int):
  """make(start), ..., make(stop - 1) in order, built ahead in threads.

  A grain MapDataset over the step numbers: element t is make(t), so the
  iterator's state is the step itself and resuming at `start` repeats
  nothing (grain's own checkpointable state is not needed). Threads suffice:
  numpy and PIL release the GIL for copies and resizes, while grain's worker
  processes would pickle every batch (slower in benchmarks/input_pipeline).

  Args:
    make: step -> batches; a pure function of the step.
    start, stop: the steps to build.
    threads: threads building batches (0 builds each when it is asked for).
    depth: batches built ahead of the one being consumed.

  Returns:
    A grain iterator; close() it to stop the threads.
  """
  import grain  # pylint: disable=g-import-not-at-top
  return iter(grain.MapDataset.range(start, stop).map(make).to_iter_dataset(
      grain.ReadOptions(num_threads=threads if depth else 0,
                        prefetch_buffer_size=depth if threads else 0)))


def build_threads(requested: int) -> int:
  """data.workers: the threads that build batches; 0 means one per core
  this process may run on, at most 8."""
  if requested > 0:
    return requested
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:  # macOS has no affinity
    cores = os.cpu_count() or 1
  return min(cores, 8)


# ----------------------------------------------------------------------------
# The trainer's streams, from its config.
# ----------------------------------------------------------------------------


def label_seed(config) -> int:
  """The seed of the labeled subset: data.label_seed, or `seed` if -1."""
  if config.data.label_seed >= 0:
    return int(config.data.label_seed)
  return int(config.seed)


def labeled_indices(config, data: TaskData) -> np.ndarray:
  """The training examples whose labels the run sees, [num_labeled], sorted:
  data.labeled_indices if given, else drawn from `label_seed`, the same
  number per class for classification."""
  if config.data.labeled_indices:
    return given_labeled(config.data.labeled_indices,
                         config.data.num_labeled,
                         data.train['label'].shape[0])
  return select_labeled(
      data.train['label'], config.data.num_labeled, data.num_classes,
      label_seed(config), balanced=not data.is_segmentation)


def stream_transform(config, data: TaskData, seed: int, *,
                     process_index: int = 0, process_count: int = 1):
  """Segmentation: every example brought to the networks' input size (a
  random crop of it with data.max_zoom > 1), then randomly flipped; None
  for classification."""
  if not data.is_segmentation:
    return None
  c, pi, pc = config, process_index, process_count
  zoom = flip = None
  hw = tuple(data.input_shape[:2])
  if c.data.max_zoom > 1 or data.train['image'].shape[1:3] != hw:
    zoom = random_zoom(seed, hw, c.data.max_zoom, process_index=pi,
                       process_count=pc)
  if c.data.flip_vertical or c.data.flip_horizontal:
    flip = random_flip(seed, vertical=c.data.flip_vertical,
                       horizontal=c.data.flip_horizontal, process_index=pi,
                       process_count=pc)
  return chain(zoom, flip)


def labeled_augmentation(config, *, process_index: int = 0,
                         process_count: int = 1):
  """Slant, then translation, of the labeled batch only (None: off)."""
  c, pi, pc = config, process_index, process_count
  shear = shift = None
  if c.data.labeled_shear:
    shear = random_shear(c.seed, c.data.labeled_shear, process_index=pi,
                         process_count=pc)
  if c.data.labeled_shift:
    shift = random_shift(c.seed, c.data.labeled_shift, process_index=pi,
                         process_count=pc)
  return chain(shear, shift)


def train_streams(config, data: TaskData, labeled: np.ndarray, *,
                  process_index: int = 0, process_count: int = 1):
  """(labeled stream, unlabeled stream or None): this process's share of
  each step's batches, a function of the step (exact resume)."""
  c = config
  where = dict(process_index=process_index, process_count=process_count)
  labeled_stream = BatchStream(
      data.train, labeled, c.batch_size, c.seed * 2 + 1,
      transform=chain(stream_transform(c, data, c.seed, **where),
                      labeled_augmentation(c, **where)), **where)
  if not default_config.uses_unlabeled(c):
    return labeled_stream, None
  source = data.unlabeled or data.train
  # Its own seed: crops and flips independent of the labeled batch's.
  return labeled_stream, BatchStream(
      source, np.arange(source['image'].shape[0]), c.unlabeled_batch_size,
      c.seed * 2 + 2, keys=('image',),
      transform=stream_transform(c, data, c.seed * 2 + 2, **where), **where)
