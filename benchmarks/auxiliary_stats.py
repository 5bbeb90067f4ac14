"""Split-level statistics of a trained ADGM / SDGM (no flags: importable
by tests and other scripts)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from m2vae_jax import metrics
from m2vae_jax import train


def sampled_accuracy(nets, images: np.ndarray, labels: np.ndarray,
                     num_samples: int, batch: int = 1000) -> float:
  """Accuracy of `metrics.sampled_auxiliary_probs` over a split.

  Args:
    nets: the model's networks (`train.networks`).
    images: uint8 [n, 28, 28, 1], seen as intensities like the trainer's
      evaluation; labels: int [n].
  """
  probs = jax.jit(functools.partial(
      metrics.sampled_auxiliary_probs, infer_a=nets.infer_a,
      classify_given_a=nets.classify_given_a, num_samples=num_samples))
  key = jax.random.PRNGKey(0)
  correct = 0
  for start in range(0, len(images), batch):
    x = train.prepare_inputs(key, jnp.asarray(images[start:start + batch]),
                             False)
    p = probs(jax.random.fold_in(key, start), x)
    correct += int(np.sum(np.argmax(p, -1) == labels[start:start + batch]))
  return correct / len(images)


def usage_of_a(nets, images: np.ndarray, batch: int = 1000) -> dict:
  """`metrics.auxiliary_usage_from_sums` over a split (intensities)."""
  usage = jax.jit(functools.partial(
      metrics.auxiliary_usage, infer_a=nets.infer_a,
      classify_given_a=nets.classify_given_a))
  key = jax.random.PRNGKey(0)
  sums = None
  for start in range(0, len(images), batch):
    x = train.prepare_inputs(key, jnp.asarray(images[start:start + batch]),
                             False)
    part = jax.device_get(usage(x))
    sums = part if sums is None else jax.tree.map(np.add, sums, part)
  return metrics.auxiliary_usage_from_sums(sums)
