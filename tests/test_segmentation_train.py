"""The segmentation configs through the one trainer (tiny twins)."""

import json
import os

import jax
import numpy as np
import pytest

from m2vae_jax import errors
from m2vae_jax import metrics as metrics_lib
from m2vae_jax import sharding
from m2vae_jax import train
from m2vae_jax.data import pipeline
from tests.camvid_tree import make_camvid_tree
from tests.conftest import NUM_DEVICES
from tests.conftest import assert_same_step
from tests.conftest import load_config
from tests.test_voc_builder import _make_devkit


@pytest.fixture(scope='module')
def voc_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp('voc')
  _make_devkit(folder)
  return str(folder)


@pytest.fixture(scope='module')
def camvid_dir(tmp_path_factory):
  return make_camvid_tree(tmp_path_factory.mktemp('camvid'))


def _config(name, idx_dir, tfds_dir, voc_dir, camvid_dir=None,
            variant='tiny', **overrides):
  if name.startswith('voc'):
    overrides.setdefault('data.manual_dir', voc_dir)
  elif name.startswith('camvid'):
    overrides.setdefault('data.manual_dir', camvid_dir)
  else:
    overrides.setdefault('data.idx_dir', idx_dir)
  overrides.setdefault('data.tfds_data_dir', tfds_dir)
  return load_config(name, variant, **overrides)


SPLITS = {'voc': 'validation', 'camvid': 'val', 'digit': 'test'}


def check_tiny_run(name, workdir, result):
  """What every tiny segmentation run must leave in its workdir
  (camvid_baseline's: test_predict checks the run it predicts from)."""
  with open(os.path.join(workdir, 'eval.json'), encoding='utf-8') as f:
    saved = json.load(f)
  assert saved == result
  assert set(saved) >= {'step', 'split', 'miou', 'pixel_accuracy',
                        'per_class_iou'}
  num_classes = 21 if name.startswith('voc') else 11
  assert len(saved['per_class_iou']) == num_classes
  # Six steps leave the twins near chance (pixel accuracy ~1/11, measured),
  # so no floor: the scores must be those of the classes present.
  ious = [v for v in saved['per_class_iou'] if v is not None]
  assert ious and saved['miou'] == pytest.approx(np.mean(ious))
  assert saved['split'] == SPLITS[name.split('_')[0]]
  assert os.path.getsize(os.path.join(workdir, 'segmentation.png')) > 1000
  with open(os.path.join(workdir, 'metrics.jsonl'), encoding='utf-8') as f:
    last = [json.loads(line) for line in f if 'train_loss' in line][-1]
  assert np.isfinite(last['train_loss'])
  if name.endswith('m2'):
    assert np.isfinite(last['train_unlabeled_loss'])
  if name.endswith('fixmatch'):  # Every pixel kept (threshold 0, below).
    assert last['train_consistency_loss'] > 0
    assert last['train_confident_pixels'] == 1


# Settings a tiny run needs to exercise what it tests: a tiny model is never
# confident, so the consistency term would be 0 at the configs' thresholds.
TINY_OVERRIDES = {'camvid_fixmatch': {'consistency.threshold': 0.0}}


# Trained end to end: M2 and pseudo-labels on CamVid, and VOC's 21 classes
# and palette (camvid_baseline: test_predict's fixture; camvid_m2_cutmix:
# the 1-vs-8 test below).
@pytest.mark.parametrize('name', ['voc_baseline', 'camvid_m2',
                                  'camvid_fixmatch'])
def test_tiny_segmentation_run(name, idx_dir, tfds_dir, voc_dir, camvid_dir,
                               tmp_path):
  workdir = str(tmp_path / name)
  result = train.train_and_evaluate(
      _config(name, idx_dir, tfds_dir, voc_dir, camvid_dir,
              **TINY_OVERRIDES.get(name, {})), workdir)
  check_tiny_run(name, workdir, result)


def _same_shapes(a, b) -> bool:
  return jax.tree.structure(a) == jax.tree.structure(b) and all(
      (x.shape, x.dtype) == (y.shape, y.dtype)
      for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# The other twins train the networks and objectives the runs above compile
# and run, on other data; traced, not compiled, each takes seconds instead
# of the 1-3 minutes its run took (compiling the step is most of a run).
@pytest.mark.parametrize('name', ['digit_scenes_baseline', 'digit_scenes_m2',
                                  'voc_m2'])
def test_tiny_twin_traces_its_steps_on_its_data(name, idx_dir, tfds_dir,
                                                voc_dir, tmp_path):
  trainer = train.Trainer(_config(name, idx_dir, tfds_dir, voc_dir),
                          str(tmp_path / 'run'))
  c, num_classes = trainer.config, 21 if name.startswith('voc') else 11
  assert trainer.task.num_classes == num_classes
  labeled, unlabeled = trainer.host_batches(0)
  assert labeled['image'].shape == (c.batch_size, *trainer.task.image_shape)
  assert labeled['label'].shape == labeled['image'].shape[:3]
  assert set(np.unique(labeled['label'])) <= set(range(num_classes)) | {
      pipeline.VOID_LABEL}
  assert (unlabeled is not None) == (c.objective == 'm2')
  state = jax.eval_shape(trainer.init_state)
  new_state, metrics = jax.eval_shape(
      trainer.train_step, state, *trainer.put_batches(labeled, unlabeled))
  assert _same_shapes(new_state, state)
  assert {'loss', 'accuracy'} <= set(metrics)
  assert ('unlabeled_loss' in metrics) == (c.objective == 'm2')
  sums = jax.eval_shape(trainer.evaluator.eval_step, state.eval_params,
                        next(trainer.evaluator.batches()))
  assert sums['confusion'].shape == (num_classes, num_classes)


def test_segmentation_step_on_one_device_equals_eight(
    idx_dir, tfds_dir, voc_dir, camvid_dir, tmp_path):
  """One segmentation config covers the layer (batch sharding, the
  pixel sums, the shared encoder, CutMix pairs that cross devices, the
  teacher); M2 with the mean-teacher term has the most parts. It runs
  in float64: its generative networks' float32 gradients are sums of large
  terms that cancel (group norm, a coarse z), so the reduction orders the
  device count changes move them by up to 4% of an array's largest entry;
  in float64 the two agree to 7e-8 of it (measured), so any real
  difference would show. One block per backbone stage: depth is not what
  the test is about, and compiling the step twice is most of its time."""
  # Threshold 0: the tiny teacher is never confident, and the term must
  # count.
  c = _config('camvid_m2_cutmix', idx_dir, tfds_dir, voc_dir, camvid_dir,
              variant='tiny', **{'consistency.threshold': 0.0,
                                 'model.max_block_repeats': 1})
  outs, initial = [], None
  with jax.enable_x64(True):
    for n in (1, NUM_DEVICES):
      mesh = sharding.create_mesh(jax.devices()[:n])
      trainer = train.Trainer(c, str(tmp_path / f'd{n}'), mesh=mesh)
      if initial is None:  # One init for both: it is the slow compile.
        initial = jax.tree.map(
            lambda a: a.astype(np.float64) if a.dtype == np.float32 else a,
            jax.device_get(trainer.init_state()))
      state = sharding.put_replicated(initial, mesh)
      batches = trainer.put_batches(*trainer.host_batches(0))
      outs.append(jax.device_get(trainer.train_step(state, *batches)))
  assert jax.tree.leaves(outs[0][0].params)[0].dtype == np.float64
  assert float(outs[0][1]['consistency_loss'][0]) > 0
  assert_same_step(*outs, rtol=1e-7)


def test_enumeration_is_refused_for_segmentation(idx_dir, tfds_dir, voc_dir,
                                                 tmp_path):
  c = _config('digit_scenes_m2', idx_dir, tfds_dir, voc_dir,
              estimator='enumerate')
  with pytest.raises(errors.ConfigError, match="'gumbel' or 'straight_thro"):
    train.Trainer(c, str(tmp_path / 'x'))
  assert not (tmp_path / 'x').exists()


@pytest.mark.parametrize('name', ['digit_scenes_m2', 'camvid_m2'])
def test_predict_gives_the_pixels_evaluate_scores(name, idx_dir, tfds_dir,
                                                  voc_dir, camvid_dir,
                                                  tmp_path):
  trainer = train.Trainer(
      _config(name, idx_dir, tfds_dir, voc_dir, camvid_dir),
      str(tmp_path / 'run'))
  params = trainer.init_state().params
  predicted = trainer.evaluator.predict(params)
  masks = trainer.data.eval['label']
  # CamVid: predicted at the masks' 360x480, not the networks' input size.
  assert predicted.shape == masks.shape[:3]
  scores = metrics_lib.segmentation_scores(
      metrics_lib.confusion_matrix(masks, predicted, 11))
  result = trainer.evaluator.evaluate(params)
  for k in ('miou', 'pixel_accuracy'):
    assert scores[k] == pytest.approx(result[k], abs=1e-12)
