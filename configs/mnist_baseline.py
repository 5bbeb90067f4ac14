"""MNIST baseline (the paper, Section 4): the q(y|x) MLP on 100 labels only.

  python -m experiments.train --config=configs/mnist_baseline.py \
      --workdir=workdirs/mnist_baseline [--config.data.idx_dir=PATH]

Tiny twin for tests: --config=configs/mnist_baseline.py:tiny
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  c.objective = 'supervised'
  c.num_train_steps = 5900       # 10 "epochs" of 590 iterations (Section 4).
  c.batch_size = 100
  c.data.num_labeled = 100
  return default_config.finish(c, variant)
