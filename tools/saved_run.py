"""A run back from its workdir, and what the scripts that study a trained
model compute from it (translated_eval, error_gallery, aux_eval_samples).
No flags here: tests import it beside the scripts' own flags."""

import dataclasses
from typing import Any

import ml_collections
import numpy as np

from m2vae_jax import sharding
from m2vae_jax import workdir as workdir_lib
from m2vae_jax.data import pipeline
from m2vae_jax.errors import ConfigError
from m2vae_jax.evaluate import Evaluator


@dataclasses.dataclass
class Restored:
  """A run's parameters (`workdir.load_run`), its data and an evaluator on
  them: what the scripts read, without a trainer or optimizer state."""

  run: workdir_lib.Run
  data: pipeline.TaskData
  labeled_indices: np.ndarray
  evaluator: Evaluator

  @property
  def config(self) -> ml_collections.ConfigDict:
    return self.run.config

  @property
  def task(self):
    return self.run.task

  @property
  def model(self):
    return self.run.model

  @property
  def params(self) -> Any:
    """The parameters the run reports (its moving average if it kept one),
    replicated on the evaluator's mesh."""
    return self.run.params

  @property
  def step(self) -> int:
    return self.run.step


def restore(workdir: str, idx_dir: str = '') -> Restored:
  """The run in `workdir` with its data; `idx_dir` replaces the config's
  data.idx_dir when the data have moved.

  Raises:
    ConfigError: the workdir holds no config.json, task.json or checkpoint.
  """
  from m2vae_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  run = workdir_lib.load_run(workdir)
  if idx_dir:
    run.config.data.idx_dir = idx_dir
  data = data_lib.load_task_data(run.config.data)
  mesh = sharding.create_mesh()
  run = dataclasses.replace(
      run, params=sharding.put_replicated(run.params, mesh))
  return Restored(run, data, pipeline.labeled_indices(run.config, data),
                  Evaluator(run.model, run.config, run.task, data, mesh))


def restore_classifier(workdir: str, idx_dir: str = ''):
  """`restore` for the scripts that read classification runs.

  Raises:
    ConfigError: as `restore`, or the run segments images.
  """
  restored = restore(workdir, idx_dir)
  if restored.task.segmentation:
    raise ConfigError(f'{workdir} holds a segmentation run; this script '
                      'reads classification runs')
  return restored


def parse_shift(text: str) -> tuple[int, int]:
  """'1:-2' -> (1, -2)."""
  try:
    dy, dx = (int(v) for v in text.split(':'))
  except ValueError:
    raise ConfigError(f'--shifts: {text!r} is not dy:dx, e.g. 1:-2') from None
  return dy, dx


def evaluate_translated(restored: Restored, dy: int, dx: int) -> dict:
  """The run's eval metrics with every eval image translated by (dy, dx);
  the eval split is left as it was."""
  data = restored.data.eval
  images = data['image']
  try:
    data['image'] = np.stack(
        [pipeline.translated(im, dy, dx, 0) for im in images])
    return restored.evaluator.evaluate(restored.params)
  finally:
    data['image'] = images


def mistaken(labels: np.ndarray, predicted: np.ndarray, true_class: int,
             given_class: int) -> np.ndarray:
  """Indices of the examples of `true_class` predicted `given_class`."""
  return np.flatnonzero((labels == true_class) & (predicted == given_class))


def tile(images: np.ndarray, columns: int = 20) -> np.ndarray:
  """[n, h, w] -> one [rows * (h + 1), columns * (w + 1)] image, row by
  row, a 1-pixel gap between the tiles."""
  n, h, w = images.shape
  rows = max(1, -(-n // columns))
  out = np.zeros((rows * (h + 1), columns * (w + 1)), images.dtype)
  for k, image in enumerate(images):
    r, c = divmod(k, columns)
    out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = image
  return out
