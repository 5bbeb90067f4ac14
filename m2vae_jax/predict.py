"""A trained run applied to a folder of images (`experiments/predict.py`).

Each image is brought to the networks' input as training brought its eval
images (resized, aspect ratio ignored, bilinear; RGB or grayscale as the
run's images were), and q(y|x) is evaluated on its intensities:

  segmentation    the logits upsampled to the image's own size, their argmax
                  written as a class-index PNG (NAME.png, mode L) and drawn
                  over the image in the label colours (NAME_overlay.png);
  classification  one CSV line per image: file, class, its probability.

A file that is not a readable image is named in a warning and skipped.
"""

from collections.abc import Iterator
import csv
import dataclasses
import functools
import os

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from m2vae_jax import evaluate as evaluate_lib
from m2vae_jax import metrics
from m2vae_jax import objectives
from m2vae_jax import palettes
from m2vae_jax import workdir as workdir_lib
from m2vae_jax.data import pipeline
from m2vae_jax.errors import UserError

OVERLAY_ALPHA = 0.5  # weight of the label colours over the image


@dataclasses.dataclass(frozen=True)
class Prediction:
  """What the run says about one image."""

  path: str
  classes: np.ndarray        # uint8 [height, width] or int []
  probability: float | None  # classification: q(y|x) of the class


def read_image(path: str, channels: int) -> np.ndarray:
  """uint8 [height, width, channels] (3: RGB, 1: grayscale).

  Raises:
    OSError (or PIL's errors): the file is not a readable image.
  """
  with Image.open(path) as im:
    im.load()  # Decodes now: a truncated file fails here, not later.
    converted = im.convert('RGB' if channels == 3 else 'L')
  array = np.asarray(converted)
  return array if array.ndim == 3 else array[..., None]


def model_input(image: np.ndarray, run: workdir_lib.Run) -> np.ndarray:
  """An image resized to the networks' input, as a batch of one."""
  hw = run.task.image_shape[:2]
  if image.shape[:2] == hw:
    return image[None]
  resized = pipeline.resized(image[..., 0] if image.shape[-1] == 1 else image,
                             hw, mask=False)
  return resized.reshape(1, *hw, image.shape[-1])


def _predict(model, config, task, params, image: jax.Array, hw):
  """Classes (segmentation: at size hw) and their probabilities."""
  batch = {'image': image, 'index': jnp.zeros((1,), jnp.int32)}
  x = evaluate_lib.eval_inputs(batch, config,
                               evaluate_lib.eval_noise_key(config))
  logits = objectives.networks(model, params, config).classify(x)
  if task.segmentation:
    logits = metrics.resize_logits(logits, hw)
  probs = jax.nn.softmax(logits, -1)
  return jnp.argmax(logits, -1)[0], jnp.max(probs, -1)[0]


def image_files(folder: str) -> list[str]:
  """The files of a folder (not its subfolders), sorted by name.

  Raises:
    UserError: the folder does not exist.
  """
  if not os.path.isdir(folder):
    raise UserError(f'--images={folder} is not a folder')
  return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                if os.path.isfile(os.path.join(folder, n))
                and not n.startswith('.'))


def predict_files(run: workdir_lib.Run,
                  paths: list[str]) -> Iterator[Prediction]:
  """Predictions for the readable images among `paths`, in order; the
  others are logged and skipped."""
  channels = run.task.image_shape[-1]
  predict = jax.jit(functools.partial(_predict, run.model, run.config,
                                      run.task), static_argnames='hw')
  for path in paths:
    try:
      image = read_image(path, channels)
    except (OSError, SyntaxError, ValueError) as e:
      logging.warning('Skipped %s: not a readable image (%s)', path, e)
      continue
    classes, probs = jax.device_get(predict(
        run.params, model_input(image, run), hw=image.shape[:2]))
    if run.task.segmentation:
      yield Prediction(path, classes.astype(np.uint8), None)
    else:
      yield Prediction(path, classes, float(probs))


def overlay(image: np.ndarray, classes: np.ndarray,
            palette: np.ndarray) -> np.ndarray:
  """uint8 [h, w, 3]: the label colours blended over the image."""
  rgb = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image
  blend = (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * palette[classes]
  return np.rint(blend).astype(np.uint8)


def write_predictions(workdir: str, images: str, out: str) -> int:
  """Predicts every image of the folder `images` with the run in `workdir`
  and writes the results under `out` (created if needed).

  Returns:
    How many images were predicted.
  """
  run = workdir_lib.load_run(workdir)
  paths = image_files(images)
  os.makedirs(out, exist_ok=True)
  palette = run.palette if run.palette is not None else palettes.voc()
  count = 0
  if run.task.segmentation:
    for p in predict_files(run, paths):
      stem = os.path.splitext(os.path.basename(p.path))[0]
      Image.fromarray(p.classes, mode='L').save(
          os.path.join(out, f'{stem}.png'))
      image = read_image(p.path, 3)
      Image.fromarray(overlay(image, p.classes, palette)).save(
          os.path.join(out, f'{stem}_overlay.png'))
      count += 1
  else:
    with open(os.path.join(out, 'predictions.csv'), 'w', newline='',
              encoding='utf-8') as f:
      writer = csv.writer(f)
      writer.writerow(['file', 'class', 'probability'])
      for p in predict_files(run, paths):
        writer.writerow([os.path.basename(p.path), int(p.classes),
                         f'{p.probability:.6f}'])
        count += 1
  logging.info('Predicted %d of %d files in %s with the step-%d parameters '
               'of %s; results in %s', count, len(paths), images, run.step,
               workdir, out)
  return count
