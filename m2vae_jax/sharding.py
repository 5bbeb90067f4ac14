"""The ('data',) device mesh and the shardings of batches and state.

Data parallelism is `jax.jit` over global arrays: batches are split along
their leading axis over every device of every process, the train state is
replicated, and XLA inserts the gradient all-reduce that `pmap` + `pmean`
would have written by hand.
"""

from collections.abc import Sequence

import jax
from jax.sharding import AxisType
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from m2vae_jax.errors import ConfigError

DATA_AXIS = 'data'


def create_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh over `devices` (default: every device of every process)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,),
              axis_types=(AxisType.Auto,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the mesh."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(name: str, size: int, mesh: Mesh) -> None:
  """Raises a ConfigError naming the field if it does not split evenly."""
  n = mesh.devices.size
  if size <= 0 or size % n:
    raise ConfigError(f'{name}={size} must be a positive multiple of the '
                      f'{n} devices')


def put_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles global arrays from each process's slice of the batch."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v)
          for k, v in batch.items()}


def put_replicated(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))
