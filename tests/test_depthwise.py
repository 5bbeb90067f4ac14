"""The shift-based depthwise convolution equals XLA's, values and grads."""

import jax
from jax import lax
import numpy as np
import pytest

from m2vae_jax.models import depthwise

DN = ('NHWC', 'HWIO', 'NHWC')


@pytest.mark.parametrize('shape, kernel, stride, dilation, padding', [
    ((2, 16, 16, 8), 3, 1, 1, 'SAME'),
    ((2, 16, 16, 8), 3, 2, 1, 'SAME'),
    ((1, 37, 53, 5), 3, 2, 1, 'SAME'),
    ((1, 37, 53, 5), 3, 1, 2, 'SAME'),
    ((2, 9, 11, 4), 3, 1, 4, 'SAME'),
    ((2, 10, 10, 3), 1, 1, 1, 'SAME'),
    ((2, 12, 12, 6), 3, 1, 1, ((1, 1), (2, 0))),
    ((2, 12, 12, 6), 3, 2, 1, 'VALID'),
])
def test_matches_lax(shape, kernel, stride, dilation, padding):
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape).astype(np.float32)
  k = rng.normal(size=(kernel, kernel, 1, shape[-1])).astype(np.float32)
  args = dict(window_strides=(stride, stride), padding=padding,
              rhs_dilation=(dilation, dilation), dimension_numbers=DN,
              feature_group_count=shape[-1])
  ours = lambda x, k: depthwise.conv_general_dilated(x, k, **args)
  ref = lambda x, k: lax.conv_general_dilated(x, k, **args)
  np.testing.assert_allclose(ours(x, k), ref(x, k), rtol=1e-5, atol=1e-5)
  g = rng.normal(size=ref(x, k).shape).astype(np.float32)
  for a, b in zip(jax.vjp(ours, x, k)[1](g), jax.vjp(ref, x, k)[1](g)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_other_convolutions_go_to_lax():
  x = np.ones((1, 8, 8, 4), np.float32)
  k = np.ones((3, 3, 4, 6), np.float32)  # Not depthwise.
  args = dict(window_strides=(1, 1), padding='SAME', dimension_numbers=DN)
  np.testing.assert_allclose(depthwise.conv_general_dilated(x, k, **args),
                             lax.conv_general_dilated(x, k, **args))


def test_pointwise_convolutions_are_a_matmul_with_lax_values_and_grads():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 5, 7, 6)).astype(np.float32)
  k = rng.normal(size=(1, 1, 6, 4)).astype(np.float32)
  args = dict(window_strides=(1, 1), padding='SAME', dimension_numbers=DN)
  ours = lambda x, k: depthwise.conv_general_dilated(x, k, **args)
  ref = lambda x, k: lax.conv_general_dilated(x, k, **args)
  assert 'dot_general' in str(jax.make_jaxpr(ours)(x, k))
  np.testing.assert_allclose(ours(x, k), ref(x, k), rtol=1e-5, atol=1e-5)
  g = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
  for a, b in zip(jax.vjp(ours, x, k)[1](g), jax.vjp(ref, x, k)[1](g)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  # Strided 1x1 convolutions stay convolutions.
  strided = dict(args, window_strides=(2, 2))
  assert 'dot_general' not in str(jax.make_jaxpr(
      lambda x, k: depthwise.conv_general_dilated(x, k, **strided))(x, k))
