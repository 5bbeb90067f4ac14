"""Fully convolutional M2 (eq. 11-12) on CamVid: 46 labeled frames + all
367 unlabeled.

  python -m experiments.train --config=configs/camvid_m2.py \
      --workdir=workdirs/camvid_m2 --config.data.manual_dir=DIR

Variants: `:paper` (the paper's settings: per-pixel multivariate Bernoulli
target, binarized inputs and a Bernoulli likelihood, no normalization,
alpha 1000, a per-pixel z, vertical flips, constant Adam 3e-4, full-width
networks at output stride 16); `:tiny` (the tests' twin).
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid(c)
  c.objective = 'm2'
  c.estimator = 'gumbel'
  c.alpha = 100.0
  c.model.latent_channels = 8
  c.model.latent_stride = 8
  c.num_train_steps = 3000
  if 'paper' in default_config.variants(variant):
    default_config.use_paper_segmentation(c)
  return default_config.finish(c, variant, handled=('paper',))
