"""The optimizer: learning-rate schedules, weight prior and clipping."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from m2vae_jax import default_config
from m2vae_jax import optim


def _config(**fields):
  c = default_config.get_default_config()
  for name, value in fields.items():
    setattr(c, name, value)
  return c


def test_step_schedule_decays_by_the_factor_and_stops_at_the_floor():
  lr = optim.learning_rate(_config(
      lr_schedule='step', learning_rate=1e-3, lr_decay_every_steps=10,
      lr_decay_factor=0.5, lr_min=2e-4), 100)
  expected = {0: 1e-3, 9: 1e-3, 10: 5e-4, 19: 5e-4, 20: 2.5e-4, 30: 2e-4,
              1000: 2e-4}
  for step, rate in expected.items():
    np.testing.assert_allclose(lr(step), rate, rtol=1e-6, err_msg=step)


def test_step_schedule_after_a_linear_warm_up():
  lr = optim.learning_rate(_config(
      lr_schedule='step', learning_rate=1e-3, lr_decay_every_steps=10,
      lr_decay_factor=0.5, warmup_steps=4), 100)
  for step, rate in {0: 0.0, 2: 5e-4, 4: 1e-3, 12: 5e-4}.items():
    np.testing.assert_allclose(lr(step), rate, rtol=1e-6, err_msg=step)


def test_constant_rate_is_a_float_without_warm_up():
  assert optim.learning_rate(_config(learning_rate=3e-4), 100) == 3e-4


def test_weight_prior_then_norm_clip_then_value_clip_feed_adam():
  params = {'dense': {'kernel': jnp.array([3.0, -4.0]),
                      'bias': jnp.array([1.0])}}
  grads = {'dense': {'kernel': jnp.zeros(2), 'bias': jnp.array([0.0])}}
  tx = optim.create_optimizer(_config(
      weight_decay=0.5, grad_clip_norm=2.0, grad_clip_value=1.5), 100)
  state = tx.init(params)
  _, state = tx.update(grads, state, params)
  # 0.5 * W = [1.5, -2] on the kernel only (norm 2.5), scaled to norm 2:
  # [1.2, -1.6], then clipped elementwise to 1.5: [1.2, -1.5]. Adam's first
  # moment after one step is (1 - b1) times what it was given.
  mu = optax.tree.get(state, 'mu')
  np.testing.assert_allclose(mu['dense']['kernel'], 0.1 * np.array(
      [1.2, -1.5]), rtol=1e-6)
  np.testing.assert_allclose(mu['dense']['bias'], [0.0])


def test_without_the_options_the_optimizer_is_plain_adam():
  params = {'w': {'kernel': jnp.array([3.0, -4.0])}}
  grads = {'w': {'kernel': jnp.array([0.3, 0.5])}}
  ours = optim.create_optimizer(_config(learning_rate=1e-2), 10)
  adam = optax.adam(1e-2)
  got, _ = ours.update(grads, ours.init(params), params)
  want, _ = adam.update(grads, adam.init(params), params)
  np.testing.assert_allclose(got['w']['kernel'], want['w']['kernel'])


@pytest.mark.parametrize('schedule', ['constant', 'cosine', 'step'])
def test_every_schedule_moves_the_parameters(schedule):
  c = _config(lr_schedule=schedule, lr_decay_every_steps=3)
  tx = optim.create_optimizer(c, 6)
  params = {'w': {'kernel': jnp.ones(3)}}
  state = tx.init(params)
  for _ in range(6):
    updates, state = tx.update({'w': {'kernel': jnp.ones(3)}}, state, params)
    params = optax.apply_updates(params, updates)
  assert bool(jnp.all(params['w']['kernel'] < 1.0))
