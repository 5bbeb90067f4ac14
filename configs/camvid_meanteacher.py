"""Mean teacher with CutMix (French et al., BMVC 2020) on CamVid: the
camvid_baseline network and labeled batch, plus a consistency term on 8
unlabeled frames a step (`default_config.use_mean_teacher`).

  python -m experiments.train --config=configs/camvid_meanteacher.py \
      --workdir=workdirs/camvid_meanteacher --config.data.manual_dir=DIR

Expected: mIoU % on val, scored at 360x480, after 2,000 steps: 33.6,
29.8 and 46.9 on seeds 0-2, mean 36.8 (camvid_baseline: 27.9, 32.5, 46.9,
mean 35.8); ~60 min alone on one CPU core, ~105-110 beside another run.

Docs: docs/camvid.md, "Consistency methods".

Variants: `:tiny`, the seconds-long twin the tests train.
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid_consistency(c, 'mean_teacher')
  return default_config.finish(c, variant)
