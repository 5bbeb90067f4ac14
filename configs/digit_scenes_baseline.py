"""Segmentation baseline on digit scenes: q(y|x) alone, per-pixel BCE.

The same DeepLabv3+ classifier as configs/digit_scenes_m2.py trained on the
500 labeled scenes only (the paper's baseline, Section 4).

  python -m experiments.train --config=configs/digit_scenes_baseline.py \
      --workdir=workdirs/digit_scenes_baseline [--config.data.idx_dir=PATH]

Tiny twin for tests: --config=configs/digit_scenes_baseline.py:tiny
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_digit_scenes(c)
  c.objective = 'supervised'
  return default_config.finish(c, variant)
