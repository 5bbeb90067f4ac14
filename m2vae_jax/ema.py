"""An exponential moving average of the parameters, for evaluation.

Semi-supervised training at a constant learning rate leaves the iterate
noisy from one evaluation to the next; the average of the recent iterates
(Polyak and Juditsky 1992; the weight averaging of Tarvainen and Valpola
2017's mean teacher, without its consistency loss) is a steadier model. It
is a pure function of the parameter pytrees, used by the trainer when
`ema_decay > 0`.
"""

from typing import Any

import jax.numpy as jnp
from jax.typing import ArrayLike
import optax


def decay_at(step: ArrayLike, decay: float) -> jnp.ndarray:
  """The weight of the old average at update `step` (0-based): `decay`,
  but lower over the first updates, min(decay, (1 + step) / (10 + step)),
  as tf.train.ExponentialMovingAverage(num_updates=step), so that the
  initial parameters do not linger in the average."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def update(average: Any, params: Any, step: ArrayLike, decay: float) -> Any:
  """average <- d * average + (1 - d) * params, d = decay_at(step, decay);
  every leaf in float32 (as the parameters are)."""
  return optax.incremental_update(params, average,
                                  1.0 - decay_at(step, decay))
