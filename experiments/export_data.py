r"""Writes the arrays a config's data block loads to one .npz file.

  python -m experiments.export_data --config=configs/mnist_sdgm.py \
      --config.data.idx_dir=../shared/data/mnist-dev --out=mnist.npz

Carry the file to a machine without TensorFlow or internet and train there
with the same config and `--config.data.arrays_file=mnist.npz`
(`m2vae_jax.data.arrays`).
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_OUT = flags.DEFINE_string('out', None, 'The .npz file to write.')
config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:variant]).',
    lock_config=True)
flags.mark_flags_as_required(['config', 'out'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  # pylint: disable=g-import-not-at-top
  from m2vae_jax import cli
  from m2vae_jax import data as data_lib
  from m2vae_jax.data import arrays
  config = flags.FLAGS.config
  with cli.user_errors_as_one_line():
    task = data_lib.load_task_data(config.data)
  arrays.export(task, config.data, _OUT.value)
  logging.info('Wrote %s', _OUT.value)


if __name__ == '__main__':
  logging.set_verbosity(logging.INFO)
  app.run(main)
