"""camvid_m2 plus a consistency term on its unlabeled batch: M2's bound
and CutMix consistency together. By default camvid_meanteacher's term (the
better of the two alone, docs/camvid.md); `:pseudo_label` takes
camvid_fixmatch's.

  python -m experiments.train --config=configs/camvid_m2_cutmix.py \
      --workdir=workdirs/camvid_m2_cutmix --config.data.manual_dir=DIR

Expected: 26.0 mIoU % on val, scored at 360x480 (seed 0, where
camvid_baseline gives 27.9 and camvid_meanteacher 33.6), after 1,500 steps,
~145 min on one CPU core beside another run.

Docs: docs/camvid.md, "Consistency methods".

Variants: `:pseudo_label`; `:tiny`, the seconds-long twin the tests train.
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid_m2(c)
  if 'pseudo_label' in default_config.variants(variant):
    default_config.use_pseudo_labels(c)
  else:
    default_config.use_mean_teacher(c)
  return default_config.finish(c, variant, handled=('pseudo_label',))
