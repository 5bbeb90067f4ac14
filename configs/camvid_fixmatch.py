"""Pseudo-labels with strong augmentation (FixMatch per pixel, the core of
UniMatch) on CamVid: the camvid_baseline network and labeled batch, plus a
cross-entropy on 8 unlabeled frames a step against the model's own
confident predictions (`default_config.use_pseudo_labels`).

  python -m experiments.train --config=configs/camvid_fixmatch.py \
      --workdir=workdirs/camvid_fixmatch --config.data.manual_dir=DIR

Expected: 31.7 mIoU % on val, scored at 360x480 (seed 0, where
camvid_baseline gives 27.9), after 2,000 steps, ~60-80 min on one CPU core.

Docs: docs/camvid.md, "Consistency methods".

Variants: `:tiny`, the seconds-long twin the tests train.
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid_consistency(c, 'pseudo_label')
  return default_config.finish(c, variant)
