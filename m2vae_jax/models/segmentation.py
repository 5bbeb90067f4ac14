"""The fully convolutional M2 networks of eq. (12), each a DeepLabv3+.

q(y|x)   = DL(x)                -> per-pixel class logits [b, h, w, classes]
q(z|x,y) = DL(concat(y, x))     -> per-pixel (mean, log_var) [b, h, w, zc],
                                   two heads on one shared trunk (Section 4)
p(x|y,z) = DL(concat(y, z))     -> per-pixel likelihood parameters [b, h, w, c]

z may also be coarser than the pixels (`latent_stride`), an extension.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from m2vae_jax import losses
from m2vae_jax.models import deeplab
from m2vae_jax.models import mobilenet


@dataclasses.dataclass(frozen=True)
class DeepLabSettings:
  """The DeepLabv3+ hyper-parameters shared by the three networks."""

  width_multiplier: float = 1.0
  output_stride: int = 16
  atrous_rates: tuple[int, ...] | None = None
  aspp_channels: int = 256
  decoder_channels: int = 256
  norm: str = 'none'
  max_repeats: int = 0             # backbone blocks per stage (0: all)

  def build(self, num_outputs, name: str,
            head_bias: float = 0.0) -> deeplab.DeepLabV3Plus:
    return deeplab.DeepLabV3Plus(
        num_outputs=num_outputs, width_multiplier=self.width_multiplier,
        output_stride=self.output_stride, atrous_rates=self.atrous_rates,
        aspp_channels=self.aspp_channels,
        decoder_channels=self.decoder_channels, norm=self.norm,
        head_bias=head_bias, max_repeats=self.max_repeats, name=name)


class Classifier(nn.Module):
  """q(y|x). x: [b, h, w, c] -> logits [b, h, w, num_classes].

  With independent sigmoids (the Bernoulli target) the class logits start
  at log(1 / (K - 1)), i.e. probability 1/K each: at 0 every pixel would
  start with K/2 classes "on", and the network spends its first thousand
  steps pulling them down.
  """

  settings: DeepLabSettings
  num_classes: int
  independent_classes: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, with_features: bool = False):
    """Logits; with `with_features`, (logits, the stride-4 features the
    logits are read from) (`SharedEncoder` reads them)."""
    bias = (-math.log(self.num_classes - 1) if self.independent_classes
            else 0.0)
    return self.settings.build(self.num_classes, 'deeplab', bias)(
        x, with_features=with_features)


class Encoder(nn.Module):
  """q(z|x,y). x: [b, h, w, c], y: [b, h, w, classes] -> (mean, log_var),
  each [b, h/s, w/s, latent_channels] with s = latent_stride.

  latent_stride = 1 is the paper's z per pixel. A coarser z (s > 1, the
  per-pixel outputs averaged over s x s cells) cannot copy the image pixel
  by pixel, so the decoder must take the fine shapes from y: that is what
  makes the unlabeled bound informative about the masks.
  """

  settings: DeepLabSettings
  latent_channels: int
  latent_stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array):
    net = self.settings.build((self.latent_channels,) * 2, 'deeplab')
    mean, log_var = net(jnp.concatenate([y, x.astype(y.dtype)], axis=-1))
    if self.latent_stride > 1:
      s = (self.latent_stride,) * 2
      mean = nn.avg_pool(mean, s, strides=s, padding='SAME')
      log_var = nn.avg_pool(log_var, s, strides=s, padding='SAME')
    return mean, log_var


class SharedEncoder(nn.Module):
  """q(z|x,y) read off q(y|x)'s own features (an extension of the paper,
  whose q(z|x,y) is a DeepLab of its own).

  features: [b, h/4, w/4, c], the classifier's last features of x (see
  `Classifier`); y: [b, h, w, classes] -> (mean, log_var), each [b, h/s,
  w/s, latent_channels], s = latent_stride (a multiple of 4).

  The unlabeled bound then trains the classifier's whole network to keep
  what reconstructing x needs, besides the class map, and the encoder costs
  two small convolutions instead of a DeepLab.
  """

  latent_channels: int
  latent_stride: int
  hidden: int = 64
  norm: str = 'none'

  @nn.compact
  def __call__(self, features: jax.Array, y: jax.Array):
    cell = self.latent_stride // 4
    if self.latent_stride % 4 or cell < 1:
      raise ValueError(f'latent_stride={self.latent_stride}: the shared '
                       'encoder needs a multiple of 4, the features\' stride')
    h, w = features.shape[1:3]
    y = jax.image.resize(y.astype(features.dtype),
                         (y.shape[0], h, w, y.shape[-1]), 'linear')
    hidden = mobilenet.ConvNormAct(self.hidden, norm=self.norm,
                                   activation=nn.relu, name='mix')(
        jnp.concatenate([features, y], axis=-1))
    if cell > 1:
      hidden = nn.avg_pool(hidden, (cell, cell), strides=(cell, cell),
                           padding='SAME')
    head = lambda name: nn.Conv(self.latent_channels, (1, 1), name=name,
                                kernel_init=mobilenet.fan_in_init(1.0))
    return head('mean')(hidden), head('log_var')(hidden)


class Decoder(nn.Module):
  """p(x|y,z). y: [b, h, w, classes], z: [b, h', w', zc] -> the likelihood's
  parameters: logits [b, h, w, channels] (Bernoulli, continuous Bernoulli),
  or a pair of them (Gaussian: mean, log-variance; discretized logistic:
  mean, log-scale)."""

  settings: DeepLabSettings
  channels: int
  likelihood: str = 'bernoulli'

  @nn.compact
  def __call__(self, y: jax.Array, z: jax.Array):
    if z.shape[1:3] != y.shape[1:3]:  # A coarse z (latent_stride > 1).
      z = jax.image.resize(z, (*z.shape[:1], *y.shape[1:3], z.shape[-1]),
                           method='nearest')
    two = self.likelihood in losses.TWO_PARAMETER_LIKELIHOODS
    net = self.settings.build((self.channels,) * 2 if two else self.channels,
                              'deeplab')
    return net(jnp.concatenate([y, z.astype(y.dtype)], axis=-1))
