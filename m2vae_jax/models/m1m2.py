"""M1+M2 (Kingma et al. 2014): M2 on the latent codes of an M1 VAE.

  M1:  q(z1|x) = N(m1_encode(x)),  p(x|z1) = Bern(m1_decode(z1))
  M2 on z1:  q(y|z1), q(z2|z1,y), p(z1|y,z2) = N(m2_decode(y, z2))

`classify(x)` predicts from the mean of q(z1|x), for evaluation.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax

from m2vae_jax.models import mlp


class M1M2(nn.Module):
  """The five MLPs of M1+M2; parameter names of M1 start with 'm1_' (the
  optimizer freezes them after the M1 phase by that prefix)."""

  m1_hidden: Sequence[int]
  m1_latent: int
  hidden: Sequence[int]
  latent_dim: int
  num_classes: int
  image_shape: Sequence[int]
  activation: str = 'relu'
  norm: str = 'none'
  weight_init: str = 'lecun'

  def setup(self):
    def trunk(hidden):  # A new one per network: they share no weights.
      return mlp.Trunk(tuple(hidden), self.activation, self.norm,
                       self.weight_init)
    self.m1_enc = mlp.Encoder(trunk(self.m1_hidden), self.m1_latent)
    self.m1_dec = mlp.Decoder(trunk(self.m1_hidden), tuple(self.image_shape))
    self.m2_cls = mlp.Classifier(trunk(self.hidden), self.num_classes)
    self.m2_enc = mlp.Encoder(trunk(self.hidden), self.latent_dim)
    self.m2_dec = mlp.Encoder(trunk(self.hidden), self.m1_latent)

  def m1_encode(self, x: jax.Array):
    """q(z1|x) -> (mean, log_var) [batch, m1_latent]."""
    return self.m1_enc(x)

  def m1_decode(self, z1: jax.Array) -> jax.Array:
    """p(x|z1) -> Bernoulli logits [batch, *image_shape]."""
    return self.m1_dec(z1)

  def m2_classify(self, z1: jax.Array) -> jax.Array:
    return self.m2_cls(z1)

  def m2_encode(self, z1: jax.Array, y: jax.Array):
    return self.m2_enc(z1, y)

  def m2_decode(self, y: jax.Array, z2: jax.Array):
    """p(z1|y,z2) -> (mean, log_var) [batch, m1_latent]."""
    return self.m2_dec(y, z2)

  def classify(self, x: jax.Array) -> jax.Array:
    """Prediction from the mean of q(z1|x)."""
    return self.m2_classify(self.m1_encode(x)[0])

  def __call__(self, x: jax.Array, y: jax.Array):
    z1, _ = self.m1_encode(x)
    z2, _ = self.m2_encode(z1, y)
    return self.m1_decode(z1), self.classify(x), self.m2_decode(y, z2)
