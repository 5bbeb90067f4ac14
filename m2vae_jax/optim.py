"""The optimizer: Adam with the schedule, weight prior and clipping the
config names; the model kind's spec may split it into groups."""

import jax
import jax.numpy as jnp
import ml_collections
import optax

from m2vae_jax.models import registry


def learning_rate(config: ml_collections.ConfigDict, num_train_steps: int):
  """The rate (a float or an optax schedule of the step):

  'constant' (after an optional linear warm-up), 'cosine' (warm-up, then a
  cosine decay to 0 at num_train_steps) or 'step' (Maaloe et al.'s code:
  the rate times lr_decay_factor every lr_decay_every_steps, never below
  lr_min, after the warm-up).
  """
  lr = config.learning_rate
  if config.lr_schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        0.0, lr, max(config.warmup_steps, 1), max(num_train_steps, 1))
  if config.lr_schedule == 'step':
    decayed = optax.exponential_decay(
        lr, config.lr_decay_every_steps, config.lr_decay_factor,
        staircase=True, end_value=config.lr_min or None)
    if not config.warmup_steps:
      return decayed
    warm = lambda step: jnp.minimum(1.0, step / config.warmup_steps)
    return lambda step: warm(step) * decayed(step)
  if config.warmup_steps:
    return optax.linear_schedule(0.0, lr, config.warmup_steps)
  return lr


def _is_kernel(params):
  """True for the weight matrices and conv kernels (not biases, norms)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: str(getattr(path[-1], 'key', '')) == 'kernel', params)


def create_optimizer(config: ml_collections.ConfigDict, num_train_steps: int
                     ) -> optax.GradientTransformation:
  """Adam (the paper's optimizer) with the schedule of `learning_rate`, and
  in this order, as Maaloe et al.'s code does: weight_decay * W added to the
  gradient of every kernel (their N(0, 1) weight prior divided by N), the
  gradient clipped to a global norm, then each element to +-grad_clip_value.
  """
  lr = learning_rate(config, num_train_steps)
  adam = lambda rate: optax.adam(rate, b1=config.adam_b1, b2=config.adam_b2)
  opt = registry.spec(config).optimizer(adam, lr, config)
  before = []
  if config.weight_decay > 0:
    before.append(optax.add_decayed_weights(config.weight_decay, _is_kernel))
  if config.grad_clip_norm > 0:
    before.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if config.grad_clip_value > 0:
    before.append(optax.clip(config.grad_clip_value))
  return optax.chain(*before, opt) if before else opt
