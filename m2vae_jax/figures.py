"""Figures written to the workdir (PNG) and to TensorBoard."""

import functools

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

from m2vae_jax.models import m2 as m2_lib

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
  logits = apply(x, method=m2_lib.M2.classify)
  y_pred = jax.nn.one_hot(jnp.argmax(logits, -1), num_classes)
  z, _ = apply(x, y_pred, method=m2_lib.M2.encode)

  def render(k):
    y = jnp.broadcast_to(jax.nn.one_hot(k, num_classes), y_pred.shape)
    return jax.nn.sigmoid(apply(y, z, method=m2_lib.M2.decode))

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
  rows, cols = grid.shape[:2]
  fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8 + 0.4),
                           squeeze=False)
  for r in range(rows):
    for k in range(cols):
      ax = axes[r, k]
      img = grid[r, k]
      ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap='gray',
                vmin=0.0, vmax=1.0)
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title('input' if k == 0 else f'y={k - 1}', fontsize=8)
  fig.suptitle('Same z, every class y', fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
