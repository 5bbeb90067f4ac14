"""Digit-scene segmentation baseline (the paper's baseline, Section 4): the
q(y|x) of configs/digit_scenes_m2.py, a DeepLabv3+ on MobileNetV2 x0.25,
trained with per-pixel binary cross-entropy on the 500 labeled scenes alone.

  python -m experiments.train --config=configs/digit_scenes_baseline.py \
      --workdir=workdirs/digit_scenes_baseline [--config.data.idx_dir=DIR]

Expected: 11.9 mIoU % over the 11 classes (seed 0) after 1,000 steps,
3.7 min on the 2-core CPU. That run predates commit 58286c1, which made raw
intensities and no vertical flips the defaults; the docs hold no number
for the present ones.

Variants: `:tiny`, the seconds-long twin whose steps the tests trace.

Docs: docs/results.md, "Digit scenes" (and why M2 does not beat it there).
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_digit_scenes(c)
  c.objective = 'supervised'
  return default_config.finish(c, variant)
