"""MNIST ADGM (Maaloe et al. 2016), 100 labels: the auxiliary a in the
inference model only; MLPs of 2 x 500 units, z and a of 100, y enumerated,
the latent terms warmed up over 2,000 steps.

  python -m experiments.train --config=configs/mnist_adgm.py \
      --workdir=workdirs/mnist_adgm [--config.data.idx_dir=DIR]

Expected: within 1,000 steps q(a|x) becomes one distribution for every
image (an evaluation's a_spread and changed_by_a show it), leaving an M2
with small networks: 88.48% on mnist-dev's validation split (seed 0) after
about 146k steps on an H200; the docs hold no number for the default 5,900
steps. Maaloe et al. report 99.0%.

Variants: `:maaloe`, the training settings of Maaloe et al.'s SDGM code
(`default_config.use_maaloe_code_settings`), no ADGM result in the docs;
`:tiny` and `:maaloe,tiny`, the seconds-long twins the tests train.

Docs: docs/results.md, "ADGM: its auxiliary a collapses".
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_auxiliary(c, 'adgm')
  if 'maaloe' in default_config.variants(variant):
    default_config.use_maaloe_code_settings(c)
  return default_config.finish(c, variant, handled=('maaloe',))
