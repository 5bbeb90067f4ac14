"""The consistency terms (mean teacher, pseudo-labels) against brute force,
and the objective that adds them: masks, mixing, confidence, stopped
gradients, the teacher each kind reads."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from m2vae_jax import config_checks
from m2vae_jax import consistency
from m2vae_jax import default_config
from m2vae_jax import objectives
from m2vae_jax import sharding
from m2vae_jax.errors import ConfigError
from m2vae_jax.task import Task
from tests.conftest import load_config


def test_cutmix_masks_are_one_box_of_the_asked_area():
  h, w, n = 64, 80, 400
  masks = np.asarray(consistency.cutmix_masks(jax.random.key(0), n, h, w,
                                              area=(0.25, 0.5)))
  assert masks.shape == (n, h, w) and set(np.unique(masks)) == {0.0, 1.0}
  rows, cols = masks.any(axis=2), masks.any(axis=1)
  # One rectangle: the mask is the outer product of its rows and columns,
  # each a contiguous run.
  np.testing.assert_array_equal(masks, rows[:, :, None] & cols[:, None, :])
  for run in [*rows, *cols]:
    (where,) = np.nonzero(run)
    assert where[-1] - where[0] + 1 == where.size
  fraction = masks.mean(axis=(1, 2))
  clipped = (rows.sum(1) == h) | (cols.sum(1) == w)
  # Rounding each side to a whole pixel moves the area by < 1/h + 1/w.
  tol = 1 / h + 1 / w
  assert np.all(fraction <= 0.5 + tol)
  assert np.all(fraction[~clipped] >= 0.25 - tol)
  assert clipped.mean() < 0.5
  # Boxes land everywhere, edges included.
  assert rows[:, 0].any() and rows[:, -1].any() and cols[:, 0].any()
  assert cols[:, -1].any() and not rows[:, 0].all()
  again = consistency.cutmix_masks(jax.random.key(0), n, h, w)
  np.testing.assert_array_equal(masks, again)


@pytest.mark.parametrize('trailing', [(), (3,)])
def test_mix_pastes_the_previous_example_inside_the_box(trailing):
  rng = np.random.default_rng(0)
  values = rng.normal(size=(4, 5, 6, *trailing)).astype(np.float32)
  masks = rng.integers(0, 2, (4, 5, 6)).astype(np.float32)
  mixed = np.asarray(consistency.mix(values, masks))
  for i in range(4):
    for y in range(5):
      for x in range(6):
        source = values[i - 1] if masks[i, y, x] else values[i]
        np.testing.assert_array_equal(mixed[i, y, x], source[y, x])


def test_colour_jitter_is_identity_at_zero_and_scales_grey_by_brightness():
  rng = np.random.default_rng(1)
  images = jnp.asarray(rng.uniform(size=(6, 8, 8, 3)), jnp.float32)
  np.testing.assert_allclose(
      consistency.colour_jitter(jax.random.key(0), images, 0.0), images,
      atol=1e-6)
  jittered = np.asarray(consistency.colour_jitter(jax.random.key(0), images,
                                                  0.5))
  assert jittered.min() >= 0 and jittered.max() <= 1
  assert np.abs(jittered - np.asarray(images)).mean() > 0.01
  # A flat grey image has no contrast or saturation to change: only the
  # brightness factor, in [0.5, 1.5], scales it, one factor per image.
  grey = jnp.full((50, 4, 4, 3), 0.4)
  out = np.asarray(consistency.colour_jitter(jax.random.key(1), grey, 0.5))
  factors = out[:, 0, 0, 0] / 0.4
  np.testing.assert_allclose(out, out[:, :1, :1, :1] * np.ones_like(out),
                             atol=1e-6)
  assert factors.min() >= 0.5 - 1e-6 and factors.max() <= 1.5 + 1e-6
  assert factors.std() > 0.1


def _softmax(logits):
  e = np.exp(logits - logits.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


@pytest.fixture(name='pair')
def pair_fixture():
  rng = np.random.default_rng(2)
  student = rng.normal(size=(3, 4, 5, 6)).astype(np.float32)
  teacher = (rng.normal(size=(3, 4, 5, 6)) * 3).astype(np.float32)
  return student, teacher


def test_confidence_mask_by_brute_force(pair):
  _, teacher = pair
  kept = np.asarray(consistency.confident(teacher, 0.8))
  np.testing.assert_array_equal(kept, _softmax(teacher).max(-1) >= 0.8)
  assert 0 < kept.mean() < 1
  assert np.all(np.asarray(consistency.confident(teacher, 0.0)) == 1)


def test_mean_teacher_loss_by_brute_force(pair):
  student, teacher = pair
  got = np.asarray(consistency.mean_teacher_loss(student, teacher, 0.8))
  p, q = _softmax(student), _softmax(teacher)
  kept = q.max(-1) >= 0.8
  expected = (((p - q) ** 2).sum(-1) * kept).sum((1, 2))
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  np.testing.assert_allclose(
      consistency.mean_teacher_loss(teacher, teacher, 0.0), 0, atol=1e-6)


def test_pseudo_label_loss_by_brute_force(pair):
  student, teacher = pair
  got = np.asarray(consistency.pseudo_label_loss(student, teacher, 0.8))
  log_p = np.log(_softmax(student))
  q = _softmax(teacher)
  target = q.argmax(-1)
  picked = np.take_along_axis(log_p, target[..., None], -1)[..., 0]
  expected = (-picked * (q.max(-1) >= 0.8)).sum((1, 2))
  np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize('loss', sorted(consistency.LOSSES))
def test_no_gradient_reaches_the_teacher(pair, loss):
  student, teacher = pair
  fn = consistency.LOSSES[loss]
  total = lambda s, t: jnp.sum(fn(s, t, 0.5))
  g_student, g_teacher = jax.grad(total, argnums=(0, 1))(student, teacher)
  assert np.all(np.asarray(g_teacher) == 0)
  assert np.abs(np.asarray(g_student)).max() > 0
  # Pixels the teacher is unsure of send nothing to the student either.
  unsure = _softmax(teacher).max(-1) < 0.5
  assert unsure.any()
  assert np.all(np.asarray(g_student)[unsure] == 0)


class _PerPixel(nn.Module):
  """A 1x1 convolution: its prediction of a mixed image is the mix of its
  predictions, which makes the consistency terms' values known."""

  @nn.compact
  def classify(self, x):
    return nn.Conv(4, (1, 1))(x)


def _config(kind, **consistency_fields):
  c = default_config.get_default_config()
  c.objective = 'supervised'
  c.data.binarize = False
  c.consistency.kind = kind
  c.consistency.update(consistency_fields)
  return c


def _term(config, params, teacher, images, key=0):
  return objectives.consistency_term(
      params, {'image': images}, jax.random.key(key), model=_PerPixel(),
      config=config, teacher=teacher)


@pytest.fixture(name='per_pixel')
def per_pixel_fixture():
  model = _PerPixel()
  x = jnp.zeros((1, 8, 8, 3))
  student = model.init(jax.random.key(0), x, method='classify')
  teacher = model.init(jax.random.key(1), x, method='classify')
  images = jnp.asarray(np.random.default_rng(3).integers(
      0, 256, (4, 8, 8, 3)), jnp.uint8)
  return student, teacher, images


def test_mean_teacher_term_reads_the_teacher_and_mixes_inputs_and_targets_alike(
    per_pixel):
  student, teacher, images = per_pixel
  config = _config('mean_teacher', threshold=0.0)
  # Student == teacher: the student's prediction of the mixed images is the
  # teacher's predictions mixed by the same boxes, so the term is 0.
  loss, kept = _term(config, student, student, images)
  np.testing.assert_allclose(loss, 0, atol=1e-6)
  np.testing.assert_array_equal(kept, 1)
  loss, _ = _term(config, student, teacher, images)
  assert np.all(np.asarray(loss) > 0)
  grads = jax.grad(lambda s, t: jnp.sum(_term(config, s, t, images)[0]),
                   argnums=(0, 1))(student, teacher)
  assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grads[1]))
  assert any(np.abs(np.asarray(g)).max() > 0
             for g in jax.tree.leaves(grads[0]))


def test_pseudo_label_term_is_the_students_own_argmax(per_pixel):
  student, teacher, images = per_pixel
  config = _config('pseudo_label', threshold=0.0)
  loss, _ = _term(config, student, teacher, images)
  # The teacher is the student: passing another teacher changes nothing.
  np.testing.assert_allclose(_term(config, student, None, images)[0], loss)
  # Without jitter, per pixel the student is scored on its own argmax:
  # -log of its largest probability, at each pixel of the mixed image (the
  # boxes drawn from the key as consistency_term draws them).
  x = images.astype(jnp.float32) / 255
  log_p = jax.nn.log_softmax(_PerPixel().apply(student, x, method='classify'))
  _, k_boxes, _ = jax.random.split(jax.random.key(0), 3)
  masks = consistency.cutmix_masks(k_boxes, 4, 8, 8, area=(0.25, 0.5))
  assert 0 < float(masks.mean()) < 1
  expected = consistency.mix(-jnp.max(log_p, -1), masks).sum((1, 2))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  # With a threshold above every confidence nothing is kept.
  loss, kept = _term(_config('pseudo_label', threshold=0.99), student, None,
                     images)
  np.testing.assert_array_equal(loss, 0)
  np.testing.assert_array_equal(kept, 0)


def test_the_objective_adds_the_weighted_term_and_its_metrics(per_pixel):
  student, teacher, images = per_pixel
  config = _config('mean_teacher', threshold=0.0, weight=3.0)
  labels = jnp.zeros((4, 8, 8), jnp.int32)
  task = Task(num_classes=4, image_shape=(8, 8, 3), segmentation=True)
  key = jax.random.key(5)
  combined = objectives.with_consistency(objectives.supervised_objective)
  loss, metrics = combined(
      student, {'image': images, 'label': labels}, {'image': images}, key,
      jnp.asarray(0), model=_PerPixel(), config=config, task=task,
      teacher=teacher)
  k_objective, k_consistency = jax.random.split(key)
  base, _ = objectives.supervised_objective(
      student, {'image': images, 'label': labels}, None, k_objective,
      jnp.asarray(0), model=_PerPixel(), config=config, task=task)
  term, _ = objectives.consistency_term(
      student, {'image': images}, k_consistency, model=_PerPixel(),
      config=config, teacher=teacher)
  assert np.all(np.asarray(term) > 0)
  np.testing.assert_allclose(loss, base + 3.0 * jnp.mean(term), rtol=1e-6)
  assert set(metrics) >= {'consistency_loss', 'confident_pixels',
                          'classification_loss'}


@pytest.mark.parametrize('fields, message', [
    (dict(kind='cutout'), "consistency.kind='cutout' is not one of"),
    (dict(kind='mean_teacher'), 'set ema_decay > 0'),
    (dict(kind='pseudo_label', threshold=1.0), 'must be in [0, 1)'),
    (dict(kind='pseudo_label', cutmix_area=(0.5, 0.2)),
     'consistency.cutmix_area=(0.5, 0.2) must be (low, high)'),
    (dict(kind='pseudo_label', colour_jitter=-0.1), 'colour_jitter=-0.1'),
])
def test_bad_consistency_settings_are_refused(fields, message):
  config = _config(**fields)
  with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(
      ')', r'\)').replace('[', r'\[')):
    config_checks.validate_config(config, sharding.create_mesh())


def test_consistency_is_refused_for_classification():
  config = _config('pseudo_label')
  task = Task(num_classes=10, image_shape=(28, 28, 1), segmentation=False)
  with pytest.raises(ConfigError, match='applies to segmentation'):
    config_checks.validate_for_task(config, task)


@pytest.mark.parametrize('name, variant, kind, teacher', [
    ('camvid_meanteacher', '', 'mean_teacher', True),
    ('camvid_fixmatch', '', 'pseudo_label', False),
    ('camvid_m2_cutmix', '', 'mean_teacher', True),
    ('camvid_m2_cutmix', 'pseudo_label', 'pseudo_label', False),
])
def test_the_consistency_configs_and_their_twins_are_valid(name, variant,
                                                           kind, teacher):
  mesh = sharding.create_mesh()
  for v in (variant, ','.join(filter(None, (variant, 'tiny')))):
    config = load_config(name, v)
    config_checks.validate_config(config, mesh)
    assert config.consistency.kind == kind
    assert (config.ema_decay > 0) == teacher
    assert default_config.uses_unlabeled(config)
  # The network and data are the baseline's / M2's: the comparison is fair.
  base = load_config('camvid_m2' if 'm2' in name else 'camvid_baseline', '')
  full = load_config(name, variant)
  for field in ('model', 'data', 'batch_size', 'learning_rate', 'objective'):
    assert full[field] == base[field], field
