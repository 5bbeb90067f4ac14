"""MNIST baseline (the paper, Section 4): the q(y|x) MLP of 2 x 1000 ReLU
units trained with cross-entropy on 100 labels (10 per class) alone.

  python -m experiments.train --config=configs/mnist_baseline.py \
      --workdir=workdirs/mnist_baseline [--config.data.idx_dir=DIR]

Expected: 78.2% on mnist-dev's validation split, mean of seeds 0-2 (75.4 to
81.5: the draw of labels moves it), after 5,900 steps, 1.8 min on the 2-core
CPU. The paper reports 75%.

Variants: `:tiny`, the seconds-long twin the tests train.

Docs: docs/results.md, "M2 at the paper's budget".
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  c.objective = 'supervised'
  c.num_train_steps = 5900       # 10 "epochs" of 590 iterations (Section 4).
  c.batch_size = 100
  c.data.num_labeled = 100
  return default_config.finish(c, variant)
