"""Shared TFDS plumbing: importing TensorFlow safely, reading whole splits."""

import functools
import hashlib
import os

import numpy as np


@functools.cache
def import_tfds():
  """Imports TFDS with TensorFlow kept off the accelerators.

  TF only decodes data here; left alone it would grab GPU memory that JAX
  needs (every flax example hides the GPUs from TF for the same reason).

  Returns:
    The `tensorflow_datasets` module.
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], 'GPU')
  tf.config.set_visible_devices([], 'TPU')
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def split_to_numpy(builder, split: str) -> dict[str, np.ndarray]:
  """Reads a whole split of a prepared builder into host memory.

  Args:
    builder: a prepared `tfds.core.DatasetBuilder`.
    split: split name, e.g. 'train'.

  Returns:
    Feature name -> array with a leading example axis, in the builder's
    (deterministic) order.
  """
  tfds = import_tfds()
  # Batches rather than batch_size=-1: TF aborts on a whole-split batch of a
  # data set of unknown length (e.g. under tfds.testing.mock_data).
  ds = builder.as_dataset(split=split, batch_size=4096, shuffle_files=False)
  chunks = list(tfds.as_numpy(ds))
  return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def file_digest(paths, length: int = 12) -> str:
  """A short content hash of files, to key a TFDS cache by what it was built
  from (a folder edited in place must not reuse a stale preparation)."""
  h = hashlib.sha256()
  for path in sorted(paths):
    h.update(os.path.basename(path).encode())
    with open(path, 'rb') as f:
      for chunk in iter(lambda: f.read(1 << 20), b''):
        h.update(chunk)
  return h.hexdigest()[:length]
