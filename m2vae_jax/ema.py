"""An exponential moving average of the parameters, for evaluation.

Semi-supervised training at a constant learning rate leaves the iterate
noisy from one evaluation to the next; the average of the recent iterates
(Polyak and Juditsky 1992; the weight averaging of Tarvainen and Valpola
2017's mean teacher, without its consistency loss) is a steadier model. It
is a pure function of the parameter pytrees, used by the trainer when
`ema_decay > 0`.
"""

from typing import Any

import jax
import jax.numpy as jnp


def decay_at(step: jax.Array, decay: float) -> jax.Array:
  """The weight of the old average at update `step` (0-based): `decay`,
  but lower over the first updates, min(decay, (1 + step) / (10 + step)),
  as tf.train.ExponentialMovingAverage(num_updates=step), so that the
  initial parameters do not linger in the average."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def update(average: Any, params: Any, step: jax.Array, decay: float) -> Any:
  """average <- d * average + (1 - d) * params, d = decay_at(step, decay);
  every leaf in float32 (as the parameters are)."""
  d = decay_at(step, decay)
  return jax.tree.map(lambda a, p: d * a + (1.0 - d) * p, average, params)
