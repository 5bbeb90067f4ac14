"""Orbax checkpoints of the train state and the data-iterator state.

A checkpoint is `workdir/checkpoints/<step>/` with two items: `state` (the
TrainState pytree) and `data` (JSON: the step the data streams resume at and
the seeds they were built from). Orbax writes each checkpoint into a
temporary folder and renames it when complete, so a kill in the middle of a
save leaves nothing that `latest_step` would pick.
"""

import os
import signal
from typing import Any

import jax
from jax.experimental import multihost_utils
import numpy as np
import orbax.checkpoint as ocp


def _type_handlers() -> ocp.type_handlers.TypeHandlerRegistry:
  """orbax's default leaf handlers, with jax.Arrays saved from one replica.

  orbax's default on CPU and TPU splits each replicated array across its
  replicas to copy it to the host in parallel, which compiles one slice
  program per array shape and device on the first save: 336 programs and
  36 s for a tiny M2 on 8 devices, against 4 s on one. The states here
  are megabytes, so parallel copies gain nothing (orbax's GPU default is
  the same setting).
  """
  scalar = ocp.type_handlers.ScalarHandler()
  return ocp.type_handlers.create_type_handler_registry(
      (int, scalar), (float, scalar), (bytes, scalar), (np.number, scalar),
      (np.ndarray, ocp.type_handlers.NumpyHandler()),
      (jax.Array, ocp.type_handlers.ArrayHandler(use_replica_parallel=False)),
      (str, ocp.type_handlers.StringHandler()))


def create_manager(workdir: str, *, save_every_steps: int | None = None,
                   max_to_keep: int = 2,
                   async_save: bool = True) -> ocp.CheckpointManager:
  """The workdir's checkpoint manager; it also decides when to save.

  Args:
    workdir: checkpoints go to `workdir/checkpoints/`.
    save_every_steps: `manager.should_save(step)` is True at multiples of
      it and, on several processes, at the step all of them stop at for a
      preemption (orbax's policies). None: orbax's defaults, for managers
      that only restore.
    max_to_keep: older checkpoints are deleted.
    async_save: whether `save` returns before the files are written.
  """
  policy = None
  if save_every_steps:
    # Not orbax's default policy for `save_interval_steps`: that one also
    # saves at the first step of a fresh run, which costs a save for nothing.
    policy = ocp.checkpoint_managers.AnySavePolicy([
        ocp.checkpoint_managers.FixedIntervalPolicy(save_every_steps),
        ocp.checkpoint_managers.PreemptionCheckpointingPolicy()])
  options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, create=True,
      enable_async_checkpointing=async_save,
      cleanup_tmp_directories=True, save_decision_policy=policy)
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')),
      options=options,
      item_handlers={
          'state': ocp.PyTreeCheckpointHandler(
              type_handler_registry=_type_handlers()),
          'data': ocp.JsonCheckpointHandler()})


def save(manager: ocp.CheckpointManager, step: int, state: Any,
         data_state: dict[str, Any]) -> None:
  """Saves (asynchronously if the manager is async) at `step`.

  Unconditional: the caller has asked `manager.should_save(step)` or has a
  reason of its own (SIGTERM, the last step).
  """
  manager.save(step, args=ocp.args.Composite(
      state=ocp.args.PyTreeSave(state),
      data=ocp.args.JsonSave(data_state)), force=True)


def restore_latest(manager: ocp.CheckpointManager, target: Any):
  """Restores the newest complete checkpoint onto `target`'s structure.

  Args:
    manager: the workdir's manager.
    target: a TrainState (concrete or abstract); its shapes, dtypes and
      shardings say how to restore.

  Returns:
    (state, data_state), or None if the workdir has no checkpoint.
  """
  step = manager.latest_step()
  if step is None:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.PyTreeRestore(
          abstract,
          restore_args=ocp.checkpoint_utils.construct_restore_args(abstract)),
      data=ocp.args.JsonRestore()))
  return restored['state'], dict(restored['data'])


class Preemption:
  """Tells the loop, after every step, whether SIGTERM asked it to stop.

  One process: a SIGTERM handler sets a flag. Several processes: JAX's
  distributed runtime hears the SIGTERM and `reached_preemption_sync_point`
  makes every process stop at the same step, so they save one checkpoint
  together.
  """

  def __init__(self):
    self._signalled = False
    self._previous = None
    self._multiprocess = jax.process_count() > 1

  def __enter__(self):
    if self._multiprocess:
      return self
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread: leave signals alone.
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self._signalled = True

  def requested(self, step: int) -> bool:
    if self._multiprocess:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._signalled

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
