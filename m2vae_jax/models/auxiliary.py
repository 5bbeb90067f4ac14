"""Auxiliary deep generative models for MNIST (Maaloe et al. 2016).

Five MLPs around an auxiliary Gaussian variable a:

  q(a|x), q(y|a,x), q(z|a,x,y)                       inference (both models)
  ADGM: p(x|y,z), p(a|x,y,z)    a only makes q(y,z|x) more expressive
  SDGM: p(a|y,z), p(x|a,y,z)    a also sits in the generative path ("skip")

The methods are the callables of `losses.auxiliary_*_loss`; `classify(x)`
predicts with a at the mean of q(a|x), for evaluation.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax

from m2vae_jax.models import mlp


class AuxiliaryModel(nn.Module):
  """ADGM (skip=False) or SDGM (skip=True) with MLPs of `hidden` units
  (`norm`, `weight_init`: see `mlp`)."""

  hidden: Sequence[int]
  latent_dim: int
  aux_dim: int
  num_classes: int
  image_shape: Sequence[int]
  activation: str = 'relu'
  norm: str = 'none'
  weight_init: str = 'lecun'
  skip: bool = False

  auxiliary = True  # Tells the trainer to use the auxiliary bounds.

  def setup(self):
    def trunk():  # A new one per network: they share no weights.
      return mlp.Trunk(tuple(self.hidden), self.activation, self.norm,
                       self.weight_init)
    self.q_a = mlp.Encoder(trunk(), self.aux_dim)
    self.q_y = mlp.Classifier(trunk(), self.num_classes)
    self.q_z = mlp.Encoder(trunk(), self.latent_dim)
    self.p_a = mlp.Encoder(trunk(), self.aux_dim)
    self.p_x = mlp.Decoder(trunk(), tuple(self.image_shape))

  def infer_a(self, x: jax.Array):
    """q(a|x) -> (mean, log_var) [batch, aux_dim]."""
    return self.q_a(x)

  def classify_given_a(self, a: jax.Array, x: jax.Array) -> jax.Array:
    """q(y|a,x) -> logits [batch, classes]."""
    return self.q_y(a, x)

  def encode(self, a: jax.Array, x: jax.Array, y: jax.Array):
    """q(z|a,x,y) -> (mean, log_var) [batch, latent_dim]."""
    return self.q_z(a, x, y)

  def generate(self, a: jax.Array, x: jax.Array, y: jax.Array,
               z: jax.Array):
    """(logits of p(x|...), (mean, log_var) of p(a|...))."""
    if self.skip:
      return self.p_x(a, y, z), self.p_a(y, z)
    return self.p_x(y, z), self.p_a(x, y, z)

  def classify(self, x: jax.Array) -> jax.Array:
    """Prediction: q(y|a,x) at a = the mean of q(a|x)."""
    a, _ = self.infer_a(x)
    return self.classify_given_a(a, x)

  def __call__(self, x, y, z, a):
    return (self.classify(x), self.classify_given_a(a, x),
            self.encode(a, x, y), self.generate(a, x, y, z))
