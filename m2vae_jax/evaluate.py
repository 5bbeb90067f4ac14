"""Evaluation: the steps, an evaluator reused on any parameters (a training
run's or a checkpoint's), and the figures drawn from what it scores.

  evaluator = Evaluator(model, config, task, data, mesh)
  evaluator.evaluate(params)  # {'accuracy': ...} or {'miou': ...}
"""

from collections.abc import Iterator
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from m2vae_jax import metrics as metrics_lib
from m2vae_jax import objectives
from m2vae_jax import palettes
from m2vae_jax import sharding
from m2vae_jax.data import pipeline
from m2vae_jax.models import registry
from m2vae_jax.task import Task

Batch = dict[str, jax.Array]


def eval_noise_key(config: ml_collections.ConfigDict) -> jax.Array:
  """The key of `eval_inputs`' binarization noise (data.eval_binarize)."""
  return jax.random.fold_in(jax.random.key(config.seed), 0xe7a1)


def eval_inputs(batch: Batch, config: ml_collections.ConfigDict,
                eval_key: jax.Array) -> jax.Array:
  """What the classifier sees of an eval batch, [batch, height, width,
  channels] float: the pixel intensities (the mean of the binarized input),
  or with data.eval_binarize a binarized sample whose noise comes from the
  example's index in the split, so that it does not depend on the eval
  batch size or the device count."""
  images = batch['image']
  if config.data.binarize and config.data.eval_binarize:
    keys = jax.vmap(lambda i: jax.random.fold_in(eval_key, i))(batch['index'])
    return jax.vmap(lambda k, im: objectives.prepare_inputs(k, im, True))(
        keys, images)
  return objectives.prepare_inputs(eval_key, images, False)


def predict_step(params, batch: Batch, *, model, config,
                 eval_key: jax.Array) -> jax.Array:
  """q(y|x)'s most probable class for every example of an eval batch:
  [batch] (classification) or [batch, height, width] (segmentation, at the
  size of the batch's masks: logits upsampled to it)."""
  x = eval_inputs(batch, config, eval_key)
  logits = objectives.networks(model, params, config).classify(x)
  if logits.ndim == 4:
    logits = metrics_lib.resize_logits(logits, batch['label'].shape[1:3])
  return jnp.argmax(logits, -1)


def eval_step(params, batch: Batch, *, model, config, task: Task,
              eval_key: jax.Array) -> dict[str, jax.Array]:
  """Sums over one eval batch: a confusion matrix of images (classification)
  or pixels (segmentation) of `predict_step`'s classes, and the sums the
  model kind's spec adds (ADGM / SDGM: `metrics.auxiliary_usage`)."""
  predicted = predict_step(params, batch, model=model, config=config,
                           eval_key=eval_key)
  sums = {'confusion': metrics_lib.confusion_matrix(
      batch['label'], predicted, task.num_classes, batch['valid'])}
  extra = registry.spec(config).eval_sums
  if extra is not None:
    # The inputs and networks repeat predict_step's; jit computes them once.
    sums.update(extra(objectives.networks(model, params, config),
                      eval_inputs(batch, config, eval_key), batch['valid']))
  return sums


def figure_step(params, x: jax.Array, *, model, config, task: Task,
                mask_size: tuple[int, int] | None = None):
  """What the eval figures show of `x` (eval inputs): segmentation:
  `figures.segmentation_outputs` at `mask_size`; classification M2: the
  analogy grid, [rows, 1 + classes, h, w, c]."""
  from m2vae_jax import figures  # pylint: disable=g-import-not-at-top
  nets = objectives.networks(model, params, config)
  if task.segmentation:
    return figures.segmentation_outputs(
        nets, x, mask_size, likelihood=config.likelihood,
        reconstruct=config.objective == 'm2')
  return figures.analogy_grid(nets, x, task.num_classes,
                              likelihood=config.likelihood)


class Evaluator:
  """Scores parameters on the whole eval split of `data` (nothing dropped),
  with steps compiled once for the mesh."""

  def __init__(self, model, config: ml_collections.ConfigDict, task: Task,
               data: pipeline.TaskData, mesh):
    self.model, self.config, self.task = model, config, task
    self.data, self.mesh = data, mesh
    rep = sharding.replicated(mesh)
    self.eval_key = eval_key = eval_noise_key(config)
    self.eval_step = jax.jit(
        functools.partial(eval_step, eval_key=eval_key, model=model,
                          config=config, task=task), out_shardings=rep)
    self.predict_step = jax.jit(
        functools.partial(predict_step, eval_key=eval_key, model=model,
                          config=config), out_shardings=rep)
    # Compiled once per run: run op by op, a DeepLab's figures took minutes.
    self.figure_step = jax.jit(
        functools.partial(figure_step, model=model, config=config,
                          task=task),
        static_argnames='mask_size', out_shardings=rep)

  def batches(self) -> Iterator[Batch]:
    """The eval split once, in order, in global batches on the mesh."""
    for batch in pipeline.eval_batches(
        self.data.eval, self.config.eval_batch_size,
        process_index=jax.process_index(),
        process_count=jax.process_count()):
      yield sharding.put_batch(batch, self.mesh)

  def predict(self, params) -> np.ndarray:
    """The class q(y|x) gives every eval example, in the split's order:
    [examples] (classification) or [examples, height, width]
    (segmentation); the predictions `evaluate` counts."""
    predicted = np.concatenate([
        jax.device_get(self.predict_step(params, batch))
        for batch in self.batches()])
    # The last global batch is padded; padding comes after the split's end.
    return predicted[:self.data.eval['image'].shape[0]]

  def evaluate(self, params) -> dict[str, Any]:
    """Metrics over the whole eval split."""
    totals = None
    for batch in self.batches():
      out = self.eval_step(params, batch)
      totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
    totals = jax.device_get(totals)
    result = {'split': self.data.eval_split,
              'num_examples': int(self.data.eval['image'].shape[0])}
    if self.task.segmentation:
      result.update(metrics_lib.segmentation_scores(totals['confusion']))
    else:
      result.update(metrics_lib.classification_scores(totals['confusion']))
    if 'a_count' in totals:
      result.update(metrics_lib.auxiliary_usage_from_sums(totals))
    return result

  def evaluate_state(self, state) -> dict[str, Any]:
    """evaluate() on state.eval_params; with a moving average, the raw
    iterate's figures go beside its own as raw_* (e.g. raw_accuracy)."""
    result = self.evaluate(state.eval_params)
    if state.ema_params is not None:
      raw = self.evaluate(state.params)
      result.update({f'raw_{k}': v for k, v in raw.items()
                     if isinstance(v, float)})
    return result

  def write_confusion(self, confusion, workdir: str, writer,
                      step: int) -> None:
    """confusion.png: the eval confusion matrix (classification)."""
    from PIL import Image  # pylint: disable=g-import-not-at-top

    from m2vae_jax import figures  # pylint: disable=g-import-not-at-top
    image = figures.confusion_image(
        confusion, f'{self.data.eval_split}, step {step}')
    Image.fromarray(image).save(os.path.join(workdir, 'confusion.png'))
    writer.write_images(step, {'confusion': image})

  def write_figures(self, params, workdir: str, writer, step: int) -> None:
    """analogies.png (classification M2) or segmentation.png."""
    from m2vae_jax import figures  # pylint: disable=g-import-not-at-top
    c, data = self.config, self.data.eval
    if not registry.spec(c).draws_m2_figures:
      return  # The figures below read the M2 networks.
    m2 = c.objective == 'm2'
    if not (self.task.segmentation or m2):
      return  # Classification draws M2's analogies only.
    # Examples spread over the eval split (CamVid's are video: neighbours
    # look alike), fed as evaluation feeds them.
    n = len(data['image'])
    index = np.unique(np.linspace(
        0, n - 1, min(6 if self.task.segmentation else 10, n)).astype(int))
    rows = {'image': data['image'][index], 'label': data['label'][index],
            'index': index.astype(np.int32)}
    x = eval_inputs(rows, c, self.eval_key)
    outputs = jax.device_get(self.figure_step(
        params, x, mask_size=rows['label'].shape[1:3]))
    if self.task.segmentation:
      grid = figures.segmentation_grid(
          outputs, rows['label'],
          palettes.voc() if self.data.palette is None else self.data.palette)
      titles = ['image', 'true mask', 'predicted'] + (
          ['reconstruction'] if m2 else [])
      name = 'segmentation'
      figures.save_grid(grid, os.path.join(workdir, f'{name}.png'),
                        titles, f'{self.data.eval_split}, step {step}')
    else:
      grid = np.asarray(outputs)
      name = 'analogies'
      figures.save_analogies(grid, os.path.join(workdir, f'{name}.png'))
    writer.write_images(step, {name: figures.grid_to_image(grid)})
