"""Mean teacher with CutMix (French et al., BMVC 2020) on CamVid: the
camvid_baseline network and labeled batch, plus a consistency term on 8
unlabeled frames a step (`default_config.use_mean_teacher`).

  python -m experiments.train --config=configs/camvid_meanteacher.py \
      --workdir=workdirs/camvid_meanteacher --config.data.manual_dir=DIR

Expected: see docs/camvid.md, "Consistency methods" (mIoU % on val, scored
at 360x480).

Variants: `:tiny`, the seconds-long twin the tests train.
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid(c)
  c.objective = 'supervised'
  default_config.use_mean_teacher(c)
  c.num_train_steps = 2000
  return default_config.finish(c, variant)
