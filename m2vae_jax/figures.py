"""Figures written to the workdir (PNG) and to TensorBoard."""

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

from m2vae_jax import losses
from m2vae_jax import metrics

matplotlib.use('Agg')  # No display on training machines.
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top


def analogy_grid(nets, x: jax.Array, num_classes: int, *,
                 likelihood: str = 'bernoulli') -> jax.Array:
  """Kingma et al. (2014), Fig. 1 style: style from x, class from y.

  For each image, z is the mean of q(z|x, y) with y the classifier's
  prediction; the decoder then renders that z with every class y = 0..K-1.
  Traceable: jit it with the networks' parameters as an argument (the
  networks run op by op otherwise, minutes for a DeepLab on a CPU).

  Args:
    nets: the M2 networks bound to parameters (`m2.Networks`).
    x: float [rows, h, w, c], the inputs the classifier sees at evaluation.
    num_classes: K.
    likelihood: what the decoder's output parameterises.

  Returns:
    float [rows, 1 + K, h, w, c] in [0, 1]: column 0 the input, then the
    decoder's means for y = 0..K-1.
  """
  x = jnp.asarray(x, jnp.float32)
  y_pred = jax.nn.one_hot(jnp.argmax(nets.classify(x), -1), num_classes)
  z, _ = nets.encode(x, y_pred)

  def render(k):
    y = jnp.broadcast_to(jax.nn.one_hot(k, num_classes), y_pred.shape)
    return losses.likelihood_mean(nets.decode(y, z), likelihood)

  outs = jax.vmap(render)(jnp.arange(num_classes))  # [K, rows, h, w, c]
  grid = jnp.concatenate([x[:, None], jnp.moveaxis(outs, 0, 1)], axis=1)
  return jnp.clip(grid, 0.0, 1.0)


def grid_to_image(grid: np.ndarray, pad: int = 1) -> np.ndarray:
  """[rows, cols, h, w, c] -> one uint8 [H, W, c] mosaic."""
  rows, cols, h, w, c = grid.shape
  out = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c))
  for r in range(rows):
    for k in range(cols):
      y0, x0 = pad + r * (h + pad), pad + k * (w + pad)
      out[y0:y0 + h, x0:x0 + w] = grid[r, k]
  return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def save_analogies(grid: np.ndarray, path: str) -> None:
  """Writes the analogy grid as a labeled PNG."""
  titles = ['input'] + [f'y={k}' for k in range(grid.shape[1] - 1)]
  save_grid(grid, path, titles, 'Same z, every class y')


def segmentation_outputs(nets, x: jax.Array, mask_size: tuple[int, int], *,
                         likelihood: str = 'bernoulli',
                         reconstruct: bool = False) -> dict[str, jax.Array]:
  """What `segmentation_grid` shows of a model, at the masks' size.

  The prediction is the one evaluation scores: q(y|x)'s logits for the
  inputs the classifier sees at evaluation, upsampled to the mask's size.
  The reconstruction is E[x] under p(x|y,z) with y the predicted classes
  (at the input size) and z the mean of q(z|x,y). Traceable: jit it with
  the networks' parameters as an argument.

  Args:
    nets: the model's networks bound to parameters (`m2.Networks`).
    x: float [n, h, w, c], the classifier's eval inputs.
    mask_size: (H, W) of the true masks.
    likelihood: what the decoder's output parameterises.
    reconstruct: add the reconstruction (M2 models).

  Returns:
    {'image': float [n, H, W, 3], 'predicted': int [n, H, W] and, with
    `reconstruct`, 'reconstruction': float [n, H, W, 3] in [0, 1]}.
  """
  x = jnp.asarray(x, jnp.float32)
  show = lambda a: jnp.clip(jax.image.resize(
      a if a.shape[-1] == 3 else jnp.repeat(a, 3, -1),
      (a.shape[0], *mask_size, 3), 'bilinear'), 0.0, 1.0)
  logits = nets.classify(x)
  out = {'image': show(x), 'predicted': jnp.argmax(
      metrics.resize_logits(logits, mask_size), -1)}
  if reconstruct:
    y = jax.nn.one_hot(jnp.argmax(logits, -1), logits.shape[-1])
    z, _ = nets.encode(x, y)
    out['reconstruction'] = show(
        losses.likelihood_mean(nets.decode(y, z), likelihood))
  return out


def segmentation_grid(outputs: dict[str, np.ndarray], labels: np.ndarray,
                      palette: np.ndarray) -> np.ndarray:
  """Rows of [image, true mask, predicted mask(, reconstruction)].

  Args:
    outputs: `segmentation_outputs` of n images.
    labels: uint8 [n, H, W] true masks (255 void).
    palette: uint8 [256, 3], the colour of each label.

  Returns:
    float [n, columns, H, W, 3] in [0, 1].
  """
  colours = palette.astype(np.float32) / 255.0
  columns = [np.asarray(outputs['image']), colours[np.asarray(labels)],
             colours[np.asarray(outputs['predicted'])]]
  if 'reconstruction' in outputs:
    columns.append(np.asarray(outputs['reconstruction']))
  return np.stack(columns, axis=1)


def save_grid(grid: np.ndarray, path: str, titles: list[str],
              suptitle: str) -> None:
  """Writes a [rows, cols, h, w, c] grid as a PNG with column titles."""
  rows, cols = grid.shape[:2]
  fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.2 + 0.4),
                           squeeze=False)
  for r in range(rows):
    for k in range(cols):
      ax = axes[r, k]
      img = np.clip(grid[r, k], 0.0, 1.0)
      ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap='gray',
                vmin=0.0, vmax=1.0, interpolation='nearest')
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(titles[k], fontsize=8)
  fig.suptitle(suptitle, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def confusion_image(confusion, title: str) -> np.ndarray:
  """A confusion matrix (rows: true classes) drawn as a uint8 [H, W, 3]
  image: each cell shaded by its share of the true class, and its count
  written in it where it is not 0, so the errors that matter stand out."""
  c = np.asarray(confusion, np.float64)
  k = c.shape[0]
  with np.errstate(invalid='ignore', divide='ignore'):
    share = np.nan_to_num(c / c.sum(1, keepdims=True))
  size = 0.45 * k + 1.5
  fig, ax = plt.subplots(figsize=(size, size))
  # Shares off the diagonal are small: a square root shows them.
  ax.imshow(np.sqrt(share), cmap='Blues', vmin=0.0, vmax=1.0)
  for t in range(k):
    for p in range(k):
      if c[t, p]:
        ax.text(p, t, f'{c[t, p]:.0f}', ha='center', va='center',
                fontsize=6, color='white' if share[t, p] > 0.25 else 'black')
  ax.set_xticks(range(k))
  ax.set_yticks(range(k))
  ax.tick_params(labelsize=7)
  ax.set_xlabel('predicted', fontsize=8)
  ax.set_ylabel('true', fontsize=8)
  ax.set_title(title, fontsize=8)
  fig.tight_layout()
  fig.canvas.draw()
  image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
  plt.close(fig)
  return image

