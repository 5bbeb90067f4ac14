"""Consistency terms on unlabeled images, as pure functions: no Flax, no
configs, per-example values (summed over pixels, like `losses`).

Two families of semi-supervised segmentation, both trained on a strongly
perturbed view of unlabeled images against a teacher's prediction on the
clean (weakly augmented) view:

  mean teacher + CutMix (French et al., BMVC 2020, "Semi-supervised semantic
    segmentation needs strong, varied perturbations"): the teacher is the
    moving average of the student; the student's probabilities on a CutMix
    of two images are pulled, by squared error, to the teacher's
    probabilities mixed with the same boxes, where the teacher is confident.
  pseudo-labels (FixMatch, Sohn et al. 2020, carried to pixels as in
    UniMatch, Yang et al. CVPR 2023): the teacher is the student itself,
    gradient stopped; its confident argmax on the clean view is the target
    of a cross-entropy on the strong view (colour jitter, then CutMix).

The mixing pairs image i with image i - 1 of the batch (a roll), so that
one teacher pass serves both images of every pair.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from m2vae_jax import losses

Array = jax.Array

KINDS = ('none', 'mean_teacher', 'pseudo_label')
# The boxes' height / width ratio is log-uniform in [1/3, 3], as CutMix
# draws its boxes' sides independently around a square.
_MAX_ASPECT = 3.0


def cutmix_masks(key: Array, batch: int, height: int, width: int,
                 area: tuple[float, float] = (0.25, 0.5)) -> Array:
  """One random box per example: 1 inside, 0 outside.

  Args:
    key: PRNG key.
    batch, height, width: the shape of the masks.
    area: (low, high): the box covers a fraction of the image uniform in
      [low, high] (before rounding to whole pixels and clipping to the
      image, which an elongated box may need).

  Returns:
    float32 [batch, height, width] of {0, 1}.
  """
  k_area, k_aspect, k_top, k_left = jax.random.split(key, 4)
  fraction = jax.random.uniform(k_area, (batch,), minval=area[0],
                                maxval=area[1])
  log_aspect = jax.random.uniform(
      k_aspect, (batch,), minval=-jnp.log(_MAX_ASPECT),
      maxval=jnp.log(_MAX_ASPECT))
  aspect = jnp.exp(log_aspect)  # box height / width, relative to the image's
  box_h = jnp.clip(jnp.round(height * jnp.sqrt(fraction * aspect)), 1,
                   height).astype(jnp.int32)
  box_w = jnp.clip(jnp.round(width * jnp.sqrt(fraction / aspect)), 1,
                   width).astype(jnp.int32)
  top = jnp.floor(jax.random.uniform(k_top, (batch,))
                  * (height - box_h + 1)).astype(jnp.int32)
  left = jnp.floor(jax.random.uniform(k_left, (batch,))
                   * (width - box_w + 1)).astype(jnp.int32)
  rows = jnp.arange(height)[None, :, None]
  cols = jnp.arange(width)[None, None, :]
  inside = ((rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
            & (cols >= left[:, None, None])
            & (cols < (left + box_w)[:, None, None]))
  return inside.astype(jnp.float32)


def partner(values: ArrayLike) -> Array:
  """Each example's partner in the mix: example i gets example i - 1."""
  return jnp.roll(jnp.asarray(values), 1, axis=0)


def mix(values: ArrayLike, masks: ArrayLike) -> Array:
  """CutMix: each example with its partner's values pasted where masks is 1.

  Args:
    values: [batch, height, width, ...] (images, logits or probabilities).
    masks: [batch, height, width] of {0, 1} (`cutmix_masks`).

  Returns:
    values' shape.
  """
  values = jnp.asarray(values)
  masks = jnp.asarray(masks, values.dtype)
  masks = masks.reshape(masks.shape + (1,) * (values.ndim - masks.ndim))
  return masks * partner(values) + (1 - masks) * values


def colour_jitter(key: Array, images: ArrayLike, strength: float) -> Array:
  """Brightness, contrast and saturation, each scaled by a factor uniform in
  [1 - strength, 1 + strength] per image (torchvision's ColorJitter, fixed
  order).

  Args:
    key: PRNG key.
    images: float [batch, height, width, channels] in [0, 1]; saturation
      needs 3 channels and is skipped otherwise.
    strength: in [0, 1).

  Returns:
    images' shape, in [0, 1].
  """
  images = jnp.asarray(images)
  factors = jax.random.uniform(key, (3, images.shape[0], 1, 1, 1),
                               minval=1 - strength, maxval=1 + strength)
  x = jnp.clip(images * factors[0], 0, 1)
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)  # the image's grey level
  x = jnp.clip(mean + factors[1] * (x - mean), 0, 1)
  if images.shape[-1] == 3:
    grey = jnp.mean(x, axis=-1, keepdims=True)
    x = jnp.clip(grey + factors[2] * (x - grey), 0, 1)
  return x


def confident(teacher_logits: ArrayLike, threshold: float) -> Array:
  """1 where the teacher's largest probability is >= threshold, else 0.

  Args:
    teacher_logits: [batch, ..., classes].

  Returns:
    float32 [batch, ...].
  """
  probs = jax.nn.softmax(jnp.asarray(teacher_logits, jnp.float32), axis=-1)
  return (jnp.max(probs, axis=-1) >= threshold).astype(jnp.float32)


def mean_teacher_loss(logits: ArrayLike, teacher_logits: ArrayLike,
                      threshold: float = 0.97) -> Array:
  """Squared error between the student's and the teacher's class
  probabilities, summed over classes and over the pixels where the teacher
  is confident (French et al. 2020, Section 3). No gradient reaches the
  teacher.

  Args:
    logits: the student's, [batch, ..., classes].
    teacher_logits: the teacher's (mixed as the student's input was),
      same shape.
    threshold: confidence below which a pixel is left out (0: none is).

  Returns:
    [batch].
  """
  teacher_logits = jax.lax.stop_gradient(jnp.asarray(teacher_logits))
  student = jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)
  teacher = jax.nn.softmax(teacher_logits.astype(jnp.float32), axis=-1)
  return losses.sum_per_example(jnp.square(student - teacher),
                                confident(teacher_logits, threshold))


def pseudo_label_loss(logits: ArrayLike, teacher_logits: ArrayLike,
                      threshold: float = 0.95) -> Array:
  """Cross-entropy of the student against the teacher's argmax, summed over
  the pixels where the teacher is confident (FixMatch's unlabeled loss per
  pixel). No gradient reaches the teacher.

  Args:
    logits: the student's, [batch, ..., classes].
    teacher_logits: same shape.
    threshold: confidence below which a pixel is left out.

  Returns:
    [batch].
  """
  teacher_logits = jax.lax.stop_gradient(jnp.asarray(teacher_logits))
  return losses.classification_loss(
      logits, jnp.argmax(teacher_logits, axis=-1),
      mask=confident(teacher_logits, threshold))


LOSSES = {'mean_teacher': mean_teacher_loss,
          'pseudo_label': pseudo_label_loss}
