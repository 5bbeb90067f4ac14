"""The MNIST networks of Section 4: MLPs with 2 hidden layers of 1000 units.

q(y|x): Classifier(x) -> logits [batch, classes]
q(z|x,y): Encoder(x, y) -> (mean, log_var) [batch, latent]; the two heads
  share every layer but the last (Section 4).
p(x|y,z): Decoder(y, z) -> Bernoulli logits [batch, *image_shape]

`norm` puts a per-example normalization ('layer' or 'group', see
`normalization.Norm`) between each hidden layer and its activation; the
paper's networks have none.

`weight_init` picks the initial weights (`WEIGHT_INITS`): 'lecun' is Flax's
default (LeCun-normal kernels, zero biases); 'maaloe' is that of Maaloe et
al.'s (2016) SDGM code: Glorot-normal kernels (with the ReLU gain sqrt(2) in the
hidden layers), N(0, 1e-3^2) biases, and N(0, 1e-3^2) kernels in the
Gaussian heads, so that every q and p starts near N(0, 1).
"""

from collections.abc import Callable
from collections.abc import Sequence
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from m2vae_jax.errors import ConfigError
from m2vae_jax.models.normalization import Norm

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': nn.relu,
    'softplus': nn.softplus,
    'elu': nn.elu,
    'gelu': nn.gelu,
    'tanh': jnp.tanh,
    'swish': nn.swish,
}


WEIGHT_INITS = ('lecun', 'maaloe')
_MAALOE_STD = 1e-3
# Activations that get Glorot's ReLU gain in Maaloe et al.'s code.
_RELU_LIKE = ('relu', 'softplus')


def dense(features: int, init: str, role: str, activation: str = 'relu',
          use_bias: bool = True, name: str | None = None) -> nn.Dense:
  """A Dense layer initialized per `init` for its role in the network:
  'hidden' (followed by `activation`), 'logits' (a linear output) or
  'gaussian' (a mean or log-variance head)."""
  if init == 'lecun':
    return nn.Dense(features, use_bias=use_bias, name=name)
  if init != 'maaloe':
    raise ConfigError(f'weight_init must be one of {WEIGHT_INITS}, got '
                      f'{init!r}')
  small = nn.initializers.normal(_MAALOE_STD)
  if role == 'gaussian':
    kernel = small
  else:
    # Lasagne's GlorotNormal(gain): std = gain * sqrt(2 / (fan_in + fan_out)).
    gain2 = 2.0 if role == 'hidden' and activation in _RELU_LIKE else 1.0
    kernel = nn.initializers.variance_scaling(gain2, 'fan_avg', 'normal')
  return nn.Dense(features, use_bias=use_bias, kernel_init=kernel,
                  bias_init=small, name=name)


def _flatten(x: jax.Array) -> jax.Array:
  return x.reshape(x.shape[0], -1)


class Trunk(nn.Module):
  """Dense layers over the concatenation of one or more inputs.

  The first layer reads each input through its own kernel, which is the
  same function as one kernel over the concatenation. It lets XLA multiply
  an input that is constant along a vmapped axis only once: when the
  unlabeled bound enumerates the 10 classes, x @ W_x is computed once per
  image, not once per class.
  """

  hidden: Sequence[int]
  activation: str = 'relu'
  norm: str = 'none'
  weight_init: str = 'lecun'

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> jax.Array:
    act = ACTIVATIONS[self.activation]
    layer = functools.partial(dense, init=self.weight_init, role='hidden',
                              activation=self.activation)
    # A norm's own shift makes a bias before it redundant.
    bias = self.norm == 'none'
    h = sum(layer(self.hidden[0], use_bias=bias and i == 0,
                  name=f'input_{i}')(_flatten(x))
            for i, x in enumerate(inputs))
    h = act(Norm(self.norm, name='norm_0')(h))
    for i, width in enumerate(self.hidden[1:]):
      h = layer(width, use_bias=bias, name=f'hidden_{i + 1}')(h)
      h = act(Norm(self.norm, name=f'norm_{i + 1}')(h))
    return h


class Classifier(nn.Module):
  """q(y|x) (or q(y|a,x)). inputs: [batch, ...] each -> logits
  [batch, num_classes]."""

  trunk: Trunk
  num_classes: int

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> jax.Array:
    return dense(self.num_classes, self.trunk.weight_init, 'logits',
                 name='logits')(self.trunk(*inputs))


class Encoder(nn.Module):
  """A diagonal Gaussian of its inputs: q(z|x,y) = Encoder(x, y), or any
  other conditional (q(a|x), p(a|x,y,z), ...). -> (mean, log_var), each
  [batch, latent_dim]; the heads share the trunk."""

  trunk: Trunk
  latent_dim: int

  @nn.compact
  def __call__(self, *inputs: jax.Array):
    h = self.trunk(*inputs)
    head = functools.partial(dense, self.latent_dim, self.trunk.weight_init,
                             'gaussian')
    return head(name='mean')(h), head(name='log_var')(h)


class Decoder(nn.Module):
  """p(x|y,z) (or p(x|a,y,z)). inputs: [batch, ...] each -> logits of x
  [batch, *output_shape]."""

  trunk: Trunk
  output_shape: Sequence[int]

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> jax.Array:
    h = self.trunk(*inputs)
    size = math.prod(self.output_shape)
    logits = dense(size, self.trunk.weight_init, 'logits', name='logits')(h)
    return logits.reshape((h.shape[0], *self.output_shape))
