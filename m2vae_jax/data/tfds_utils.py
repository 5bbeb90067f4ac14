"""Shared TFDS plumbing: importing TensorFlow safely, preparing data once
per machine, reading whole splits."""

import contextlib
import fcntl
import functools
import hashlib
import os
import pickle
import tempfile

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


@contextlib.contextmanager
def _machine_lock(key: str):
  """Holds an exclusive file lock named by `key` on this machine."""
  digest = hashlib.sha256(key.encode()).hexdigest()[:16]
  path = os.path.join(tempfile.gettempdir(), f'm2vae_jax-tfds-{digest}.lock')
  with open(path, 'a', encoding='utf-8') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def prepared(builder):
  """Prepares a builder's data once per machine, one process at a time.

  Two processes preparing the same data set at once (two runs started
  together, or the processes of a multi-host job on one machine) would race
  to rename TFDS's temporary folder and one would fail. Under a lock named
  by the data's path the second one waits, then finds the data ready.

  Args:
    builder: a `tfds.core.DatasetBuilder`.

  Returns:
    A builder whose data are prepared: `builder` itself, or a copy of it
    when another process prepared the data while this one waited (a builder
    made before the data existed has not read their metadata; TFDS makes
    builders anew when unpickling, so the copy reads them).
  """
  if builder.is_prepared():
    return builder
  with _machine_lock(str(builder.data_path)):
    if builder.is_prepared():
      return pickle.loads(pickle.dumps(builder))
    builder.download_and_prepare()
  return builder


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
