"""MNIST M2-VAE (the paper, Section 4): 100 labels, alpha = 10, enumeration.

  python -m experiments.train --config=configs/mnist_m2.py \
      --workdir=workdirs/mnist_m2 [--config.data.idx_dir=PATH]

Tiny twin for tests: --config=configs/mnist_m2.py:tiny
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  c.objective = 'm2'
  c.estimator = 'enumerate'
  c.alpha = 10.0
  c.num_train_steps = 5900       # 10 epochs of 590 iterations (Section 4).
  c.batch_size = 100
  c.unlabeled_batch_size = 100
  c.data.num_labeled = 100       # 10 per class.
  return default_config.finish(c, variant)

