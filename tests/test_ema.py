"""The moving average of the parameters against a brute-force loop."""

import jax.numpy as jnp
import numpy as np
import pytest

from m2vae_jax import ema


def test_decay_is_lowered_over_the_first_updates():
  steps = np.arange(0, 2000, 7)
  expected = np.minimum(0.99, (1.0 + steps) / (10.0 + steps))
  np.testing.assert_allclose(ema.decay_at(steps, 0.99), expected, rtol=1e-6)
  assert float(ema.decay_at(0, 0.99)) == pytest.approx(0.1)
  assert float(ema.decay_at(10_000, 0.99)) == pytest.approx(0.99)


def test_update_matches_a_loop_over_the_iterates():
  rng = np.random.default_rng(0)
  iterates = [{'w': rng.normal(size=(3, 2)), 'b': rng.normal(size=(2,))}
              for _ in range(40)]
  decay = 0.8
  average = {k: jnp.asarray(v, jnp.float32) for k, v in iterates[0].items()}
  expected = {k: v.copy() for k, v in iterates[0].items()}
  for step, params in enumerate(iterates[1:]):
    average = ema.update(average, params, step, decay)
    d = min(decay, (1 + step) / (10 + step))
    expected = {k: d * expected[k] + (1 - d) * params[k] for k in expected}
  for k in expected:
    np.testing.assert_allclose(average[k], expected[k], rtol=1e-5)


def test_constant_parameters_are_a_fixed_point():
  params = {'w': jnp.full((4,), 2.5)}
  average = params
  for step in range(20):
    average = ema.update(average, params, step, 0.999)
  np.testing.assert_allclose(average['w'], 2.5, rtol=1e-6)
