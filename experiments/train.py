r"""Trains and evaluates one experiment.

  python -m experiments.train --config=configs/mnist_m2.py \
      --workdir=workdirs/mnist_m2 --config.alpha=10 \
      --config.data.idx_dir=../shared/data/mnist-dev

Running the same command again resumes from the workdir's last checkpoint.
At the end the workdir holds eval.json, metrics.jsonl, tb/ (TensorBoard),
checkpoints/, config.json and figures.
"""

import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from m2vae_jax import cli

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Folder for checkpoints, metrics, figures and eval.json.')
config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:variant]).',
    lock_config=True)
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False,
    'Start JAX\'s multi-process runtime (jax.distributed.initialize) for '
    'multi-host training. On TPU pods and SLURM, Open MPI or Kubernetes '
    'clusters JAX finds the coordinator itself; elsewhere also pass '
    '--coordinator_address, --num_processes and --process_id.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None,
    'host:port of process 0 (implies --distributed).')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Number of processes (with --distributed).')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'This process\'s index (with --distributed).')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if _DISTRIBUTED.value or _COORDINATOR.value:
    # CPU devices of different processes talk through gloo; accelerators
    # use their own collectives and ignore this.
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value,
                               process_id=_PROCESS_ID.value)
  logging.info('JAX %s, process %d of %d, devices: %s', jax.__version__,
               jax.process_index(), jax.process_count(), jax.devices())
  cli.run_from_command_line(flags.FLAGS.config, _WORKDIR.value)


if __name__ == '__main__':
  if '--verbosity' not in ' '.join(sys.argv) and '-v' not in sys.argv:
    logging.set_verbosity(logging.INFO)
  app.run(main)
