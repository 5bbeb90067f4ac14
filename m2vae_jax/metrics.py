"""Evaluation metrics as sums over a split: accuracy, confusion, IoU.

Step functions return sums and counts (jit-friendly, exact over padded
batches); the host adds them up over the whole split and calls the
`*_from_*` functions at the end.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from m2vae_jax import losses


def correct_count(logits: ArrayLike, labels: ArrayLike,
                  weights: ArrayLike) -> tuple[jax.Array, jax.Array]:
  """(number correct, number counted) of argmax predictions.

  Args:
    logits: [batch, classes].
    labels: int [batch].
    weights: [batch], 0 for padding.
  """
  pred = jnp.argmax(logits, axis=-1)
  w = jnp.asarray(weights, jnp.float32)
  return jnp.sum((pred == labels) * w), jnp.sum(w)


def confusion_matrix(labels: ArrayLike, predictions: ArrayLike,
                     num_classes: int,
                     weights: ArrayLike | None = None) -> jax.Array:
  """Counts of (true class, predicted class) pairs; void labels are ignored.

  Args:
    labels: int [...]; values outside [0, num_classes) (void, 255) are
      not counted.
    predictions: int [...], same shape.
    num_classes: K.
    weights: optional, broadcastable to labels from the left (e.g. [batch]
      to drop padded examples).

  Returns:
    float32 [K, K]; entry (i, j) counts pixels of class i predicted as j.
  """
  labels = jnp.asarray(labels).astype(jnp.int32)
  predictions = jnp.asarray(predictions).astype(jnp.int32)
  valid = (labels >= 0) & (labels < num_classes)
  w = valid.astype(jnp.float32)
  if weights is not None:
    weights = jnp.asarray(weights, jnp.float32)
    w = w * weights.reshape(weights.shape + (1,) * (w.ndim - weights.ndim))
  flat = jnp.where(valid, labels, 0) * num_classes + predictions
  counts = jnp.zeros(num_classes * num_classes, jnp.float32)
  counts = counts.at[flat.reshape(-1)].add(w.reshape(-1))
  return counts.reshape(num_classes, num_classes)


def segmentation_scores(confusion: np.ndarray) -> dict:
  """Per-class IoU, mIoU and pixel accuracy from a confusion matrix.

  IoU_k = TP_k / (TP_k + FP_k + FN_k). Classes that appear neither in the
  labels nor in the predictions have no IoU (NaN) and are left out of the
  mean, the usual VOC convention.

  Args:
    confusion: [K, K] counts (rows true, columns predicted).

  Returns:
    {'miou': float, 'pixel_accuracy': float, 'per_class_iou': list (None
    for classes without an IoU)}.
  """
  c = np.asarray(confusion, np.float64)
  tp = np.diag(c)
  union = c.sum(0) + c.sum(1) - tp
  with np.errstate(invalid='ignore', divide='ignore'):
    iou = np.where(union > 0, tp / union, np.nan)
  total = c.sum()
  return {
      'miou': float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
      'pixel_accuracy': float(tp.sum() / total) if total else 0.0,
      'per_class_iou': [None if np.isnan(v) else float(v) for v in iou],
  }


def sampled_auxiliary_probs(key: jax.Array, x: jax.Array, infer_a,
                            classify_given_a, num_samples: int) -> jax.Array:
  """q(y|x) of an ADGM / SDGM as Maaloe et al. evaluate it: q(y|a,x)
  averaged over `num_samples` draws a ~ q(a|x) (the trainer instead puts a
  at q(a|x)'s mean).

  Args:
    key: PRNG key.
    x: [batch, ...] inputs.
    infer_a: x -> (mean, log_var) of q(a|x), each [batch, aux_dim].
    classify_given_a: (a, x) -> logits [batch, classes].
    num_samples: draws of a.

  Returns:
    Probabilities [batch, classes].
  """
  mean, log_var = infer_a(x)

  def one(key_a):
    a = losses.sample_gaussian(key_a, mean, log_var)
    return jax.nn.softmax(classify_given_a(a, x), -1)
  return jnp.mean(jax.vmap(one)(jax.random.split(key, num_samples)), 0)
