"""The command line a user types: bad input, and a kill followed by a rerun.

Every bad input stops before the first training step with one line naming
the field or file, no traceback, and nothing written to the workdir.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from m2vae_jax import cli
from m2vae_jax import train
from m2vae_jax.errors import UserError
from tests.conftest import REPO
from tests.conftest import load_config
from tests.conftest import make_idx_dir
from tests.conftest import subprocess_env
from tests.conftest import write_idx


def _cli(workdir, *flags, devices=1, timeout=300):
  env = subprocess_env(devices)
  cmd = [sys.executable, '-m', 'experiments.train',
         '--config=configs/mnist_m2.py:tiny', f'--workdir={workdir}', *flags]
  return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=timeout, check=False)


@pytest.fixture(name='bad_idx')
def bad_idx_fixture(tmp_path):
  """Makes an IDX folder and damages it in one of the ways users do."""
  def make(damage):
    folder = make_idx_dir(tmp_path / f'idx_{damage}', n_train=100, n_test=20)
    path = os.path.join(folder, 'train-labels-idx1-ubyte.gz')
    if damage == 'magic':
      write_idx(path, np.zeros(100, np.uint8), 2051)
    elif damage == 'truncated':
      with open(path, 'rb') as f:
        data = f.read()
      with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    return folder
  return make


@pytest.mark.parametrize('overrides, message', [
    ({'data.idx_dir': '/no/such/folder'},
     "data.idx_dir='/no/such/folder' is not a folder"),
    ({'data.num_labeled': 300},
     'data.num_labeled=300 asks for 30 labels per class but class 0 has '
     'only 20'),
    ({'batch_size': 12}, 'batch_size=12 must be a positive multiple of'),
    ({'unlabeled_batch_size': 4},
     'unlabeled_batch_size=4 must be a positive multiple of'),
    ({'objective': 'm3'}, "objective='m3' is not one of"),
    ({'estimator': 'reinforce'}, "estimator='reinforce' is not one of"),
    ({'model.name': 'resnet'}, "model.name='resnet' is not one of"),
    ({'model.norm': 'batch'}, "model.norm='batch' is not one of"),
    ({'model.weight_init': 'glorot'},
     "model.weight_init='glorot' is not one of"),
    ({'ema_decay': 1.0}, r'ema_decay=1.0 must be in \[0, 1\)'),
    ({'marginal_weight': -1.0}, r'marginal_weight=-1.0 must be >= 0'),
    ({'entropy_weight': -0.5}, r'entropy_weight=-0.5 must be >= 0'),
    ({'entropy_weight': 0.5, 'objective': 'supervised'},
     "entropy_weight=0.5 applies to objective='m2' only"),
    ({'lr_schedule': 'step'},
     'lr_schedule=step needs lr_decay_every_steps > 0, got 0'),
])
def test_bad_settings_stop_before_training(overrides, message, idx_dir,
                                           tfds_dir, tmp_path):
  overrides = {'data.idx_dir': idx_dir, 'data.tfds_data_dir': tfds_dir,
               **overrides}
  workdir = tmp_path / 'w'
  with pytest.raises(UserError, match=message.replace('(', r'\(')) as e:
    train.train_and_evaluate(load_config('mnist_m2', **overrides),
                             str(workdir))
  assert '\n' not in str(e.value)
  assert not workdir.exists()


def test_mlp_only_setting_is_refused_for_deeplab(idx_dir, tfds_dir,
                                                  tmp_path):
  config = load_config('digit_scenes_m2', **{
      'data.idx_dir': idx_dir, 'data.tfds_data_dir': tfds_dir,
      'model.weight_init': 'maaloe'})
  workdir = tmp_path / 'w'
  with pytest.raises(UserError, match="model.weight_init='maaloe' applies "
                     'to the MLP models only'):
    train.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


def test_marginal_weight_is_refused_for_segmentation(idx_dir, tfds_dir,
                                                     tmp_path):
  config = load_config('digit_scenes_m2', **{
      'data.idx_dir': idx_dir, 'data.tfds_data_dir': tfds_dir,
      'marginal_weight': 1.0})
  workdir = tmp_path / 'w'
  with pytest.raises(UserError, match='marginal_weight constrains the class '
                     'frequencies of one categorical y per image'):
    train.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


@pytest.mark.parametrize('damage, message', [
    ('magic', 'has magic number 2051, expected 2049'),
    ('truncated', 'cannot read IDX file|truncated'),
])
def test_bad_idx_files_stop_before_training(damage, message, bad_idx,
                                            tfds_dir, tmp_path):
  folder = bad_idx(damage)
  workdir = tmp_path / 'w'
  with pytest.raises(UserError, match=message) as e:
    train.train_and_evaluate(
        load_config('mnist_m2', **{'data.idx_dir': folder,
                                   'data.tfds_data_dir': tfds_dir}),
        str(workdir))
  assert 'train-labels-idx1-ubyte.gz' in str(e.value)
  assert not workdir.exists()


@pytest.mark.parametrize('flag, message', [
    ('--config.data.idx_dir=/no/such/folder',
     "error: data.idx_dir='/no/such/folder' is not a folder"),
    ('--config.batch_size=12', 'error: batch_size=12 must be a positive '
     'multiple of the 8 devices'),
])
def test_cli_prints_one_line_without_traceback(flag, message, tmp_path,
                                               tfds_dir):
  workdir = tmp_path / 'w'
  out = _cli(workdir, flag, f'--config.data.tfds_data_dir={tfds_dir}',
             devices=8)
  assert out.returncode == 2, out.stderr[-2000:]
  assert 'Traceback' not in out.stderr
  assert out.stderr.strip().splitlines()[-1] == message
  assert not workdir.exists()


@pytest.mark.usefixtures('network_unreachable')
def test_first_run_without_network_ends_in_one_line(tmp_path, capsys):
  """`make run` on a machine that cannot reach the MNIST download."""
  config = load_config('mnist_m2',
                       **{'data.tfds_data_dir': str(tmp_path / 'tfds')})
  with pytest.raises(SystemExit) as e:
    cli.run_from_command_line(config, str(tmp_path / 'w'))
  assert e.value.code == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert lines[-1].startswith('error: MNIST is not prepared in ')
  assert '--config.data.idx_dir=DIR' in lines[-1]
  assert 'Traceback' not in '\n'.join(lines)
