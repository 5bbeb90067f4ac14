r"""Trains on a machine without TensorFlow, from arrays exported where it is.

The input pipeline reads every data set through TFDS, which needs
TensorFlow. A lent accelerator machine may have JAX but neither TensorFlow
nor internet. Export the arrays a config reads on a machine that has them,
carry the file, and train with the same config there:

  python -m benchmarks.offline_data --config=configs/mnist_sdgm.py \
      --config.data.idx_dir=../shared/data/mnist-dev --arrays=mnist.npz
  python -m benchmarks.offline_data --config=configs/mnist_sdgm.py \
      --config.data.idx_dir=../shared/data/mnist-dev --arrays=mnist.npz \
      --workdir=workdirs/mnist_sdgm --config.num_train_steps=100000

Without --workdir it exports; with one it trains. The file holds exactly
what `load_task_data(config.data)` returns, in the same order, so the run
is the one `python -m experiments.train` makes with that config: the same
labeled subset and the same batches. Training refuses a config whose data
block differs from the exported one (runtime fields such as data.idx_dir
aside), and the workdir is an ordinary one that experiments.train resumes.
"""

import json
import os
import zipfile

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags
import numpy as np

from m2vae_jax import default_config
from m2vae_jax.data import pipeline
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError

_ARRAYS = flags.DEFINE_string(
    'arrays', None, '.npz file: written without --workdir, read with it.')
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Train into this workdir (omit to export).')
config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:variant]).',
    lock_config=True)
flags.mark_flags_as_required(['config', 'arrays'])

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
          'data': data_fields(data_config)}
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
      for key in f.files:
        if key != 'meta':
          part, name = key.split('/')
          parts.setdefault(part, {})[name] = f[key]
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise DataError(f'cannot read --arrays={path} ({e}); write it with '
                    'this script without --workdir') from None
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
      eval_split=meta['eval_split'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  # pylint: disable=g-import-not-at-top
  from m2vae_jax import cli  # pylint: disable=g-import-not-at-top
  from m2vae_jax import data as data_lib
  config = flags.FLAGS.config
  if _WORKDIR.value is None:
    with cli.user_errors_as_one_line():
      task = data_lib.load_task_data(config.data)
    export(task, config.data, _ARRAYS.value)
    logging.info('Wrote %s', _ARRAYS.value)
    return
  # Every loader of this process now reads the file (and imports no TFDS).
  data_lib.LOADERS[config.data.name] = lambda cfg: load(_ARRAYS.value, cfg)
  cli.run_from_command_line(config, _WORKDIR.value)


if __name__ == '__main__':
  logging.set_verbosity(logging.INFO)
  app.run(main)
