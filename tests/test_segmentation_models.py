"""Tests for the MobileNetV2 backbone and DeepLabv3+ (models/*.py).

Shapes are checked with jax.eval_shape (tracing only, no compile); the few
numerical checks run narrow networks (width 0.25 or 0.5, 16 or 32 channels
in ASPP and decoder) under jit.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from m2vae_jax.models import deeplab
from m2vae_jax.models import mobilenet
from m2vae_jax.models import normalization
from m2vae_jax.models import segmentation

KEY = jax.random.key(0)
TINY = dict(width_multiplier=0.25, aspp_channels=16, decoder_channels=16)
SMALL = dict(width_multiplier=0.5, aspp_channels=32, decoder_channels=32)


def init_shapes(model, x_shape):
  """(output, params) shapes of model.init_with_output, traced only."""
  x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
  return jax.eval_shape(lambda x: model.init_with_output(KEY, x), x)


def leaf_paths(tree):
  return [
    '/'.join(str(k.key) for k in path)
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
  ]


@pytest.mark.parametrize('output_stride', [8, 16])
@pytest.mark.parametrize('size', [(128, 128), (48, 80), (37, 53)])
def test_deeplab_single_head_shape(size, output_stride):
  model = deeplab.DeepLabV3Plus(5, output_stride=output_stride, **TINY)
  out, _ = init_shapes(model, (2, *size, 3))
  assert out.shape == (2, *size, 5)
  assert out.dtype == jnp.float32


@pytest.mark.parametrize('output_stride', [8, 16])
@pytest.mark.parametrize('size', [(128, 128), (37, 53)])
def test_deeplab_tuple_heads_shape(size, output_stride):
  model = deeplab.DeepLabV3Plus((4, 4, 1), output_stride=output_stride, **TINY)
  out, variables = init_shapes(model, (1, *size, 3))
  assert isinstance(out, tuple)
  assert [o.shape for o in out] == [(1, *size, n) for n in (4, 4, 1)]
  heads = [k for k in variables['params'] if k.startswith('head_')]
  assert sorted(heads) == ['head_0', 'head_1', 'head_2']


@pytest.mark.parametrize('channels', [1, 3, 24])
def test_deeplab_any_input_channels(channels):
  model = deeplab.DeepLabV3Plus(2, **TINY)
  out, variables = init_shapes(model, (1, 40, 40, channels))
  assert out.shape == (1, 40, 40, 2)
  stem = variables['params']['backbone']['stem']['Conv_0']['kernel']
  assert stem.shape[2] == channels


@pytest.mark.parametrize('output_stride', [8, 16, 32])
def test_backbone_feature_shapes(output_stride):
  model = mobilenet.MobileNetV2(0.25, output_stride)
  feats, _ = init_shapes(model, (2, 37, 53, 3))
  low, high = mobilenet.feature_channels(0.25)
  assert feats['low_level'].shape == (2, 10, 14, low)
  assert feats['high_level'].shape == (
    2,
    math.ceil(37 / output_stride),
    math.ceil(53 / output_stride),
    high,
  )


@pytest.mark.parametrize('output_stride', [8, 16, 32])
def test_block_plan_turns_stride_into_dilation(output_stride):
  plan = mobilenet.block_plan(1.0, output_stride)
  assert 2 * math.prod(b['strides'] for b in plan) == output_stride
  assert [b['features'] for b in plan if b['stage'] == 1] == [24, 24]
  rates = [b['dilation'] for b in plan]
  assert rates == sorted(rates)
  assert rates[-1] == 32 // output_stride
  # Stride-4 stage is never dilated, so low-level features are at stride 4.
  assert all(b['dilation'] == 1 for b in plan if b['stage'] <= 1)
  assert sum(b['residual'] for b in plan) == 10


@pytest.mark.parametrize('output_stride', [8, 16, 32])
def test_capped_repeats_keep_every_stage_stride_and_rate(output_stride):
  full = mobilenet.block_plan(1.0, output_stride)
  capped = mobilenet.block_plan(1.0, output_stride, max_repeats=2)
  # Stages of 3 and 4 blocks lose their last residual blocks: 17 -> 12.
  assert len(full) == 17 and len(capped) == 12
  firsts = lambda plan: [b for i, b in enumerate(plan)
                         if i == 0 or plan[i - 1]['stage'] != b['stage']]
  assert firsts(capped) == firsts(full)  # Strides, rates, channels.
  assert {b['stage'] for b in capped if b['residual']} == {1, 2, 3, 4, 5}
  assert capped[-1]['dilation'] == full[-1]['dilation']
  with pytest.raises(ValueError, match='max_repeats must be >= 0'):
    mobilenet.block_plan(1.0, output_stride, max_repeats=-1)


def test_make_divisible_and_num_groups():
  rounded = [mobilenet.make_divisible(c) for c in (4, 6, 24, 36, 48, 80)]
  assert rounded == [8, 8, 24, 40, 48, 80]
  for c in (8, 16, 24, 40, 96, 144, 320, 960):
    groups = normalization.num_groups(c)
    assert c % groups == 0 and c // groups >= 4


def test_default_atrous_rates():
  assert deeplab.default_atrous_rates(513, 16) == (6, 12, 18)
  assert deeplab.default_atrous_rates(128, 8) == (3, 6, 9)
  assert deeplab.default_atrous_rates(128, 16) == (1, 3, 4)
  for size in range(8, 600, 7):
    for stride in (8, 16, 32):
      rates = deeplab.default_atrous_rates(size, stride)
      assert rates[0] >= 1
      assert all(a < b for a, b in zip(rates, rates[1:], strict=False))


def test_invalid_settings_raise():
  with pytest.raises(ValueError, match='norm'):
    init_shapes(mobilenet.MobileNetV2(0.25, norm='batch'), (1, 32, 32, 3))
  with pytest.raises(ValueError, match='output_stride'):
    init_shapes(
      deeplab.DeepLabV3Plus(2, output_stride=4, **TINY), (1, 32, 32, 3)
    )


def test_no_batchnorm_dropout_or_state():
  model = deeplab.DeepLabV3Plus((2, 2), atrous_rates=(1, 2), **TINY)
  types = set()

  def record(next_fun, args, kwargs, context):
    types.add(type(context.module))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    _, variables = init_shapes(model, (1, 32, 32, 3))
  assert nn.Conv in types
  assert not types & {nn.BatchNorm, nn.Dropout}
  assert set(variables) == {'params'}
  # 'none' creates no norm parameters: only conv kernels and biases.
  names = {path.rsplit('/', 1)[-1] for path in leaf_paths(variables)}
  assert names == {'kernel', 'bias'}
  assert not any('Norm_0/' in p for p in leaf_paths(variables))


def random_params(model, x_shape, scale=0.1):
  """Params of the right structure from NumPy, skipping the init compile."""
  _, variables = init_shapes(model, x_shape)
  rng = np.random.default_rng(0)
  return jax.tree.map(
    lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype),
    variables,
  )


@pytest.mark.parametrize(
  'norm, module', [('group', 'GroupNorm_0'), ('layer', 'LayerNorm_0')]
)
def test_norm_options_run(norm, module):
  model = deeplab.DeepLabV3Plus(3, output_stride=8, norm=norm, **TINY)
  x_shape = (1, 37, 53, 5)
  variables = random_params(model, x_shape)
  paths = leaf_paths(variables)
  assert any(f'/{module}/scale' in p for p in paths)
  # Conv biases are redundant before a norm; only the output head keeps one.
  biases = [p for p in paths if p.endswith('/bias') and 'Norm' not in p]
  assert biases == ['params/head_0/bias']
  out = jax.jit(model.apply)(variables, jax.random.normal(KEY, x_shape))
  assert out.shape == (1, 37, 53, 3)
  assert np.all(np.isfinite(out))


# One real init shared by the tests below: compiling the initializers of
# ~170 parameters costs more than the forward pass, and params do not depend
# on the input size. The rbg PRNG compiles faster than threefry.
@pytest.fixture(scope='module')
def initialized():
  model = deeplab.DeepLabV3Plus((3, 3), output_stride=8, **SMALL)
  key = jax.random.key(0, impl='unsafe_rbg')
  params = jax.jit(model.init)(key, jnp.zeros((1, 32, 32, 3)))
  return model, params


def test_gradients_finite_and_reach_every_parameter(initialized):
  model, params = initialized
  x = jax.random.normal(KEY, (2, 37, 53, 3))

  @jax.jit
  def grad_fn(params):
    def loss(params):
      mean, log_var = model.apply(params, x)
      return jnp.mean(mean**2 + jnp.exp(log_var))

    return jax.grad(loss)(params)

  grads = grad_fn(params)
  for path, g in zip(leaf_paths(grads), jax.tree.leaves(grads), strict=True):
    assert np.all(np.isfinite(g)), path
    assert np.any(g != 0), path


def test_activation_scale_at_init(initialized):
  """Without norms, backbone blocks stay near unit std; the output is O(1)."""
  model, params = initialized
  x = jax.random.normal(KEY, (2, 128, 128, 3))

  def is_block(module, method):
    return method == '__call__' and isinstance(
      module, mobilenet.InvertedResidual
    )

  (mean, _), state = jax.jit(
    lambda p: model.apply(p, x, capture_intermediates=is_block)
  )(params)
  blocks = state['intermediates']['backbone']
  stds = [
    float(jnp.std(blocks[f'block_{i}']['__call__'][0]))
    for i in range(len(blocks))
  ]
  assert len(stds) == 17
  assert 0.5 < min(stds) and max(stds) < 2.0, stds
  # The head's ReLUs and narrow channels make this vary more between seeds.
  assert 0.05 < float(jnp.std(mean)) < 2.0


def test_m2_networks_with_a_coarse_latent():
  """latent_stride > 1: z on a coarse grid, the decoder back at full size."""
  settings = segmentation.DeepLabSettings(
      width_multiplier=0.25, output_stride=8, aspp_channels=16,
      decoder_channels=16)
  encoder = segmentation.Encoder(settings, 3, latent_stride=8)
  decoder = segmentation.Decoder(settings, 3)
  x, y = jnp.zeros((2, 64, 40, 3)), jnp.zeros((2, 64, 40, 11))
  key = jax.random.key(0)
  mean, log_var = jax.eval_shape(
      lambda: encoder.init_with_output(key, x, y)[0])
  assert mean.shape == log_var.shape == (2, 8, 5, 3)
  out = jax.eval_shape(lambda: decoder.init_with_output(
      key, y, jnp.zeros(mean.shape))[0])
  assert out.shape == (2, 64, 40, 3)


def test_group_norm_is_flax_group_norm_values_and_grads():
  x = jax.random.normal(KEY, (2, 5, 7, 12)) * 3.0 + 1.0
  ours = normalization.GroupNorm(num_groups=3)
  theirs = nn.GroupNorm(num_groups=3)
  params = ours.init(KEY, x)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(
    jnp.shape, theirs.init(KEY, x)
  )
  rng = np.random.default_rng(0)
  params = jax.tree.map(
    lambda p: p + jnp.asarray(rng.normal(size=p.shape), p.dtype), params
  )
  np.testing.assert_allclose(
    ours.apply(params, x), theirs.apply(params, x), atol=1e-5
  )
  probe = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
  loss = lambda m: jax.grad(
    lambda p, x: jnp.sum(m.apply(p, x) * probe), argnums=(0, 1)
  )(params, x)
  for a, b in zip(jax.tree.leaves(loss(ours)), jax.tree.leaves(loss(theirs))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  with pytest.raises(Exception, match='do not split into'):
    normalization.GroupNorm(num_groups=5).init(KEY, x)


@pytest.mark.parametrize('likelihood, heads', [
  ('bernoulli', 1), ('continuous_bernoulli', 1), ('gaussian', 2),
  ('logistic', 2)])
def test_decoder_gives_the_likelihoods_parameters(likelihood, heads):
  settings = segmentation.DeepLabSettings(
    width_multiplier=0.25, output_stride=8, aspp_channels=16,
    decoder_channels=16)
  decoder = segmentation.Decoder(settings, 3, likelihood)
  y, z = jnp.zeros((2, 24, 32, 11)), jnp.zeros((2, 3, 4, 2))
  out = jax.eval_shape(
    lambda: decoder.init_with_output(KEY, y, z)[0])
  outs = out if heads == 2 else (out,)
  assert len(outs) == heads
  assert all(o.shape == (2, 24, 32, 3) for o in outs)
