"""Fully convolutional M2 (the paper's eq. 11-12) on CamVid at 120x160: 46
labeled frames + all 367 unlabeled. q(y|x) is camvid_baseline's; y per
pixel is categorical, relaxed by Gumbel-Softmax, x has a continuous Bernoulli
likelihood on raw intensities, z is coarse and the VAE's networks light.

  python -m experiments.train --config=configs/camvid_m2.py \
      --workdir=workdirs/camvid_m2 --config.data.manual_dir=DIR

Expected: 24.5 mIoU % on val, scored at 360x480 (seed 0), after 1,500
steps, ~70 min on one CPU core: 3.4 below camvid_baseline, so M2 does not
beat the baseline here yet.

Variants: `:paper` (`default_config.use_paper_segmentation`: binarized
inputs, Bernoulli target and likelihood, alpha 1000, a per-pixel z, three
full-width DeepLabs), not run; `:tiny`, the seconds-long twin the tests train.

Docs: docs/camvid.md, "Results"; why: "M2 on CamVid: what decides the gain".
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid_m2(c)
  if 'paper' in default_config.variants(variant):
    default_config.use_paper_segmentation(c)
  return default_config.finish(c, variant, handled=('paper',))
