"""The M2 model: the three networks of eq. (8) / (12) behind one module.

  classify(x)    -> logits of q(y|x)         [batch, (height, width,) classes]
  encode(x, y)   -> (mean, log_var) of q(z|x,y)
  decode(y, z)   -> Bernoulli logits of p(x|y,z), shaped like x

`M2.init(rng, x, y, z)` creates all three; `M2.init(rng, x,
method=M2.classify)` creates only the classifier (the supervised baseline).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp


class M2(nn.Module):
  """Bundles q(y|x), q(z|x,y) and p(x|y,z); each is any Flax module."""

  classifier: nn.Module
  encoder: nn.Module
  decoder: nn.Module
  # The encoder reads the classifier's features of x, not x itself
  # (segmentation.SharedEncoder).
  encoder_reads_classifier: bool = False

  def classify(self, x: jax.Array) -> jax.Array:
    return self.classifier(x)

  def encode(self, x: jax.Array, y: jax.Array):
    if self.encoder_reads_classifier:
      _, features = self.classifier(x, with_features=True)
      return self.encoder(features, y)
    return self.encoder(x, y)

  def classify_for_encoder(self, x: jax.Array):
    """(logits of q(y|x), what `encode_read` reads of x): the classifier's
    features when the encoder reads them, else x itself. One pass through
    the classifier serves both (the objective uses this)."""
    if self.encoder_reads_classifier:
      return self.classifier(x, with_features=True)
    return self.classifier(x), x

  def encode_read(self, read: jax.Array, y: jax.Array):
    """q(z|x,y) from `classify_for_encoder`'s second output."""
    return self.encoder(read, y)

  def decode(self, y: jax.Array, z: jax.Array) -> jax.Array:
    return self.decoder(y, z)

  def __call__(self, x: jax.Array, y: jax.Array, z: jax.Array):
    return self.classify(x), self.encode(x, y), self.decode(y, z)


def _cast_floats(tree, dtype):
  return jax.tree.map(
      lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating)
      else a, tree)


@dataclasses.dataclass(frozen=True)
class Networks:
  """A model's networks bound to parameters, as the plain callables that
  `losses` expects: `networks.classify(x)`, `networks.encode(x, y)`, ...
  (any method of the model, by name).

  With compute_dtype=bfloat16 (mixed precision) the parameters and inputs
  are cast to bfloat16 at use, so matmuls and convolutions run in bfloat16
  while the parameters (and their gradients and optimizer state) stay
  float32; every output is cast back to float32 before it reaches a loss.
  """

  model: nn.Module
  params: dict
  compute_dtype: jnp.dtype = jnp.float32

  def _apply(self, method: str, *args):
    if self.compute_dtype == jnp.float32:
      # Outputs keep the parameters' dtype (float64 under jax_enable_x64,
      # where tests compare steps to 1e-7).
      return self.model.apply(self.params, *args, method=method)
    params = _cast_floats(self.params, self.compute_dtype)
    args = _cast_floats(args, self.compute_dtype)
    out = self.model.apply(params, *args, method=method)
    return _cast_floats(out, jnp.float32)

  def __getattr__(self, method: str):
    if method.startswith('_'):
      raise AttributeError(method)
    return lambda *args: self._apply(method, *args)
