"""tools/saved_run: a trained run restored and studied again."""

import dataclasses
import json
import os

import numpy as np
import pytest

from m2vae_jax import train
from m2vae_jax.errors import ConfigError
from tests.conftest import load_config
from tools import saved_run


@pytest.fixture(name='trained', scope='module')
def trained_fixture(idx_dir, tfds_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  config = load_config('mnist_m2', **{'data.idx_dir': idx_dir,
                                      'data.tfds_data_dir': tfds_dir,
                                      'ema_decay': 0.9})
  train.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, 'eval.json'), encoding='utf-8') as f:
    return workdir, json.load(f)


def test_restored_run_scores_what_its_eval_json_says(trained):
  workdir, saved = trained
  run = saved_run.restore(workdir)
  assert run.step == saved['step']
  result = saved_run.evaluate_translated(run, 0, 0)
  assert result['accuracy'] == saved['accuracy']
  assert result['confusion'] == saved['confusion']


def test_translation_moves_the_digits_and_leaves_the_split_as_it_was(trained):
  run = saved_run.restore(trained[0])
  before = run.data.eval['image'].copy()
  # Moved out of the frame every image is blank: one prediction for all.
  blank = saved_run.evaluate_translated(run, 28, 0)
  predicted = np.asarray(blank['confusion']).sum(0)
  assert np.count_nonzero(predicted) == 1
  np.testing.assert_array_equal(run.data.eval['image'], before)


def test_a_folder_without_a_run_or_checkpoint_says_so(trained, tmp_path):
  with pytest.raises(ConfigError, match='no config.json'):
    saved_run.restore(str(tmp_path))
  for name in ('config.json', 'task.json'):
    with open(os.path.join(trained[0], name), encoding='utf-8') as f:
      (tmp_path / name).write_text(f.read(), encoding='utf-8')
  with pytest.raises(ConfigError, match='holds no checkpoint'):
    saved_run.restore(str(tmp_path))


def test_a_shift_that_is_not_dy_dx_is_refused():
  assert saved_run.parse_shift('-1:2') == (-1, 2)
  with pytest.raises(ConfigError, match="'1,2' is not dy:dx"):
    saved_run.parse_shift('1,2')


def test_predictions_give_the_confusion_matrix_of_eval_json(trained):
  workdir, saved = trained
  run = saved_run.restore(workdir)
  given = run.evaluator.predict(run.params)
  labels = run.data.eval['label']
  confusion = np.zeros((10, 10), int)
  np.add.at(confusion, (labels, given), 1)
  assert confusion.tolist() == saved['confusion']
  for t, p in ((0, 1), (3, 3)):
    found = saved_run.mistaken(labels, given, t, p)
    assert len(found) == saved['confusion'][t][p]
    assert np.all(labels[found] == t) and np.all(given[found] == p)


def test_tile_lays_images_out_row_by_row():
  images = np.arange(1, 6)[:, None, None] * np.ones((5, 2, 3), int)
  grid = saved_run.tile(images, columns=2)
  assert grid.shape == (3 * 3, 2 * 4)
  assert grid[0, 0] == 1 and grid[0, 4] == 2 and grid[3, 0] == 3
  assert grid[6, 0] == 5 and grid[6, 4] == 0  # the last row is padded.


def test_scripts_for_classifiers_refuse_a_segmentation_run(trained,
                                                           monkeypatch):
  run = saved_run.restore(trained[0])
  assert saved_run.restore_classifier(trained[0]).task == run.task
  segmenting = dataclasses.replace(
      run, run=dataclasses.replace(
          run.run, task=dataclasses.replace(run.task, segmentation=True)))
  monkeypatch.setattr(saved_run, 'restore', lambda *_: segmenting)
  with pytest.raises(ConfigError, match='holds a segmentation run'):
    saved_run.restore_classifier('workdirs/seg')
