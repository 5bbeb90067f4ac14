"""data.arrays_file: exported arrays give the same run, without TF."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from m2vae_jax import data as data_lib
from m2vae_jax import train
from m2vae_jax.data import arrays
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError
from tests.camvid_tree import make_camvid_tree
from tests.conftest import REPO
from tests.conftest import load_config
from tests.conftest import subprocess_env


def _config(idx_dir, tfds_dir, **overrides):
  return load_config('mnist_m2', **{'data.idx_dir': idx_dir,
                                    'data.tfds_data_dir': tfds_dir,
                                    **overrides})


def test_export_then_load_gives_back_the_task_data(idx_dir, tfds_dir,
                                                    tmp_path):
  config = _config(idx_dir, tfds_dir)
  task = data_lib.load_task_data(config.data)
  path = str(tmp_path / 'arrays.npz')
  arrays.export(task, config.data, path)
  assert os.listdir(tmp_path) == ['arrays.npz']  # No temporary file left.
  # Fields the trainer applies after loading may change; where the data
  # come from (idx_dir) is a runtime field.
  moved = _config('/elsewhere', '',
                  **{'data.num_labeled': 30, 'data.binarize': False})
  again = arrays.load(path, moved.data)
  assert (again.num_classes, again.eval_split, again.unlabeled) == (
      task.num_classes, task.eval_split, None)
  for part in ('train', 'eval'):
    want, got = getattr(task, part), getattr(again, part)
    assert sorted(got) == sorted(want)
    for name in want:
      np.testing.assert_array_equal(got[name], want[name])
      assert got[name].dtype == want[name].dtype


def test_load_refuses_arrays_of_other_data(idx_dir, tfds_dir, tmp_path):
  config = _config(idx_dir, tfds_dir)
  path = str(tmp_path / 'arrays.npz')
  arrays.export(data_lib.load_task_data(config.data), config.data, path)
  other = _config(idx_dir, tfds_dir, **{'data.eval_split': 'train'})
  with pytest.raises(ConfigError, match=r"data.eval_split: 'test' in the "
                     r"file, 'train' in the config\); export it again"):
    arrays.load(path, other.data)


def test_load_takes_arrays_exported_before_a_field_existed(idx_dir, tfds_dir,
                                                         tmp_path):
  config = _config(idx_dir, tfds_dir)
  path = str(tmp_path / 'arrays.npz')
  arrays.export(data_lib.load_task_data(config.data), config.data, path)
  # Drop a field from the file's record, as an export by an older library
  # would have written it: it counts as its default.
  with np.load(path) as f:
    parts = {k: f[k] for k in f.files}
  meta = json.loads(str(parts['meta']))
  del meta['data']['data.scene_seed']
  # And one that files once recorded and the comparison now leaves out.
  meta['data']['data.labeled_shift'] = 0
  parts['meta'] = np.array(json.dumps(meta))
  np.savez_compressed(path, **parts)
  assert arrays.load(path, config.data).num_classes == 10
  with pytest.raises(ConfigError, match='data.scene_seed: 0 in the file, 5'):
    arrays.load(path, _config(idx_dir, tfds_dir,
                                    **{'data.scene_seed': 5}).data)
  # Augmenting the labeled batch happens after loading: the same arrays.
  shifted = _config(idx_dir, tfds_dir, **{'data.labeled_shift': 1,
                                          'data.labeled_shear': 0.3})
  assert arrays.load(path, shifted.data).num_classes == 10


@pytest.mark.parametrize('content', [None, b'not an npz file'])
def test_load_names_a_missing_or_foreign_file(content, idx_dir, tfds_dir,
                                               tmp_path):
  path = tmp_path / 'arrays.npz'
  if content is not None:
    path.write_bytes(content)
  with pytest.raises(DataError, match=r'cannot read data.arrays_file=.*'
                     r'arrays\.npz .*; write it with python -m '
                     r'experiments.export_data'):
    arrays.load(str(path), _config(idx_dir, tfds_dir).data)


def test_training_from_arrays_is_the_same_run(idx_dir, tfds_dir, tmp_path,
                                              monkeypatch):
  config = _config(idx_dir, tfds_dir, figures=False)
  path = str(tmp_path / 'arrays.npz')
  arrays.export(data_lib.load_task_data(config.data), config.data, path)
  direct = train.train_and_evaluate(config, str(tmp_path / 'direct'))
  # The loader of the data set is never asked.
  monkeypatch.setitem(data_lib.LOADERS, 'mnist', None)
  config.data.arrays_file = path
  offline = train.train_and_evaluate(config, str(tmp_path / 'offline'))
  assert offline == direct


def test_command_line_trains_where_tensorflow_cannot_be_imported(
    idx_dir, tfds_dir, tmp_path):
  path, workdir = str(tmp_path / 'arrays.npz'), str(tmp_path / 'run')
  flags = ['--config=configs/mnist_m2.py:tiny', '--config.figures=False']
  run = lambda code, *more: subprocess.run(
      [sys.executable, '-c', code, *flags, *more], cwd=REPO,
      env=subprocess_env(), capture_output=True, text=True, timeout=300,
      check=False)
  exported = run('from absl import app; from experiments import export_data;'
                 ' app.run(export_data.main)', f'--out={path}',
                 f'--config.data.idx_dir={idx_dir}',
                 f'--config.data.tfds_data_dir={tfds_dir}')
  assert exported.returncode == 0, exported.stderr[-2000:]
  # As on a machine without TensorFlow: importing it fails.
  trained = run("import sys; sys.modules['tensorflow'] = None; "
                "sys.modules['tensorflow_datasets'] = None; "
                'from absl import app; from experiments import train; '
                'app.run(train.main)', f'--workdir={workdir}',
                f'--config.data.arrays_file={path}')
  assert trained.returncode == 0, trained.stderr[-2000:]
  with open(os.path.join(workdir, 'eval.json'), encoding='utf-8') as f:
    assert json.load(f)['step'] == 6


def test_camvid_arrays_keep_the_training_size_and_palette(tfds_dir,
                                                          tmp_path):
  config = load_config('camvid_baseline', **{
      'data.manual_dir': make_camvid_tree(tmp_path / 'cv'),
      'data.tfds_data_dir': tfds_dir})
  task = data_lib.load_task_data(config.data)
  path = str(tmp_path / 'arrays.npz')
  arrays.export(task, config.data, path)
  again = arrays.load(path, config.data)
  assert again.input_hw == task.input_hw == (24, 32)
  np.testing.assert_array_equal(again.palette, task.palette)
  assert again.eval['label'].shape == task.eval['label'].shape
