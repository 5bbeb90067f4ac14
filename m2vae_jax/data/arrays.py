"""A data set as one .npz file: train without TensorFlow or internet.

The input pipeline reads every data set through TFDS, which needs
TensorFlow. A lent accelerator machine may have JAX but neither TensorFlow
nor internet. Export the arrays a config reads where they can be loaded,
carry the file, and train with the same config and
`--config.data.arrays_file=FILE` (`load_task_data` then reads the file and
imports no TFDS):

  python -m experiments.export_data --config=configs/mnist_sdgm.py \
      --config.data.idx_dir=../shared/data/mnist-dev --out=mnist.npz
  python -m experiments.train --config=configs/mnist_sdgm.py \
      --workdir=workdirs/mnist_sdgm --config.data.arrays_file=mnist.npz

The file holds exactly what the loaders return, in the same order, so the
run is the one the loaders give with that config: the same labeled subset
and the same batches. A config whose data block differs from the exported
one (runtime fields such as data.idx_dir aside) is refused.
"""

import json
import os
import zipfile

import ml_collections
import numpy as np

from m2vae_jax import default_config
from m2vae_jax.data import pipeline
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError

_PARTS = ('train', 'eval', 'unlabeled')
# Data fields the trainer applies to the loaded arrays: they may differ.
_USED_AFTER_LOADING = ('data.num_labeled', 'data.binarize',
                       'data.eval_binarize', 'data.flip_vertical',
                       'data.flip_horizontal', 'data.labeled_shift',
                       'data.labeled_shear')


def data_fields(data_config: ml_collections.ConfigDict) -> dict:
  """The data fields that decide what is loaded (not where from)."""
  flat = default_config.flatten(data_config, 'data.')
  return {k: v for k, v in flat.items()
          if k not in default_config.RUNTIME_FIELDS + _USED_AFTER_LOADING}


def export(task: pipeline.TaskData, data_config: ml_collections.ConfigDict,
           path: str) -> None:
  """Writes a TaskData and the data fields it was loaded with to `path`."""
  arrays = {f'{part}/{name}': value
            for part in _PARTS if getattr(task, part) is not None
            for name, value in getattr(task, part).items()}
  meta = {'num_classes': task.num_classes, 'eval_split': task.eval_split,
          'input_hw': task.input_hw, 'data': data_fields(data_config)}
  if task.palette is not None:
    arrays['palette'] = task.palette
  # Written aside and renamed: an interrupted export leaves no half file.
  tmp = f'{path}.tmp'
  with open(tmp, 'wb') as f:
    np.savez_compressed(f, meta=np.array(json.dumps(meta)), **arrays)
  os.replace(tmp, path)


def load(path: str,
         data_config: ml_collections.ConfigDict) -> pipeline.TaskData:
  """Reads what `export` wrote, checking it was made for `data_config`.

  Raises:
    DataError: if the file is missing or not what `export` writes.
    ConfigError: if a data field differs from the exported one.
  """
  try:
    with np.load(path) as f:
      meta = json.loads(str(f['meta']))
      parts = {}
      palette = f['palette'] if 'palette' in f.files else None
      for key in f.files:
        if key not in ('meta', 'palette'):
          part, name = key.split('/')
          parts.setdefault(part, {})[name] = f[key]
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise DataError(f'cannot read data.arrays_file={path} ({e}); write it '
                    'with python -m experiments.export_data') from None
  # JSON turns tuples into lists; compare what JSON keeps.
  wanted = json.loads(json.dumps(data_fields(data_config)))
  # A field the file lacks counts as its default, as on resume. One the
  # config does not compare (used after loading) is left out.
  defaults = json.loads(json.dumps(
      data_fields(default_config.get_default_config().data)))
  recorded = default_config.saved_with_defaults(meta['data'], defaults)
  exported = {k: recorded.get(k) for k in wanted}
  changed = default_config.changed_fields(exported, wanted)
  if changed:
    diffs = ', '.join(f'{k}: {exported.get(k)!r} in the file, '
                      f'{wanted.get(k)!r} in the config' for k in changed[:4])
    raise ConfigError(f'{path} was exported for other data ({diffs}); '
                      'export it again with this config')
  return pipeline.TaskData(
      train=parts['train'], eval=parts['eval'],
      unlabeled=parts.get('unlabeled'), num_classes=meta['num_classes'],
      eval_split=meta['eval_split'], palette=palette,
      # Absent from files written before it was: the images' own size.
      input_hw=tuple(meta['input_hw']) if meta.get('input_hw') else None)
