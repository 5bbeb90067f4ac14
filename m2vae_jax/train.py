"""One trainer for every experiment: the state, the step and the loop.

`train_and_evaluate(config, workdir)` runs an experiment end to end. What
varies between experiments is a config field: the model kind's spec
(`models.registry`: networks, objective, optimizer groups), the data set
(`data`), the schedule and the checks (`optim`, `config_checks`). The step
takes its objective as a function and has no branch on the model.
"""

import functools
import json
import math
import os
import time
from typing import Any

from absl import logging
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from m2vae_jax import checkpointing
from m2vae_jax import config_checks
from m2vae_jax import ema as ema_lib
from m2vae_jax import evaluate as evaluate_lib
from m2vae_jax import metric_writers
from m2vae_jax import metrics as metrics_lib
from m2vae_jax import optim
from m2vae_jax import progress
from m2vae_jax import sharding
from m2vae_jax import workdir as workdir_lib
from m2vae_jax.data import pipeline
from m2vae_jax.errors import UserError
from m2vae_jax.models import registry
from m2vae_jax.task import Task

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]  # name -> [sum, count]


class TrainingDiverged(UserError):
  """A loss or gradient became NaN or infinite."""


@flax.struct.dataclass
class TrainState:
  """Everything a step changes; a pytree that orbax saves as is."""

  step: jax.Array      # int32 []
  params: Any
  opt_state: Any
  rng: jax.Array       # uint32 [2], raw key data (plain array to checkpoint)
  # The moving average of params when config.ema_decay > 0, else None (so
  # the state, and its checkpoints, are as they were without it).
  ema_params: Any = None

  @property
  def eval_params(self) -> Any:
    """What evaluation uses: the average if there is one."""
    return self.params if self.ema_params is None else self.ema_params


def create_train_state(config: ml_collections.ConfigDict, model: nn.Module,
                       tx: optax.GradientTransformation,
                       task: Task) -> TrainState:
  key = jax.random.key(config.seed)
  init_key, train_key = jax.random.split(key)
  params = registry.init_params(config, model, task, init_key)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params),
                    rng=jax.random.key_data(train_key),
                    ema_params=params if config.ema_decay > 0 else None)


def train_step(state: TrainState, labeled: Batch, unlabeled: Batch | None, *,
               model, tx, config, task: Task) -> tuple[TrainState, Metrics]:
  """One optimizer step on a labeled and an unlabeled batch.

  The update is applied only if the loss and every gradient are finite;
  otherwise the state stays as it was (but the step advances) and
  metrics['nonfinite'] says so, for the host to stop or go on. Finiteness
  of the gradients is read off their global norm (one pass over them): a
  NaN or inf anywhere makes it non-finite, as does a norm beyond float32.
  """
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  objective = functools.partial(registry.objective(config),
                                model=model, config=config, task=task,
                                teacher=state.ema_params)
  (loss, metrics), grads = jax.value_and_grad(objective, has_aux=True)(
      state.params, labeled, unlabeled, key, state.step)
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

  def apply_update(s: TrainState) -> TrainState:
    updates, opt_state = tx.update(grads, s.opt_state, s.params)
    params = optax.apply_updates(s.params, updates)
    ema_params = s.ema_params
    if ema_params is not None:
      ema_params = ema_lib.update(ema_params, params, s.step,
                                  config.ema_decay)
    return s.replace(params=params, opt_state=opt_state,
                     ema_params=ema_params)

  # A cond, not a jnp.where over every parameter: with donated buffers the
  # update then happens in place (a where costs an extra pass over params
  # and optimizer state, measured at +40 ms per MNIST step on a CPU).
  # optax.apply_if_finite skips the same way inside the optimizer, but by a
  # where over updates and state, and would leave the moving average and
  # the host's stop-or-go-on (with the step named) to be written anyway.
  new_state = jax.lax.cond(finite, apply_update, lambda s: s, state)
  new_state = new_state.replace(step=state.step + 1)
  metrics = dict(metrics)
  metrics['loss'] = jnp.stack([loss, 1.0])
  metrics['grad_norm'] = jnp.stack([grad_norm, 1.0])
  metrics['nonfinite'] = jnp.stack([1.0 - finite, 1.0])
  return new_state, metrics


class Trainer:
  """Holds what the loop, evaluation and figures share."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, *,
               mesh=None):
    self.config = config
    self.workdir = workdir
    self.mesh = mesh if mesh is not None else sharding.create_mesh()
    config_checks.validate_config(config, self.mesh)
    # Data first: a bad file or folder stops us before the workdir is
    # touched.
    from m2vae_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    self.data = data_lib.load_task_data(config.data)
    self.task = Task(num_classes=self.data.num_classes,
                     image_shape=self.data.input_shape,
                     segmentation=self.data.is_segmentation)
    config_checks.validate_for_task(config, self.task)
    self.labeled_indices = pipeline.labeled_indices(config, self.data)
    self.num_train_steps = self._resolve_num_train_steps()
    self.model = registry.create_model(config, self.task)
    self.tx = optim.create_optimizer(config, self.num_train_steps)
    self.labeled_stream, self.unlabeled_stream = pipeline.train_streams(
        config, self.data, self.labeled_indices,
        process_index=jax.process_index(), process_count=jax.process_count())
    rep = sharding.replicated(self.mesh)
    self.init_state = jax.jit(
        functools.partial(create_train_state, config, self.model, self.tx,
                          self.task), out_shardings=rep)
    self.train_step = jax.jit(
        functools.partial(train_step, model=self.model, tx=self.tx,
                          config=config, task=self.task),
        donate_argnums=0, out_shardings=rep)
    self.evaluator = evaluate_lib.Evaluator(self.model, config, self.task,
                                            self.data, self.mesh)

  def _resolve_num_train_steps(self) -> int:
    c = self.config
    if c.num_train_steps >= 0:
      return int(c.num_train_steps)
    if c.objective == 'm2':
      source = self.data.unlabeled or self.data.train
      n, batch = source['image'].shape[0], c.unlabeled_batch_size
    else:
      n, batch = len(self.labeled_indices), c.batch_size
    return int(math.ceil(c.num_epochs * n / batch))

  def host_batches(self, step: int):
    """This process's (labeled, unlabeled or None) batches of `step`."""
    labeled = self.labeled_stream(step)
    unlabeled = (self.unlabeled_stream(step)
                 if self.unlabeled_stream is not None else None)
    return labeled, unlabeled

  def put_batches(self, labeled, unlabeled):
    """Host batches as global arrays on the mesh."""
    put = functools.partial(sharding.put_batch, mesh=self.mesh)
    return put(labeled), (put(unlabeled) if unlabeled is not None else None)

  def data_state(self, step: int) -> dict[str, Any]:
    return {'step': int(step), 'seed': int(self.config.seed),
            'num_labeled': int(len(self.labeled_indices))}

  def run(self) -> dict[str, Any]:
    c, workdir = self.config, self.workdir
    is_main = jax.process_index() == 0
    state = self.init_state()
    # Everything above could fail on bad input; only now touch the workdir.
    os.makedirs(workdir, exist_ok=True)
    workdir_lib.check_resumable(workdir, c)
    if is_main:
      workdir_lib.write_json_atomic(
          os.path.join(workdir, workdir_lib.CONFIG_FILE),
          json.loads(c.to_json_best_effort()))
      workdir_lib.write_task(workdir, self.task, self.data.palette)
    manager = checkpointing.create_manager(
        workdir, save_every_steps=c.checkpoint_every_steps,
        max_to_keep=c.keep_checkpoints,
        async_save=c.async_checkpointing)
    restored = checkpointing.restore_latest(manager, state)
    start = 0
    if restored is not None:
      state, data_state = restored
      start = int(data_state['step'])
      logging.info('Resuming from the checkpoint at step %d in %s.', start,
                   workdir)
    last_saved = start if restored is not None else None
    writer = metric_writers.create_default_writer(workdir, is_main=is_main,
                                                  start_step=start)
    # Every evaluation in full (confusion matrix, per-class figures): which
    # errors grow when is then readable after the run.
    evals = (metric_writers.JsonlWriter(os.path.join(workdir, 'evals.jsonl'),
                                        start) if is_main
             else metric_writers.NullWriter())
    batches = pipeline.step_batches(
        self.host_batches, start, self.num_train_steps,
        threads=pipeline.build_threads(c.data.workers), depth=c.data.prefetch)
    history, pending = [], None
    t_last, step_last = time.perf_counter(), start
    try:
      with checkpointing.Preemption() as preemption:
        for step, host in zip(range(start, self.num_train_steps), batches):
          state, metrics = self.train_step(state, *self.put_batches(*host))
          # Check the previous step's flag: the device is already busy with
          # this one, so the check never stalls the pipeline.
          if pending is not None:
            self._check_finite(*pending, last_saved)
          pending = (step + 1, metrics)
          history.append(metrics)
          done = step + 1
          if done % c.log_every_steps == 0 or done == self.num_train_steps:
            self._check_finite(*pending, last_saved)
            pending = None
            scalars = progress.summarize(history)
            history = []
            now = time.perf_counter()
            rate = (done - step_last) / max(now - t_last, 1e-9)
            t_last, step_last = now, done
            scalars['steps_per_sec'] = rate
            writer.write_scalars(done, {f'train_{k}': v
                                        for k, v in scalars.items()})
            writer.flush()
            logging.info('%s', progress.progress_line(
                done, self.num_train_steps, scalars, rate))
          if (c.eval_every_steps and done % c.eval_every_steps == 0
              and done != self.num_train_steps):
            self._report_eval(writer, evals, done,
                              self.evaluator.evaluate_state(state),
                              state.eval_params)
          preempted = preemption.requested(done)
          if preempted or manager.should_save(done):
            if pending is not None:  # Never save a state that went bad.
              self._check_finite(*pending, last_saved)
              pending = None
            checkpointing.save(manager, done, state, self.data_state(done))
            last_saved = done
          if preempted:
            manager.wait_until_finished()
            logging.warning('SIGTERM: saved the checkpoint of step %d in %s; '
                            'run the same command again to resume.', done,
                            workdir)
            return {'preempted': True, 'step': done}
      if pending is not None:
        self._check_finite(*pending, last_saved)
      final = int(jax.device_get(state.step))
      if last_saved != final:
        checkpointing.save(manager, final, state, self.data_state(final))
      manager.wait_until_finished()
      result = self.evaluator.evaluate_state(state)
      result['step'] = final
      if is_main:
        workdir_lib.write_json_atomic(os.path.join(workdir, 'eval.json'),
                                      result)
      self._report_eval(writer, evals, final, result, state.eval_params)
      return result
    finally:
      batches.close()
      manager.wait_until_finished()
      manager.close()
      writer.close()
      evals.close()

  def _check_finite(self, step: int, metrics: Metrics, last_saved) -> None:
    if float(jax.device_get(metrics['nonfinite'])[0]) == 0.0:
      return
    scalars = progress.summarize([metrics])
    message = progress.nonfinite_message(step, scalars, self.workdir,
                                         last_saved)
    if not self.config.skip_nonfinite_steps:
      raise TrainingDiverged(message)
    logging.warning('Skipped: %s', message)

  def _report_eval(self, writer, evals, step: int, result: dict[str, Any],
                   params) -> None:
    """Logs eval metrics (the scalars to `writer`, all of `result` to
    `evals`) and, on process 0, writes the figures."""
    scalars = {f'eval_{k}': v for k, v in result.items()
               if isinstance(v, float)}
    writer.write_scalars(step, scalars)
    writer.flush()
    evals.write_record(step, {k: v for k, v in result.items() if k != 'step'})
    evals.flush()
    line = ', '.join(f'{k} {v:.4f}' for k, v in scalars.items())
    if 'confusion' in result:
      line += '; largest errors true->predicted: ' + (', '.join(
          f'{t}->{p} {n}' for n, t, p in metrics_lib.largest_errors(
              result['confusion'], 3)) or 'none')
    logging.info('eval at step %d on %s: %s', step, result['split'], line)
    if self.config.figures and jax.process_index() == 0:
      self.evaluator.write_figures(params, self.workdir, writer, step)
      if 'confusion' in result:
        self.evaluator.write_confusion(result['confusion'], self.workdir,
                                       writer, step)


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, Any]:
  """Trains (resuming from `workdir` if it holds a checkpoint), evaluates on
  the whole eval split and writes `workdir/eval.json`.

  Returns:
    The eval results, or {'preempted': True, 'step': n} after SIGTERM.
  """
  return Trainer(config, workdir).run()
