"""The MNIST networks of Section 4: MLPs with 2 hidden layers of 1000 units.

q(y|x): Classifier(x) -> logits [batch, classes]
q(z|x,y): Encoder(x, y) -> (mean, log_var) [batch, latent]; the two heads
  share every layer but the last (Section 4).
p(x|y,z): Decoder(y, z) -> Bernoulli logits [batch, *image_shape]

`norm` puts a per-example normalization ('layer' or 'group', see
`normalization.Norm`) between each hidden layer and its activation; the
paper's networks have none.
"""

from collections.abc import Callable
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from m2vae_jax.models.normalization import Norm

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': nn.relu,
    'softplus': nn.softplus,
    'elu': nn.elu,
    'gelu': nn.gelu,
    'tanh': jnp.tanh,
    'swish': nn.swish,
}


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

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> jax.Array:
    act = ACTIVATIONS[self.activation]
    # A norm's own shift makes a bias before it redundant.
    bias = self.norm == 'none'
    h = sum(nn.Dense(self.hidden[0], use_bias=bias and i == 0,
                     name=f'input_{i}')(_flatten(x))
            for i, x in enumerate(inputs))
    h = act(Norm(self.norm, name='norm_0')(h))
    for i, width in enumerate(self.hidden[1:]):
      h = nn.Dense(width, use_bias=bias, name=f'hidden_{i + 1}')(h)
      h = act(Norm(self.norm, name=f'norm_{i + 1}')(h))
    return h


class Classifier(nn.Module):
  """q(y|x) (or q(y|a,x)). inputs: [batch, ...] each -> logits
  [batch, num_classes]."""

  hidden: Sequence[int]
  num_classes: int
  activation: str = 'relu'
  norm: str = 'none'

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> jax.Array:
    h = Trunk(self.hidden, self.activation, self.norm, name='trunk')(*inputs)
    return nn.Dense(self.num_classes, name='logits')(h)


class Encoder(nn.Module):
  """A diagonal Gaussian of its inputs: q(z|x,y) = Encoder(x, y), or any
  other conditional (q(a|x), p(a|x,y,z), ...). -> (mean, log_var), each
  [batch, latent_dim]; the heads share the trunk."""

  hidden: Sequence[int]
  latent_dim: int
  activation: str = 'relu'
  norm: str = 'none'

  @nn.compact
  def __call__(self, *inputs: jax.Array):
    h = Trunk(self.hidden, self.activation, self.norm, name='trunk')(*inputs)
    mean = nn.Dense(self.latent_dim, name='mean')(h)
    log_var = nn.Dense(self.latent_dim, name='log_var')(h)
    return mean, log_var


class Decoder(nn.Module):
  """p(x|y,z) (or p(x|a,y,z)). inputs: [batch, ...] each -> logits of x
  [batch, *output_shape]."""

  hidden: Sequence[int]
  output_shape: Sequence[int]
  activation: str = 'relu'
  norm: str = 'none'

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> jax.Array:
    h = Trunk(self.hidden, self.activation, self.norm, name='trunk')(*inputs)
    size = 1
    for d in self.output_shape:
      size *= d
    logits = nn.Dense(size, name='logits')(h)
    return logits.reshape((h.shape[0], *self.output_shape))
