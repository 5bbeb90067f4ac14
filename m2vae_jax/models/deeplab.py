"""DeepLabv3+ on a batch-norm-free MobileNetV2, output at input resolution.

Chen et al. (2018), "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation": atrous spatial pyramid pooling (ASPP) on the
stride-`output_stride` features, a decoder that merges them with stride-4
features, and per-pixel heads upsampled bilinearly to the input size. The
3x3 convs of ASPP and the decoder are depthwise separable, as in the paper.

The M2 model uses three of these (Section 3 of the paper): q(y|x) with one
head of class logits, q(z|x,y) with two heads (mean and log-variance) on one
shared trunk, and p(x|y,z) with one head of pixel logits. Inputs may have any
channel count: the networks see concat(y, x) or concat(y, z).

Choosing output_stride and atrous rates at small sizes: DeepLab's rates
(6, 12, 18) were set for 513x513 inputs at output stride 16, i.e. a 33x33
feature map. At 128x128 and output stride 16 the map is 8x8, where a rate of
12 or 18 makes every off-centre tap of the 3x3 kernel read padding, so
`default_atrous_rates` shrinks the rates with the map. Suggested settings:
  - 64x64: output_stride 8 (an 8x8 map, rates (1, 3, 4)); at 16 the map is
    4x4, too coarse for atrous rates to mean much.
  - 128x128: output_stride 16 (8x8 map, rates (1, 3, 4)), the default, as
    in DeepLab; output_stride 8 (16x16 map, rates (3, 6, 9)) gives finer
    masks for 2.3x the forward FLOPs (3.2x in the backbone).
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from m2vae_jax.errors import ConfigError
from m2vae_jax.models import mobilenet
from m2vae_jax.models.mobilenet import LINEAR_GAIN
from m2vae_jax.models.mobilenet import ConvNormAct
from m2vae_jax.models.mobilenet import fan_in_init

Array = jax.Array

# DeepLab's rates and the feature-map size they were tuned for (513 / 16).
REFERENCE_RATES = (6, 12, 18)
REFERENCE_MAP_SIZE = 33
# Decoder low-level projection: 48 channels for a 256-channel decoder.
LOW_LEVEL_FRACTION = 48 / 256
# Output heads are linear in post-ReLU features: gain 1 starts their outputs
# (logits, means, log-variances) at a standard deviation below 1.
HEAD_GAIN = 1.0


def default_atrous_rates(
  image_size: int, output_stride: int
) -> tuple[int, ...]:
  """ASPP rates scaled to the feature-map size of an input.

  The rule: with m = ceil(image_size / output_stride) the side of the
  feature map (SAME padding), each of DeepLab's rates (6, 12, 18) becomes
  max(1, round(rate * m / 33)); a rate that does not exceed the one before
  it is raised to that one plus 1, so the rates stay distinct and
  increasing. This gives (6, 12, 18) at 513 / 16 (DeepLab's setting),
  (12, 24, 35) at 513 / 8 (DeepLab uses (12, 24, 36)), (3, 6, 9) at 128 / 8,
  and (1, 3, 4) at 128 / 16 and 64 / 8.

  Args:
    image_size: side of the input in pixels; for a non-square input pass the
      shorter side, so no rate outgrows the map in either direction.
    output_stride: stride of the features ASPP runs on.

  Returns:
    Three atrous rates, distinct and increasing.
  """
  if image_size < 1 or output_stride < 1:
    raise ConfigError(
      f'image_size and output_stride must be >= 1, got {image_size}, '
      f'{output_stride}'
    )
  map_size = math.ceil(image_size / output_stride)
  rates = []
  for rate in REFERENCE_RATES:
    rate = max(1, round(rate * map_size / REFERENCE_MAP_SIZE))
    if rates and rate <= rates[-1]:
      rate = rates[-1] + 1
    rates.append(rate)
  return tuple(rates)


class SeparableConv(nn.Module):
  """3x3 depthwise (atrous) conv -> norm -> ReLU -> 1x1 conv -> norm -> ReLU.

  Attributes:
    features: output channels.
    dilation: atrous rate of the depthwise conv.
    norm: see `mobilenet.Norm`.
    input_gain: init gain of the depthwise conv: 1 when the input is linear
      (backbone features), 2 when it comes out of a ReLU.
  """

  features: int
  dilation: int = 1
  norm: str = 'none'
  input_gain: float = mobilenet.RELU_GAIN

  @nn.compact
  def __call__(self, x: Array) -> Array:
    x = ConvNormAct(
      kernel_size=3,
      dilation=self.dilation,
      depthwise=True,
      norm=self.norm,
      activation=nn.relu,
      gain=self.input_gain,
      name='depthwise',
    )(x)
    return ConvNormAct(
      self.features, norm=self.norm, activation=nn.relu, name='pointwise'
    )(x)


class ASPP(nn.Module):
  """Atrous spatial pyramid pooling (DeepLabv3), without dropout.

  Branches: a 1x1 conv, one separable 3x3 conv per atrous rate, and image
  pooling (global average -> 1x1 conv -> broadcast back); they are
  concatenated and projected by a 1x1 conv.

  Attributes:
    features: channels of every branch and of the output.
    atrous_rates: one 3x3 branch per rate.
    norm: see `mobilenet.Norm`.
  """

  features: int
  atrous_rates: tuple[int, ...]
  norm: str = 'none'

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Applies ASPP.

    Args:
      x: [batch, height, width, channels], linear backbone features.

    Returns:
      [batch, height, width, features].
    """
    branches = [
      ConvNormAct(
        self.features,
        norm=self.norm,
        activation=nn.relu,
        gain=LINEAR_GAIN,
        name='conv_1x1',
      )(x)
    ]
    for i, rate in enumerate(self.atrous_rates):
      branches.append(
        SeparableConv(
          self.features,
          dilation=rate,
          norm=self.norm,
          input_gain=LINEAR_GAIN,
          name=f'atrous_{i}',
        )(x)
      )
    pooled = jnp.mean(x, axis=(1, 2), keepdims=True)
    pooled = ConvNormAct(
      self.features,
      norm=self.norm,
      activation=nn.relu,
      gain=LINEAR_GAIN,
      name='image_pool',
    )(pooled)
    branches.append(jnp.broadcast_to(pooled, branches[0].shape))
    return ConvNormAct(
      self.features, norm=self.norm, activation=nn.relu, name='project'
    )(jnp.concatenate(branches, axis=-1))


def resize_to(x: Array, height: int, width: int) -> Array:
  """Bilinear resize of [batch, h, w, c] to [batch, height, width, c]."""
  shape = (x.shape[0], height, width, x.shape[-1])
  return jax.image.resize(x, shape, method='bilinear')


class DeepLabV3Plus(nn.Module):
  """DeepLabv3+ with a MobileNetV2 backbone, no batch norm, no dropout.

  Attributes:
    num_outputs: channels of the output; an int gives one head, a tuple one
      1x1-conv head per entry, all sharing every other layer (q(z|x,y) reads
      mean and log-variance from one trunk).
    width_multiplier: of the MobileNetV2 backbone.
    output_stride: 8, 16 or 32, stride of the features ASPP sees (see the
      module docstring for which to pick at 64x64 and 128x128).
    atrous_rates: ASPP rates; None picks `default_atrous_rates` from the
      shorter side of each input.
    aspp_channels: channels of every ASPP branch and its projection.
    decoder_channels: channels of the two decoder convs; the low-level
      projection gets 48/256 of them (48 at 256), rounded to a multiple of 8.
    norm: 'none' (the paper), 'group' or 'layer', in backbone, ASPP and
      decoder alike (not in the output heads).
    head_bias: initial bias of the output heads (e.g. a prior's logit).
    max_repeats: at most this many backbone blocks per MobileNetV2 stage
      (0: all; `mobilenet.block_plan`).
  """

  num_outputs: int | tuple[int, ...]
  width_multiplier: float = 1.0
  output_stride: int = 16
  atrous_rates: tuple[int, ...] | None = None
  aspp_channels: int = 256
  decoder_channels: int = 256
  norm: str = 'none'
  head_bias: float = 0.0
  max_repeats: int = 0

  @nn.compact
  def __call__(self, x: Array, with_features: bool = False):
    """Maps an image (or stacked maps) to per-pixel outputs.

    Args:
      x: [batch, height, width, channels] float32; any size (SAME padding,
        the output is resized to exactly height x width) and any channel
        count.
      with_features: also return the decoder's last features, [batch,
        ceil(height / 4), ceil(width / 4), decoder_channels], the input of
        the heads.

    Returns:
      [batch, height, width, num_outputs] when `num_outputs` is an int;
      otherwise a tuple of [batch, height, width, n], one per entry of
      `num_outputs`, in order. With `with_features`, (that, features).
    """
    _, height, width, _ = x.shape
    features = mobilenet.MobileNetV2(
      self.width_multiplier,
      self.output_stride,
      self.norm,
      self.max_repeats,
      name='backbone',
    )(x)
    rates = self.atrous_rates
    if rates is None:
      rates = default_atrous_rates(min(height, width), self.output_stride)
    h = ASPP(self.aspp_channels, tuple(rates), self.norm, name='aspp')(
      features['high_level']
    )

    low = features['low_level']
    low = ConvNormAct(
      mobilenet.make_divisible(self.decoder_channels * LOW_LEVEL_FRACTION),
      norm=self.norm,
      activation=nn.relu,
      gain=LINEAR_GAIN,
      name='low_level_project',
    )(low)
    h = resize_to(h, low.shape[1], low.shape[2])
    h = jnp.concatenate([h, low], axis=-1)
    for i in range(2):
      h = SeparableConv(
        self.decoder_channels, norm=self.norm, name=f'decoder_{i}'
      )(h)

    sizes = self.num_outputs
    single = isinstance(sizes, int)
    outputs = tuple(
      resize_to(
        nn.Conv(
          n,
          (1, 1),
          kernel_init=fan_in_init(HEAD_GAIN),
          bias_init=nn.initializers.constant(self.head_bias),
          name=f'head_{i}',
        )(h),
        height,
        width,
      )
      for i, n in enumerate((sizes,) if single else sizes)
    )
    outputs = outputs[0] if single else outputs
    return (outputs, h) if with_features else outputs
