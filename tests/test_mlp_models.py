"""The MNIST MLPs: the split first layer, the per-example norms and the
initial weights."""

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


def _encoder_params(weight_init, hidden=(64, 48), latent=32):
  x, y = _inputs(batch=8)
  encoder = mlp.Encoder(mlp.Trunk(hidden, 'relu', 'none', weight_init),
                        latent)
  params = encoder.init(jax.random.key(1), x, y)
  return encoder, params, (x, y)


def test_maaloe_init_matches_their_glorot_and_small_gaussian_heads():
  _, params, _ = _encoder_params('maaloe', hidden=(400, 300), latent=200)
  p = params['params']
  # Lasagne's GlorotNormal(gain): std = gain * sqrt(2 / (fan_in + fan_out)),
  # with gain sqrt(2) before a ReLU. Input 0 is x, 30 values per example.
  expected = {
      ('trunk', 'input_0'): np.sqrt(2.0) * np.sqrt(2.0 / (30 + 400)),
      ('trunk', 'hidden_1'): np.sqrt(2.0) * np.sqrt(2.0 / (400 + 300)),
      ('mean',): 1e-3,
      ('log_var',): 1e-3,
  }
  for path, std in expected.items():
    layer = p
    for name in path:
      layer = layer[name]
    assert float(layer['kernel'].std()) == pytest.approx(std, rel=0.1), path
    assert float(jnp.abs(layer['bias']).max()) < 5e-3, path


def test_maaloe_init_starts_every_gaussian_near_the_standard_normal():
  encoder, params, inputs = _encoder_params('maaloe')
  mean, log_var = encoder.apply(params, *inputs)
  assert float(jnp.abs(mean).max()) < 0.05
  assert float(jnp.abs(log_var).max()) < 0.05
  # Flax's default (LeCun-normal heads) starts far from it.
  encoder, params, inputs = _encoder_params('lecun')
  mean, _ = encoder.apply(params, *inputs)
  assert float(jnp.abs(mean).max()) > 0.5


def test_maaloe_init_gives_linear_outputs_glorot_without_the_relu_gain():
  classifier = mlp.Classifier(mlp.Trunk((64, 48), 'relu', 'none', 'maaloe'),
                              10)
  x, y = _inputs()
  p = classifier.init(jax.random.key(2), x, y)['params']
  std = np.sqrt(2.0 / (48 + 10))
  assert float(p['logits']['kernel'].std()) == pytest.approx(std, rel=0.15)


def test_lecun_init_is_flax_default():
  _, params, _ = _encoder_params('lecun', hidden=(400, 300), latent=200)
  p = params['params']
  # LeCun normal: std = 1 / sqrt(fan_in) (a truncated normal, rescaled).
  std = 1.0 / np.sqrt(300)
  assert float(p['mean']['kernel'].std()) == pytest.approx(std, rel=0.05)
  assert float(jnp.abs(p['mean']['bias']).max()) == 0.0


def test_unknown_weight_init_is_refused():
  with pytest.raises(ConfigError, match="weight_init must be one of"):
    _encoder_params('glorot')
