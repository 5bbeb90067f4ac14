"""Evaluation metrics as sums over a split: accuracy, confusion, IoU, and
whether an ADGM / SDGM uses its auxiliary a.

Step functions return sums and counts (jit-friendly, exact over padded
batches); the host adds them up over the whole split and calls the
`*_from_*` functions at the end.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from m2vae_jax import losses


def resize_logits(logits: jax.Array, hw: tuple[int, int]) -> jax.Array:
  """Segmentation logits [batch, h, w, classes] resized bilinearly to hw,
  e.g. the labels' size, where published figures score predictions (the
  argmax of resized logits, not a resized argmax)."""
  if logits.shape[1:3] == tuple(hw):
    return logits
  return jax.image.resize(logits, (logits.shape[0], *hw, logits.shape[-1]),
                          method='bilinear')


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


def classification_scores(confusion: np.ndarray) -> dict:
  """Accuracy, per-class recall and the matrix itself from a confusion
  matrix of whole images (rows true, columns predicted).

  Args:
    confusion: [K, K] counts.

  Returns:
    {'accuracy': float, 'per_class_accuracy': list of K floats (None for a
    class absent from the labels), 'confusion': [K][K] list of ints}.
  """
  c = np.asarray(confusion, np.float64)
  support = c.sum(1)
  with np.errstate(invalid='ignore', divide='ignore'):
    recall = np.where(support > 0, np.diag(c) / support, np.nan)
  total = c.sum()
  return {
      'accuracy': float(np.trace(c) / total) if total else 0.0,
      'per_class_accuracy': [None if np.isnan(v) else float(v)
                             for v in recall],
      'confusion': np.rint(c).astype(int).tolist(),
  }


def largest_errors(confusion, k: int) -> list[tuple[int, int, int]]:
  """The k largest off-diagonal counts of a confusion matrix (rows: true
  classes) as (count, true, predicted), largest first; zeros left out."""
  c = np.asarray(confusion)
  cells = [(int(c[t, p]), t, p) for t in range(c.shape[0])
           for p in range(c.shape[1]) if t != p and c[t, p] > 0]
  return sorted(cells, key=lambda e: (-e[0], e[1], e[2]))[:k]


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


def auxiliary_usage(x: jax.Array, infer_a, classify_given_a,
                    weights: ArrayLike | None = None
                    ) -> dict[str, jax.Array]:
  """Whether an ADGM / SDGM uses its auxiliary a, as sums over a batch.

  An a that has collapsed is the same distribution for every image (its
  mean does not move with x) and the classifier ignores it.

  Args:
    x: [batch, ...] inputs.
    infer_a, classify_given_a: as in `sampled_auxiliary_probs`.
    weights: [batch], 1 for real examples and 0 for padding (default: 1).

  Returns:
    {'a_mean_sum', 'a_mean_sq_sum'}: weighted sums of q(a|x)'s mean and its
      square [aux_dim] (host: spread across images = their std);
    'a_std_sum': weighted sum of q(a|x)'s standard deviation averaged over
      the dimensions (scalar);
    'changed_by_a': weighted number of images whose predicted class changes
      when their a (at the mean) is replaced by the previous image's in the
      batch (scalar);
    'a_count': the sum of the weights.
  """
  mean, log_var = infer_a(x)
  # Sums over a split in float32 even when the networks compute in bfloat16.
  mean, log_var = mean.astype(jnp.float32), log_var.astype(jnp.float32)
  w = (jnp.ones(mean.shape[:1], jnp.float32) if weights is None
       else jnp.asarray(weights, jnp.float32))
  own = jnp.argmax(classify_given_a(mean, x), -1)
  other = jnp.argmax(classify_given_a(jnp.roll(mean, 1, axis=0), x), -1)
  return {
      'a_mean_sum': w @ mean,
      'a_mean_sq_sum': w @ jnp.square(mean),
      'a_std_sum': w @ jnp.mean(jnp.exp(0.5 * log_var), -1),
      'changed_by_a': w @ (own != other).astype(jnp.float32),
      'a_count': jnp.sum(w),
  }


def auxiliary_usage_from_sums(sums: dict) -> dict[str, float]:
  """{'a_spread': std of q(a|x)'s mean across images, averaged over the
  dimensions (0: a ignores x), 'a_std': q(a|x)'s mean standard deviation,
  'changed_by_a': fraction of predictions another image's a changes
  (0: the classifier ignores a)} from summed `auxiliary_usage` outputs."""
  n = float(sums['a_count'])
  mean = np.asarray(sums['a_mean_sum']) / n
  var = np.maximum(np.asarray(sums['a_mean_sq_sum']) / n - mean**2, 0.0)
  return {'a_spread': float(np.mean(np.sqrt(var))),
          'a_std': float(sums['a_std_sum']) / n,
          'changed_by_a': float(sums['changed_by_a']) / n}
