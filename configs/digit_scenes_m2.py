"""Fully convolutional M2 (eq. 11-12) on digit scenes, 500 labeled scenes.

The segmentation model of the paper, proven on data a CPU can train on in
minutes: 64x64 scenes of 1-3 MNIST digits, 11 classes (background + 10).

  python -m experiments.train --config=configs/digit_scenes_m2.py \
      --workdir=workdirs/digit_scenes_m2 [--config.data.idx_dir=PATH]

Tiny twin for tests: --config=configs/digit_scenes_m2.py:tiny
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_digit_scenes(c)
  c.objective = 'm2'
  c.alpha = 1000.0
  c.temperature.rate = 5e-4        # tau reaches 0.5 by step ~1,400.
  # z on an 8x coarser grid (8x8 at 64x64), cheaper for CPU runs; the
  # paper's per-pixel z is latent_stride = 1.
  c.model.latent_stride = 8
  return default_config.finish(c, variant)
