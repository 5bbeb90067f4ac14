"""Accuracy, confusion matrix and IoU against hand-computed cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from m2vae_jax import metrics


def test_iou_by_hand():
  # Two 2x3 images; 255 is void and must be ignored everywhere.
  labels = np.array([[[0, 0, 1], [1, 2, 255]],
                     [[3, 3, 3], [3, 3, 3]]])
  preds = np.array([[[0, 1, 1], [1, 2, 0]],
                    [[0, 0, 0], [0, 0, 0]]])
  # The second image is padding (weight 0): it must not count.
  conf = metrics.confusion_matrix(labels, preds, 4, weights=np.array([1, 0]))
  expected = np.zeros((4, 4))
  expected[0, 0], expected[0, 1] = 1, 1
  expected[1, 1] = 2
  expected[2, 2] = 1
  np.testing.assert_array_equal(conf, expected)
  scores = metrics.segmentation_scores(conf)
  # class 0: TP 1, FP 0 (the void pixel predicted 0 is ignored), FN 1.
  # class 1: TP 2, FP 1, FN 0.  class 2: TP 1.  class 3: absent -> None.
  assert scores['per_class_iou'][:3] == pytest.approx([0.5, 2 / 3, 1.0])
  assert scores['per_class_iou'][3] is None
  assert scores['miou'] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
  assert scores['pixel_accuracy'] == pytest.approx(4 / 5)


def test_confusion_sums_over_batches_like_one_batch():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 6, (10, 8, 8))
  labels[labels == 5] = 255
  preds = rng.integers(0, 5, (10, 8, 8))
  whole = metrics.confusion_matrix(labels, preds, 5)
  parts = sum(metrics.confusion_matrix(labels[i:i + 3], preds[i:i + 3], 5)
              for i in range(0, 10, 3))
  np.testing.assert_array_equal(whole, parts)
  assert float(whole.sum()) == float((labels != 255).sum())


def test_classification_scores_by_hand_ignore_padding():
  labels = jnp.array([0, 0, 1, 1, 1, 2])
  preds = jnp.array([0, 1, 1, 1, 0, 2])
  # The last image is padding (weight 0) and class 3 never occurs.
  conf = metrics.confusion_matrix(labels, preds, 4,
                                  weights=jnp.array([1, 1, 1, 1, 1, 0]))
  scores = metrics.classification_scores(conf)
  assert scores['accuracy'] == pytest.approx(3 / 5)
  assert scores['per_class_accuracy'][:2] == pytest.approx([1 / 2, 2 / 3])
  assert scores['per_class_accuracy'][2:] == [None, None]
  assert scores['confusion'] == [[1, 1, 0, 0], [1, 2, 0, 0], [0] * 4,
                                 [0] * 4]


def _toy_q_a(log_var):
  mean = jnp.array([[0.0], [1.5], [-2.0]])            # [batch 3, aux 1]
  infer_a = lambda x: (mean, jnp.full_like(mean, log_var))
  classify_given_a = lambda a, x: jnp.concatenate([a, -a], -1)  # 2 classes
  return mean, infer_a, classify_given_a


def test_sampled_auxiliary_probs_of_a_point_mass_is_q_y_at_the_mean():
  mean, infer_a, classify = _toy_q_a(log_var=-80.0)
  got = metrics.sampled_auxiliary_probs(jax.random.PRNGKey(0), None, infer_a,
                                        classify, num_samples=5)
  np.testing.assert_allclose(got, jax.nn.softmax(classify(mean, None), -1),
                             rtol=1e-6)


def test_sampled_auxiliary_probs_average_over_a():
  """Logits (a, -a) with a ~ N(m, 4): for m = 0, E[q(y|a)] = (1/2, 1/2) by
  symmetry; for m = 1.5 the noise pulls q(y=0) from softmax at the mean
  (0.95) towards 1/2."""
  _, infer_a, classify = _toy_q_a(log_var=jnp.log(4.0))
  got = metrics.sampled_auxiliary_probs(jax.random.PRNGKey(1), None, infer_a,
                                        classify, num_samples=20000)
  np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(got[0], [0.5, 0.5], atol=0.01)
  at_mean = jax.nn.softmax(jnp.array([1.5, -1.5]))[0]
  assert 0.5 < got[1, 0] < at_mean - 0.05


def _usage(x, infer_a, classify_given_a):
  sums = metrics.auxiliary_usage(x, infer_a, classify_given_a)
  return metrics.auxiliary_usage_from_sums(sums)


def test_auxiliary_usage_of_a_used_a_by_hand():
  """Means 0, 1.5, -2 (std of them 1.4337), std e^(-1/2), logits (a, -a):
  predictions 0, 0, 1 (a tie goes to class 0); rolled, a = -2, 0, 1.5
  predicts 1, 0, 0: images 0 and 2 change."""
  _, infer_a, classify = _toy_q_a(log_var=-1.0)
  got = _usage(None, infer_a, classify)
  np.testing.assert_allclose(got['a_spread'], np.std([0.0, 1.5, -2.0]),
                             rtol=1e-5)
  np.testing.assert_allclose(got['a_std'], np.exp(-0.5), rtol=1e-6)
  np.testing.assert_allclose(got['changed_by_a'], 2 / 3, rtol=1e-6)


def test_auxiliary_usage_of_a_collapsed_a_is_zero():
  x = jnp.arange(8.0).reshape(4, 2)
  infer_a = lambda x: (jnp.full((4, 3), 0.7), jnp.zeros((4, 3)))
  classify = lambda a, x: jnp.concatenate([x, a], -1)  # ignores a: argmax
  got = _usage(x, infer_a, classify)                 # stays on x's column
  assert got['a_spread'] == pytest.approx(0.0, abs=1e-6)
  assert got['a_std'] == pytest.approx(1.0)
  assert got['changed_by_a'] == 0.0


def test_largest_errors_are_off_diagonal_and_largest_first():
  confusion = [[50, 3, 0], [7, 40, 7], [1, 0, 9]]
  assert metrics.largest_errors(confusion, 3) == [
      (7, 1, 0), (7, 1, 2), (3, 0, 1)]
  assert metrics.largest_errors([[5, 0], [0, 5]], 3) == []


def test_upsampled_logits_score_by_hand():
  """Logits at 1x2 scored against labels at 1x4, as CamVid predictions at
  the training size are scored at 360x480: bilinear logits, then argmax.

  Output pixels sit at input coordinates -0.25, 0.25, 0.75, 1.25: the outer
  two copy their neighbour, the inner two mix 3:1, which makes class 2 win
  there ([1.5, 0.5, 1.6] and [0.5, 1.5, 1.6]) although it wins nowhere in
  the input. An argmax resized by nearest neighbour would say [0, 0, 1, 1].
  """
  logits = jnp.array([[[[2.0, 0.0, 1.6], [0.0, 2.0, 1.6]]]])  # [1, 1, 2, 3]
  up = metrics.resize_logits(logits, (1, 4))
  np.testing.assert_allclose(up[0, 0], [[2.0, 0.0, 1.6], [1.5, 0.5, 1.6],
                                        [0.5, 1.5, 1.6], [0.0, 2.0, 1.6]])
  labels = jnp.array([[[0, 2, 1, 255]]])  # the last pixel void
  pred = jnp.argmax(up, -1)
  scores = metrics.segmentation_scores(metrics.confusion_matrix(labels, pred,
                                                                3))
  # Classes 0 and 2 right; true 1 predicted 2 -> IoU_1 = 0, IoU_2 = 1/2.
  assert scores['per_class_iou'] == [1.0, 0.0, 0.5]
  assert scores['miou'] == pytest.approx(0.5)
  assert scores['pixel_accuracy'] == pytest.approx(2 / 3)
  same = metrics.resize_logits(logits, (1, 2))
  assert same is logits
