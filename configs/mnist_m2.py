"""MNIST M2-VAE (Section 4 of the paper): 100 labels, enumeration over y.

The default is the paper's set-up with one change found by tuning on
mnist-dev's validation split: alpha = 100 instead of the paper's 10 (see the
README, "MNIST, 100 labels, the paper's budget"). The paper's exact settings
are the `paper` variant. Trained longer (--config.num_train_steps=80000
--config.lr_schedule=cosine) it reached 93.95% averaged over seeds 0-2
(91.3% for seed 0; benchmarks/RESULTS.md, "Three seeds on a lent H200").

  python -m experiments.train --config=configs/mnist_m2.py \
      --workdir=workdirs/mnist_m2 [--config.data.idx_dir=PATH]
  python -m experiments.train --config=configs/mnist_m2.py:paper ...

Tiny twin for tests: --config=configs/mnist_m2.py:tiny
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  c.objective = 'm2'
  c.estimator = 'enumerate'
  # 10 in the paper; 100 gained 2 points on the validation split at the
  # paper's budget. (Kingma et al.'s code amounts to alpha 0.1 with the
  # labeled bound weighted 0.002 in our batch means: README,
  # "MNIST, 100 labels".)
  c.alpha = 100.0
  if 'paper' in default_config.variants(variant):
    c.alpha = 10.0
  c.num_train_steps = 5900       # 10 epochs of 590 iterations (Section 4).
  c.batch_size = 100
  c.unlabeled_batch_size = 100
  c.data.num_labeled = 100       # 10 per class.
  return default_config.finish(c, variant, handled=('paper',))
