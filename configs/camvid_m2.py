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
  # alpha 100 leaves the unlabeled bound ~4% of the classifier's gradient
  # (docs/camvid.md): M2 then follows the baseline.
  c.alpha = 10.0
  c.model.latent_channels = 8
  c.model.latent_stride = 8        # a coarse z: the decoder must use y
  # q(z|x,y) reads the classifier's features; p(x|y,z) is a DeepLab a
  # quarter as wide at output stride 16 with 64 channels (36 GFLOP a step
  # against 80 with three full-size networks).
  c.model.shared_encoder = True
  c.model.vae_width_multiplier = 0.25
  c.model.vae_output_stride = 16
  c.model.vae_channels = 64
  c.num_train_steps = 1500
  if 'paper' in default_config.variants(variant):
    default_config.use_paper_segmentation(c)
  return default_config.finish(c, variant, handled=('paper',))
