"""Pseudo-labels with strong augmentation (FixMatch per pixel, the core of
UniMatch) on CamVid: the camvid_baseline network and labeled batch, plus a
cross-entropy on 8 unlabeled frames a step against the model's own
confident predictions (`default_config.use_pseudo_labels`).

  python -m experiments.train --config=configs/camvid_fixmatch.py \
      --workdir=workdirs/camvid_fixmatch --config.data.manual_dir=DIR

Expected: mIoU % on val, scored at 360x480, after 2,000 steps: 31.7 on
seed 0, 32.4 on seed 1, 44.1 on seed 2, mean 36.1 (camvid_baseline:
27.9, 32.5, 46.9, mean 35.8); ~105-130 min on
one CPU core beside another run.

Docs: docs/camvid.md, "Consistency methods".

Variants: `:tiny`, the seconds-long twin the tests train.
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid_consistency(c, 'pseudo_label')
  return default_config.finish(c, variant)
