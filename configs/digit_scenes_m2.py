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
  default_config.use_segmentation(c, 'digit_scenes')
  c.objective = 'm2'
  c.alpha = 1000.0
  c.num_train_steps = 3000
  c.learning_rate = 1e-3
  c.temperature.rate = 5e-4        # tau reaches 0.5 by step ~1,400.
  c.model.width_multiplier = 0.35
  c.model.output_stride = 8
  c.model.aspp_channels = 64
  c.model.decoder_channels = 64
  c.model.latent_channels = 4
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
