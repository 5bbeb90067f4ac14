"""The MNIST MLPs: the split first layer and the per-example norms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from m2vae_jax.errors import ConfigError
from m2vae_jax.models import mlp


def _trunk_output(norm, x, y):
  trunk = mlp.Trunk((16, 8), 'relu', norm)
  params = trunk.init(jax.random.key(0), x, y)
  return params, trunk.apply(params, x, y)


def _inputs(batch=4):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(batch, 6, 5)), jnp.float32)
  y = jnp.asarray(rng.normal(size=(batch, 3)), jnp.float32)
  return x, y


def test_split_first_layer_is_one_dense_layer_over_the_concatenation():
  x, y = _inputs()
  params, h = _trunk_output('none', x, y)
  p = params['params']
  kernel = jnp.concatenate([p['input_0']['kernel'], p['input_1']['kernel']])
  flat = jnp.concatenate([x.reshape(4, -1), y], -1)
  h1 = jax.nn.relu(flat @ kernel + p['input_0']['bias'])
  expected = jax.nn.relu(h1 @ p['hidden_1']['kernel']
                         + p['hidden_1']['bias'])
  np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-6)


def test_layer_norm_normalizes_each_pre_activation_over_its_units():
  x, y = _inputs()
  params, h = _trunk_output('layer', x, y)
  p = params['params']
  # A norm's own shift replaces the dense biases.
  assert 'bias' not in p['input_0'] and 'bias' not in p['hidden_1']
  flat = jnp.concatenate([x.reshape(4, -1), y], -1)
  kernel = jnp.concatenate([p['input_0']['kernel'], p['input_1']['kernel']])

  def layer_norm(v):  # At init: scale 1, shift 0; flax's epsilon 1e-6.
    mean = v.mean(-1, keepdims=True)
    return (v - mean) / jnp.sqrt(v.var(-1, keepdims=True) + 1e-6)

  h1 = jax.nn.relu(layer_norm(flat @ kernel))
  expected = jax.nn.relu(layer_norm(h1 @ p['hidden_1']['kernel']))
  np.testing.assert_allclose(h, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('norm', ['layer', 'group'])
def test_norms_are_per_example(norm):
  x, y = _inputs()
  params, h = _trunk_output(norm, x, y)
  trunk = mlp.Trunk((16, 8), 'relu', norm)
  # Other examples of the batch do not change an example's output ...
  h_alone = trunk.apply(params, x[:1], y[:1])
  np.testing.assert_allclose(h_alone, h[:1], rtol=1e-5, atol=1e-6)
  # ... and without biases the trunk is invariant to the inputs' scale.
  np.testing.assert_allclose(trunk.apply(params, 3.0 * x, 3.0 * y), h,
                             rtol=1e-4, atol=1e-5)


def test_unknown_norm_is_refused():
  x, y = _inputs()
  with pytest.raises(ConfigError, match="norm must be one of"):
    _trunk_output('batch', x, y)
