"""tools/labeled_draws, run as a user types it (its flags would clash
with other benchmark scripts' in this process)."""

import re
import subprocess
import sys

import numpy as np

from m2vae_jax import data as data_lib
from m2vae_jax.data import mnist
from m2vae_jax.data import pipeline
from tests.conftest import REPO
from tests.conftest import load_config
from tests.conftest import subprocess_env


def _labeled_draws(*flags):
  env = subprocess_env()
  return subprocess.run(
      [sys.executable, '-m', 'tools.labeled_draws',
       '--config=configs/mnist_sdgm.py:tiny', *flags],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
      check=False)


def test_each_seed_shows_the_labels_its_run_is_given(idx_dir, tfds_dir,
                                                     tmp_path):
  out = tmp_path / 'draws.png'
  done = _labeled_draws(f'--config.data.idx_dir={idx_dir}',
                        f'--config.data.tfds_data_dir={tfds_dir}',
                        '--seeds=0-1,4', '--label_class=3', f'--out={out}')
  assert done.returncode == 0, done.stderr
  printed = dict(re.findall(r'seed (\d+): 3s at (\[.*\])', done.stdout))
  assert list(printed) == ['0', '1', '4']
  data = data_lib.load_task_data(load_config('mnist_sdgm', **{
      'data.idx_dir': idx_dir}).data)
  for seed, indices in printed.items():
    config = load_config('mnist_sdgm', seed=int(seed),
                         **{'data.idx_dir': idx_dir})
    ours = pipeline.labeled_indices(config, data)
    assert indices == str(ours[data.train['label'][ours] == 3].tolist())
  assert printed['0'] != printed['1']
  assert out.stat().st_size > 1000


def test_bad_seeds_or_class_are_named(idx_dir):
  done = _labeled_draws(f'--config.data.idx_dir={idx_dir}', '--seeds=0-x',
                        '--label_class=3')
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1] == (
      "error: --seeds: '0-x' is not like 0-9 or 0,3,5")
  done = _labeled_draws(f'--config.data.idx_dir={idx_dir}', '--label_class=10')
  assert done.stderr.strip().splitlines()[-1] == (
      'error: --label_class=10 is not a class (0-9)')


def test_given_labels_are_what_every_seed_shows(idx_dir, tfds_dir, tmp_path):
  config = load_config('mnist_sdgm', **{'data.idx_dir': idx_dir})
  data = data_lib.load_task_data(config.data)
  labels = data.train['label']
  drawn = pipeline.labeled_indices(config, data)
  # Seed 0's draw with its first 3 swapped for a 3 it left out, typed as a
  # user types a tuple on the command line.
  threes = drawn[labels[drawn] == 3]
  spare = np.setdiff1d(np.flatnonzero(labels == 3), threes)[0]
  given = np.sort(np.concatenate([drawn[drawn != threes[0]], [spare]]))
  typed = ','.join(str(i) for i in given)
  done = _labeled_draws(f'--config.data.idx_dir={idx_dir}',
                        f'--config.data.tfds_data_dir={tfds_dir}',
                        f'--config.data.labeled_indices=({typed})',
                        '--seeds=0,1', '--label_class=3',
                        f'--out={tmp_path / "given.png"}')
  assert done.returncode == 0, done.stderr
  expected = str(sorted([int(spare)] + threes[1:].tolist()))
  assert re.findall(r'seed \d+: 3s at (\[.*\])', done.stdout) == [expected] * 2


def test_file_positions_are_translated_to_the_loaders(idx_dir, tfds_dir):
  file_indices = [150, 3, 77]
  done = _labeled_draws(f'--config.data.idx_dir={idx_dir}',
                        f'--config.data.tfds_data_dir={tfds_dir}',
                        '--file_indices=' + ','.join(map(str, file_indices)))
  assert done.returncode == 0, done.stderr
  printed = [int(i) for i in re.findall(r'loader index (\d+)', done.stdout)]
  data = data_lib.load_task_data(load_config('mnist_sdgm', **{
      'data.idx_dir': idx_dir}).data)
  file_images, file_labels = mnist.read_idx_split(
      *mnist.idx_files(idx_dir)['train'])
  np.testing.assert_array_equal(data.train['image'][printed],
                                file_images[file_indices])
  np.testing.assert_array_equal(data.train['label'][printed],
                                file_labels[file_indices])
  assert printed != file_indices  # TFDS's order is not the file's.
  assert done.stdout.strip().splitlines()[-1] == (
      '--config.data.labeled_indices="(' +
      ','.join(map(str, sorted(printed))) + ')"')
  done = _labeled_draws(f'--config.data.idx_dir={idx_dir}',
                        f'--config.data.tfds_data_dir={tfds_dir}',
                        '--file_indices=3,200')
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1] == (
      'error: file index 200 is not in 0-199')
