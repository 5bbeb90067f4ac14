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
  default_config.use_segmentation(c, 'digit_scenes')
  c.objective = 'supervised'
  c.num_train_steps = 3000
  c.learning_rate = 1e-3
  c.model.width_multiplier = 0.35
  c.model.output_stride = 8
  c.model.aspp_channels = 64
  c.model.decoder_channels = 64
  c.data.image_size = 64
  c.data.num_labeled = 500
  c.eval_batch_size = 200
  c.eval_every_steps = 1000
  c.log_every_steps = 100
  if variant == 'tiny':
    default_config.shrink_for_tests(c)
  elif variant:
    raise ValueError(f'unknown variant {variant!r} (known: tiny)')
  return c
