"""Input data: the only package that imports TensorFlow / TFDS.

`load_task_data(config.data)` returns a `pipeline.TaskData`; the data set is
picked by `config.data.name` from `LOADERS`. Loaders import TFDS lazily, so
`import m2vae_jax.data` stays cheap; with `data.arrays_file` a file of
exported arrays replaces the loader (`arrays`), and TFDS is not imported.
"""

from collections.abc import Callable

import ml_collections

from m2vae_jax.data import pipeline
from m2vae_jax.errors import ConfigError


def _load_mnist(cfg: ml_collections.ConfigDict) -> pipeline.TaskData:
  from m2vae_jax.data import mnist  # pylint: disable=g-import-not-at-top
  kw = dict(idx_dir=cfg.idx_dir or None, data_dir=cfg.tfds_data_dir or None)
  return pipeline.TaskData(
      train=mnist.load_split(cfg.train_split, **kw),
      eval=mnist.load_split(cfg.eval_split, **kw),
      num_classes=mnist.NUM_CLASSES, eval_split=cfg.eval_split)


def _load_digit_scenes(cfg: ml_collections.ConfigDict) -> pipeline.TaskData:
  from m2vae_jax.data import digit_scenes  # pylint: disable=g-import-not-at-top
  kw = dict(image_size=cfg.image_size, num_train=cfg.num_train_scenes,
            num_eval=cfg.num_eval_scenes, max_digits=cfg.max_digits,
            seed=cfg.scene_seed, idx_dir=cfg.idx_dir or None,
            data_dir=cfg.tfds_data_dir or None)
  return pipeline.TaskData(
      train=digit_scenes.load_split(cfg.train_split, **kw),
      eval=digit_scenes.load_split(cfg.eval_split, **kw),
      num_classes=digit_scenes.NUM_CLASSES, eval_split=cfg.eval_split)


def _load_voc(cfg: ml_collections.ConfigDict) -> pipeline.TaskData:
  from m2vae_jax.data import voc  # pylint: disable=g-import-not-at-top
  return voc.load_task_data(cfg)


def _load_camvid(cfg: ml_collections.ConfigDict) -> pipeline.TaskData:
  from m2vae_jax.data import camvid  # pylint: disable=g-import-not-at-top
  return camvid.load_task_data(cfg)


LOADERS: dict[str, Callable[[ml_collections.ConfigDict], pipeline.TaskData]] = {
    'mnist': _load_mnist,
    'digit_scenes': _load_digit_scenes,
    'voc': _load_voc,
    'camvid': _load_camvid,
}


def load_task_data(cfg: ml_collections.ConfigDict) -> pipeline.TaskData:
  """Loads the data set named by `cfg.name` (a `config.data` block), or
  the file `cfg.arrays_file` exported from it (`arrays`: no TFDS)."""
  if cfg.arrays_file:
    from m2vae_jax.data import arrays  # pylint: disable=g-import-not-at-top
    return arrays.load(cfg.arrays_file, cfg)
  if cfg.name not in LOADERS:
    raise ConfigError(f'data.name={cfg.name!r} is not one of '
                      f'{sorted(LOADERS)}')
  return LOADERS[cfg.name](cfg)
