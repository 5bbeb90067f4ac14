"""The M2 model: the three networks of eq. (8) / (12) behind one module.

  classify(x)    -> logits of q(y|x)         [batch, (height, width,) classes]
  encode(x, y)   -> (mean, log_var) of q(z|x,y)
  decode(y, z)   -> Bernoulli logits of p(x|y,z), shaped like x

`M2.init(rng, x, y, z)` creates all three; `M2.init(rng, x,
method=M2.classify)` creates only the classifier (the supervised baseline).
"""

import flax.linen as nn
import jax


class M2(nn.Module):
  """Bundles q(y|x), q(z|x,y) and p(x|y,z); each is any Flax module."""

  classifier: nn.Module
  encoder: nn.Module
  decoder: nn.Module

  def classify(self, x: jax.Array) -> jax.Array:
    return self.classifier(x)

  def encode(self, x: jax.Array, y: jax.Array):
    return self.encoder(x, y)

  def decode(self, y: jax.Array, z: jax.Array) -> jax.Array:
    return self.decoder(y, z)

  def __call__(self, x: jax.Array, y: jax.Array, z: jax.Array):
    return self.classify(x), self.encode(x, y), self.decode(y, z)
