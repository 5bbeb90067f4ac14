"""MobileNetV2 backbone without batch norm, for DeepLabv3+ (models/deeplab.py).

Sandler et al. (2018), "MobileNetV2: Inverted Residuals and Linear
Bottlenecks": a strided 3x3 stem, then inverted residual blocks (1x1 expand,
3x3 depthwise, linear 1x1 project, skip when shape allows) with ReLU6. The
paper this library reimplements removed batch norm and dropout because every
batch mixes labeled and unlabeled images, so by default there is no
normalization at all; `norm='group'` or `norm='layer'` puts a per-example
norm where batch norm used to be.

The classifier's final 1x1 conv to 1280 channels and the pooling are left out,
as DeepLab does: the backbone ends at the 320-channel block.

Without normalization, the initialization alone keeps activations at unit
scale: every conv uses fan-in variance scaling (gain 2 after a ReLU6, gain 1
after a linear layer), and the last conv of each residual branch gets its
variance divided by the number of residual blocks, so the residual stream
grows by at most a factor e in variance over the whole network (Fixup-style).
"""

from collections.abc import Callable

import flax.linen as nn
import jax

from m2vae_jax.errors import ConfigError
from m2vae_jax.models import depthwise
from m2vae_jax.models.normalization import Norm
from m2vae_jax.models.normalization import check_norm

Array = jax.Array

OUTPUT_STRIDES = (8, 16, 32)

# (expansion t, channels c, repeats n, stride s) of each stage: Table 2 of
# Sandler et al. without the final 1x1 conv to 1280 channels.
INVERTED_RESIDUAL_SETTINGS = (
  (1, 16, 1, 1),
  (6, 24, 2, 2),
  (6, 32, 3, 2),
  (6, 64, 4, 2),
  (6, 96, 3, 1),
  (6, 160, 3, 2),
  (6, 320, 1, 1),
)
STEM_CHANNELS = 32
# Index of the stage whose output is at stride 4 (the 24-channel stage).
LOW_LEVEL_STAGE = 1

# Fan-in gains: 2 keeps the second moment through conv + ReLU(6) (He et al.,
# 2015); 1 suits a conv whose input is a linear output (zero-mean).
RELU_GAIN = 2.0
LINEAR_GAIN = 1.0


def make_divisible(value: float, divisor: int = 8) -> int:
  """Rounds a channel count to the nearest multiple of `divisor`.

  Like the MobileNet reference: never below `divisor`, and never more than
  10% below `value`.

  Args:
    value: the unrounded channel count, e.g. 24 * width_multiplier.
    divisor: the multiple to round to.

  Returns:
    The rounded channel count.
  """
  rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
  if rounded < 0.9 * value:
    rounded += divisor
  return rounded


def fan_in_init(gain: float) -> nn.initializers.Initializer:
  """Variance scaling with variance gain / fan_in (fan_in of one group)."""
  return nn.initializers.variance_scaling(gain, 'fan_in', 'truncated_normal')


class ConvNormAct(nn.Module):
  """Conv -> norm -> activation, with SAME padding.

  Attributes:
    features: output channels; None with `depthwise`, which keeps the input
      channels.
    kernel_size: square kernel size.
    strides: stride in both spatial dimensions.
    dilation: atrous rate of the kernel.
    depthwise: one filter per input channel (feature_group_count = channels).
    norm: see `Norm`; with 'none' the conv has a bias, otherwise the norm's
      bias replaces it.
    activation: applied last; None for a linear layer.
    gain: fan-in variance gain of the kernel initializer.
  """

  features: int | None = None
  kernel_size: int = 1
  strides: int = 1
  dilation: int = 1
  depthwise: bool = False
  norm: str = 'none'
  activation: Callable[[Array], Array] | None = nn.relu6
  gain: float = RELU_GAIN

  @nn.compact
  def __call__(self, x: Array) -> Array:
    channels = x.shape[-1]
    x = nn.Conv(
      channels if self.depthwise else self.features,
      (self.kernel_size, self.kernel_size),
      strides=self.strides,
      padding='SAME',
      kernel_dilation=self.dilation,
      feature_group_count=channels if self.depthwise else 1,
      use_bias=self.norm == 'none',
      kernel_init=fan_in_init(self.gain),
      # Same math; on a CPU the shifted form is ~50x faster than XLA's.
      conv_general_dilated=depthwise.conv_general_dilated,
    )(x)
    x = Norm(self.norm)(x)
    if self.activation is not None:
      x = self.activation(x)
    return x


class InvertedResidual(nn.Module):
  """MobileNetV2 block: 1x1 expand, 3x3 depthwise, linear 1x1 project.

  Attributes:
    features: output channels.
    expansion: hidden channels = expansion * input channels; 1 skips the
      expand conv.
    strides: stride of the depthwise conv.
    dilation: atrous rate of the depthwise conv.
    norm: see `Norm`.
    project_gain: init gain of the projection; residual blocks pass a small
      one so the skip path dominates at init.
  """

  features: int
  expansion: int
  strides: int = 1
  dilation: int = 1
  norm: str = 'none'
  project_gain: float = RELU_GAIN

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Applies the block.

    Args:
      x: [batch, height, width, channels_in].

    Returns:
      [batch, ceil(height / strides), ceil(width / strides), features].
    """
    channels = x.shape[-1]
    h = x
    if self.expansion != 1:
      # The input is a linear (projected) output, hence gain 1.
      h = ConvNormAct(
        channels * self.expansion,
        norm=self.norm,
        gain=LINEAR_GAIN,
        name='expand',
      )(h)
    h = ConvNormAct(
      kernel_size=3,
      strides=self.strides,
      dilation=self.dilation,
      depthwise=True,
      norm=self.norm,
      # Gain 2: the input always leaves a ReLU6 (the expand conv's, or the
      # stem's for the one block without expansion).
      name='depthwise',
    )(h)
    h = ConvNormAct(
      self.features,
      norm=self.norm,
      activation=None,
      gain=self.project_gain,
      name='project',
    )(h)
    if self.strides == 1 and channels == self.features:
      return x + h
    return h


def block_plan(
  width_multiplier: float = 1.0, output_stride: int = 32, max_repeats: int = 0
) -> list[dict]:
  """Lists the inverted residual blocks of the backbone, in order.

  Once the cumulative stride reaches `output_stride`, a block that would
  stride uses stride 1 instead, and the atrous rate of the blocks after it
  grows by the stride it skipped (DeepLabv3, Chen et al., 2017; the block
  itself keeps the previous rate, as in the DeepLab reference code).

  Args:
    width_multiplier: scales every channel count (rounded by
      `make_divisible`).
    output_stride: 8, 16 or 32: the stride of the final features.
    max_repeats: at most this many blocks per stage (0: Table 2's 1-4).
      Every stage, stride and rate stays; 2 keeps a residual block in each
      stage that has one, at 12 blocks instead of 17 (the tests' twins).

  Returns:
    One dict per block with keys 'features', 'expansion', 'strides',
    'dilation', 'residual' (bool) and 'stage' (index into
    INVERTED_RESIDUAL_SETTINGS).
  """
  if output_stride not in OUTPUT_STRIDES:
    raise ConfigError(
      f'output_stride must be one of {OUTPUT_STRIDES}, got {output_stride}'
    )
  if width_multiplier <= 0:
    raise ConfigError(f'width_multiplier must be > 0, got {width_multiplier}')
  if max_repeats < 0:
    raise ConfigError(f'max_repeats must be >= 0, got {max_repeats}')
  channels = make_divisible(STEM_CHANNELS * width_multiplier)
  stride, rate = 2, 1  # After the stem.
  plan = []
  for stage, (t, c, n, s) in enumerate(INVERTED_RESIDUAL_SETTINGS):
    n = min(n, max_repeats) if max_repeats else n
    features = make_divisible(c * width_multiplier)
    for i in range(n):
      block_stride = s if i == 0 else 1
      dilation = rate
      if block_stride > 1 and stride >= output_stride:
        rate *= block_stride
        block_stride = 1
      stride *= block_stride
      plan.append(
        {
          'features': features,
          'expansion': t,
          'strides': block_stride,
          'dilation': dilation,
          'residual': block_stride == 1 and channels == features,
          'stage': stage,
        }
      )
      channels = features
  return plan


class MobileNetV2(nn.Module):
  """MobileNetV2 feature extractor (no classifier), batch-norm free.

  Attributes:
    width_multiplier: scales all channel counts (multiples of 8).
    output_stride: 8, 16 or 32: stride of the high-level features; beyond it
      strides become atrous rates.
    norm: 'none' (the paper), 'group' or 'layer'; applied after every conv.
    max_repeats: at most this many blocks per stage (0: all; `block_plan`).
  """

  width_multiplier: float = 1.0
  output_stride: int = 32
  norm: str = 'none'
  max_repeats: int = 0

  @nn.compact
  def __call__(self, x: Array) -> dict[str, Array]:
    """Extracts low- and high-level features.

    Args:
      x: [batch, height, width, channels], any number of channels.

    Returns:
      A dict with
        'low_level': [batch, ceil(height / 4), ceil(width / 4), c_low], the
          output of the 24-channel stage (c_low = 24 * width, rounded);
        'high_level': [batch, ceil(height / output_stride),
          ceil(width / output_stride), c_high], the 320-channel stage
          (c_high = 320 * width, rounded).
    """
    check_norm(self.norm)
    plan = block_plan(
      self.width_multiplier, self.output_stride, self.max_repeats
    )
    num_residual = sum(block['residual'] for block in plan)
    x = ConvNormAct(
      make_divisible(STEM_CHANNELS * self.width_multiplier),
      kernel_size=3,
      strides=2,
      norm=self.norm,
      gain=LINEAR_GAIN,  # Raw input, no ReLU before it.
      name='stem',
    )(x)
    low_level = None
    for i, block in enumerate(plan):
      x = InvertedResidual(
        block['features'],
        block['expansion'],
        strides=block['strides'],
        dilation=block['dilation'],
        norm=self.norm,
        project_gain=(
          RELU_GAIN / num_residual if block['residual'] else RELU_GAIN
        ),
        name=f'block_{i}',
      )(x)
      next_stage = plan[i + 1]['stage'] if i + 1 < len(plan) else None
      if block['stage'] == LOW_LEVEL_STAGE != next_stage:
        low_level = x
    return {'low_level': low_level, 'high_level': x}


def feature_channels(width_multiplier: float = 1.0) -> tuple[int, int]:
  """Channels of ('low_level', 'high_level') for a width multiplier."""
  low = INVERTED_RESIDUAL_SETTINGS[LOW_LEVEL_STAGE][1]
  high = INVERTED_RESIDUAL_SETTINGS[-1][1]
  return (
    make_divisible(low * width_multiplier),
    make_divisible(high * width_multiplier),
  )
