"""The segmentation configs through the one trainer (tiny twins)."""

import json
import os

import jax
import numpy as np
import pytest

from m2vae_jax import metrics as metrics_lib
from m2vae_jax import sharding
from m2vae_jax import train
from tests.conftest import NUM_DEVICES
from tests.conftest import assert_same_step
from tests.conftest import load_config
from tests.test_voc_builder import _make_devkit


@pytest.fixture(scope='module')
def voc_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp('voc')
  _make_devkit(folder)
  return str(folder)


def _config(name, idx_dir, tfds_dir, voc_dir, **overrides):
  if name.startswith('voc'):
    overrides.setdefault('data.manual_dir', voc_dir)
  else:
    overrides.setdefault('data.idx_dir', idx_dir)
  overrides.setdefault('data.tfds_data_dir', tfds_dir)
  return load_config(name, **overrides)


@pytest.mark.parametrize('name', ['digit_scenes_baseline', 'digit_scenes_m2',
                                  'voc_baseline', 'voc_m2'])
def test_tiny_segmentation_run(name, idx_dir, tfds_dir, voc_dir, tmp_path):
  workdir = str(tmp_path / name)
  result = train.train_and_evaluate(
      _config(name, idx_dir, tfds_dir, voc_dir), workdir)
  with open(os.path.join(workdir, 'eval.json'), encoding='utf-8') as f:
    saved = json.load(f)
  assert saved == result
  assert set(saved) >= {'step', 'split', 'miou', 'pixel_accuracy',
                        'per_class_iou'}
  num_classes = 21 if name.startswith('voc') else 11
  assert len(saved['per_class_iou']) == num_classes
  assert 0.0 <= saved['miou'] <= 1.0
  assert saved['split'] == ('validation' if name.startswith('voc')
                            else 'test')
  assert os.path.getsize(os.path.join(workdir, 'segmentation.png')) > 1000
  with open(os.path.join(workdir, 'metrics.jsonl'), encoding='utf-8') as f:
    last = [json.loads(line) for line in f if 'train_loss' in line][-1]
  assert np.isfinite(last['train_loss'])
  if name.endswith('m2'):
    assert np.isfinite(last['train_unlabeled_loss'])


def test_segmentation_step_on_one_device_equals_eight(idx_dir, tfds_dir,
                                                      voc_dir, tmp_path):
  c = _config('digit_scenes_m2', idx_dir, tfds_dir, voc_dir)
  outs, initial = [], None
  for n in (1, NUM_DEVICES):
    mesh = sharding.create_mesh(jax.devices()[:n])
    trainer = train.Trainer(c, str(tmp_path / f'd{n}'), mesh=mesh)
    if initial is None:  # One init for both: it is the slow compile.
      initial = jax.device_get(trainer.init_state())
    state = sharding.put_replicated(initial, mesh)
    batches = trainer._put(*trainer._host_batches(0))  # pylint: disable=protected-access
    outs.append(jax.device_get(trainer.train_step(state, *batches)))
  assert_same_step(*outs)


def test_enumeration_is_refused_for_segmentation(idx_dir, tfds_dir, voc_dir,
                                                 tmp_path):
  c = _config('digit_scenes_m2', idx_dir, tfds_dir, voc_dir,
              estimator='enumerate')
  with pytest.raises(train.ConfigError, match="'gumbel' or 'straight_thro"):
    train.Trainer(c, str(tmp_path / 'x'))
  assert not (tmp_path / 'x').exists()


def test_predict_gives_the_pixels_evaluate_scores(idx_dir, tfds_dir, voc_dir,
                                                  tmp_path):
  trainer = train.Trainer(
      _config('digit_scenes_m2', idx_dir, tfds_dir, voc_dir),
      str(tmp_path / 'run'))
  params = trainer.init_state().params
  predicted = trainer.predict(params)
  masks = trainer.data.eval['label']
  assert predicted.shape == masks.shape[:3]
  scores = metrics_lib.segmentation_scores(
      metrics_lib.confusion_matrix(masks, predicted, 11))
  result = trainer.evaluate(params)
  for k in ('miou', 'pixel_accuracy'):
    assert scores[k] == pytest.approx(result[k], abs=1e-12)
