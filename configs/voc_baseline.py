"""Pascal VOC 2012 baseline (the paper, Section 4): 54% IoU reported.

The q(y|x) DeepLabv3+ MobileNetV2 of configs/voc_m2.py trained alone with
per-pixel binary cross-entropy on the 1,464 labeled training images,
128x128, batch 8, Adam, 10 epochs (num_train_steps = -1: from num_epochs).

  python -m experiments.train --config=configs/voc_baseline.py \
      --workdir=workdirs/voc_baseline --config.data.manual_dir=/path/to/voc

Tiny twin for tests: --config=configs/voc_baseline.py:tiny
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_voc(c)
  c.objective = 'supervised'
  return default_config.finish(c, variant)
