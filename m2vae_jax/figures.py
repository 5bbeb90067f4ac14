"""Figures written to the workdir (PNG) and to TensorBoard."""

import functools

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use('Agg')  # No display on training machines.
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top


def analogy_grid(model, params, images: np.ndarray, num_classes: int, *,
                 num_rows: int = 10, binarize: bool = True,
                 seed: int = 0) -> np.ndarray:
  """Kingma et al. (2014), Fig. 1 style: style from x, class from y.

  For each of the first `num_rows` images, z is the mean of q(z|x, y) with y
  the classifier's prediction; the decoder then renders that z with every
  class y = 0..K-1.

  Args:
    model: the M2 module; params its parameters.
    images: uint8 [n, h, w, c] eval images.
    num_classes: K.
    num_rows: images shown.
    binarize: whether the model was trained on binarized inputs.
    seed: binarization seed.

  Returns:
    float [num_rows, 1 + K, h, w, c] in [0, 1]: column 0 the input, then the
    decoder's Bernoulli means for y = 0..K-1.
  """
  x = jnp.asarray(images[:num_rows], jnp.float32) / 255.0
  if binarize:
    x = jax.random.bernoulli(jax.random.key(seed), x).astype(jnp.float32)
  apply = functools.partial(model.apply, params)
  logits = apply(x, method='classify')
  y_pred = jax.nn.one_hot(jnp.argmax(logits, -1), num_classes)
  z, _ = apply(x, y_pred, method='encode')

  def render(k):
    y = jnp.broadcast_to(jax.nn.one_hot(k, num_classes), y_pred.shape)
    return jax.nn.sigmoid(apply(y, z, method='decode'))

  outs = jax.vmap(render)(jnp.arange(num_classes))  # [K, rows, h, w, c]
  grid = jnp.concatenate([x[:, None], jnp.moveaxis(outs, 0, 1)], axis=1)
  return np.asarray(grid)


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


def voc_palette() -> np.ndarray:
  """The VOC colour map: uint8 [256, 3], row i the colour of label i.

  Label i takes its colour from its bits: bit 3k + c of i sets bit 7 - k of
  channel c (c = r, g, b); void (255) comes out cream (224, 224, 192).
  """
  labels = np.arange(256)
  cmap = np.zeros((256, 3), np.int64)
  for k in range(8):
    for c in range(3):
      cmap[:, c] |= ((labels >> (3 * k + c)) & 1) << (7 - k)
  return cmap.astype(np.uint8)


def segmentation_grid(model, params, images: np.ndarray, labels: np.ndarray,
                      num_classes: int, *, num_rows: int = 6,
                      binarize: bool = True, reconstruct: bool = False,
                      seed: int = 0) -> np.ndarray:
  """Rows of [image, true mask, predicted mask(, reconstruction)].

  Masks are drawn with the VOC palette (void cream). The reconstruction is
  the decoder's Bernoulli mean for the predicted y and the mean of
  q(z|x, y).

  Args:
    model, params: the M2 module and its parameters.
    images: uint8 [n, h, w, c]; labels: uint8 [n, h, w].
    num_classes: K.
    num_rows: examples shown.
    binarize: whether the model sees binarized inputs.
    reconstruct: add the reconstruction column (M2 models).
    seed: binarization seed.

  Returns:
    float [num_rows, columns, h, w, 3] in [0, 1].
  """
  x = jnp.asarray(images[:num_rows], jnp.float32) / 255.0
  if binarize:
    x = jax.random.bernoulli(jax.random.key(seed), x).astype(jnp.float32)
  apply = functools.partial(model.apply, params)
  pred = jnp.argmax(apply(x, method='classify'), -1)
  colours = voc_palette().astype(np.float32) / 255.0
  rgb = lambda a: a if a.shape[-1] == 3 else np.repeat(a, 3, -1)
  columns = [rgb(np.asarray(x)), colours[np.asarray(labels[:num_rows])],
             colours[np.asarray(pred)]]
  if reconstruct:
    y = jax.nn.one_hot(pred, num_classes)
    z, _ = apply(x, y, method='encode')
    recon = jax.nn.sigmoid(apply(y, z, method='decode'))
    columns.append(rgb(np.asarray(recon)))
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

