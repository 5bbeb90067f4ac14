"""A run back from its workdir, and what the scripts that study a trained
model compute from it (translated_eval, error_gallery, aux_eval_samples).
No flags here: tests import it beside the scripts' own flags."""

import json
import os

import ml_collections
import numpy as np

from m2vae_jax import checkpointing
from m2vae_jax import train
from m2vae_jax.data import pipeline
from m2vae_jax.errors import ConfigError


def restore(workdir: str, idx_dir: str = ''):
  """(trainer, state) of the run in `workdir`; `idx_dir` replaces the
  config's data.idx_dir when the data have moved.

  Raises:
    ConfigError: the workdir holds no config.json or no checkpoint.
  """
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise ConfigError(f'{workdir} holds no config.json: is it a workdir?')
  with open(path, encoding='utf-8') as f:
    config = ml_collections.ConfigDict(json.load(f))
  if idx_dir:
    config.data.idx_dir = idx_dir
  trainer = train.Trainer(config, workdir)
  manager = checkpointing.create_manager(workdir)
  restored = checkpointing.restore_latest(manager, trainer.init_state())
  manager.close()
  if restored is None:
    raise ConfigError(f'{workdir} holds no checkpoint')
  state, _ = restored
  return trainer, state


def restore_classifier(workdir: str, idx_dir: str = ''):
  """`restore` for the scripts that read classification runs.

  Raises:
    ConfigError: as `restore`, or the run segments images.
  """
  trainer, state = restore(workdir, idx_dir)
  if trainer.task.segmentation:
    raise ConfigError(f'{workdir} holds a segmentation run; this script '
                      'reads classification runs')
  return trainer, state


def parse_shift(text: str) -> tuple[int, int]:
  """'1:-2' -> (1, -2)."""
  try:
    dy, dx = (int(v) for v in text.split(':'))
  except ValueError:
    raise ConfigError(f'--shifts: {text!r} is not dy:dx, e.g. 1:-2') from None
  return dy, dx


def evaluate_translated(trainer, params, dy: int, dx: int) -> dict:
  """trainer.evaluator.evaluate(params) with every eval image translated by (dy,
  dx); the trainer's eval split is left as it was."""
  data = trainer.data.eval
  images = data['image']
  try:
    data['image'] = np.stack(
        [pipeline.translated(im, dy, dx, 0) for im in images])
    return trainer.evaluator.evaluate(params)
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
