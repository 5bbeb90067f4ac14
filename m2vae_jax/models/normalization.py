"""Per-example normalizations for networks that see mixed batches.

Every batch of the M2 objective mixes labeled and unlabeled images (and the
enumerated bound replicates each image once per class), so batch statistics
would couple examples that the bound treats as independent; the paper
removed batch norm for that reason. GroupNorm and LayerNorm normalize each
example on its own and are safe under both.
"""

import flax.linen as nn
import jax

from m2vae_jax.errors import ConfigError

Array = jax.Array

NORMS = ('none', 'group', 'layer')


def num_groups(channels: int, max_groups: int = 32, min_size: int = 4) -> int:
  """Picks a GroupNorm group count that divides `channels`.

  The largest divisor of `channels` up to `max_groups` whose groups hold at
  least `min_size` channels (1 if none does), so narrow layers at small
  width multipliers still get statistics over several channels.

  Args:
    channels: the number of channels to normalize.
    max_groups: upper bound on the group count (32, as in Wu & He, 2018).
    min_size: smallest number of channels per group.

  Returns:
    The number of groups.
  """
  for groups in range(min(max_groups, channels // min_size), 1, -1):
    if channels % groups == 0:
      return groups
  return 1


def check_norm(norm: str) -> None:
  """Raises ConfigError unless `norm` is one of NORMS."""
  if norm not in NORMS:
    raise ConfigError(f'norm must be one of {NORMS}, got {norm!r}')


class Norm(nn.Module):
  """A per-example normalization, or the identity for `kind='none'`.

  Attributes:
    kind: 'none' (no parameters), 'group' (GroupNorm, group count from
      `num_groups`) or 'layer' (LayerNorm over the last axis: the channels of
      each pixel, or the units of a dense layer).
  """

  kind: str = 'none'

  @nn.compact
  def __call__(self, x: Array) -> Array:
    check_norm(self.kind)
    if self.kind == 'group':
      return nn.GroupNorm(num_groups=num_groups(x.shape[-1]))(x)
    if self.kind == 'layer':
      return nn.LayerNorm()(x)
    return x
