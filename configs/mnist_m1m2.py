"""MNIST M1+M2 (Kingma et al. 2014) in one run, 100 labels: an M1 VAE
(2 x 500 units, z1 of 50) learns on all images for 3,000 steps
(`model.m1_steps`), then M2 (one layer of 300 units, z2 of 50, y
enumerated) learns on z1 ~ q(z1|x) with M1 frozen. The sizes are those of
Kingma et al.'s run_2layer_ssl.py.

  python -m experiments.train --config=configs/mnist_m1m2.py \
      --workdir=workdirs/mnist_m1m2 [--config.data.idx_dir=DIR]

Expected: 94.13% on mnist-dev's validation split, mean of seeds 0-4, after
3k + 77k steps, about 20 min a seed alone on the 2-core CPU, still rising
~0.3 points per 10k steps. Kingma et al. report 96.7%.

Variants: `:tiny`, the seconds-long twin the tests train.

Docs: docs/results.md, "M1+M2".
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  c.objective = 'm2'
  c.estimator = 'enumerate'
  c.model.name = 'm1m2'
  c.model.m1_hidden = (500, 500)
  c.model.m1_latent = 50
  c.model.m1_steps = 3000
  c.model.hidden = (300,)          # with 2 x 500 the run declines
  c.model.latent_dim = 50
  c.alpha = 100.0
  # 100 labeled / 50,000 unlabeled images: a labeled image's bound counts
  # once per epoch, as in Kingma et al.'s code (scale with data.num_labeled).
  c.labeled_weight = 0.002
  c.num_train_steps = 3000 + 77000
  c.eval_every_steps = 5000
  c.data.num_labeled = 100
  return default_config.finish(c, variant)
