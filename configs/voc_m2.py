"""Pascal VOC 2012 M2-VAE (the paper, Section 4): 58% IoU reported.

Three DeepLabv3+ MobileNetV2 networks (eq. 12) at 128x128, batch 8 labeled
+ 8 unlabeled, alpha = 1000, Adam, 10 epochs over the unlabeled images
(num_train_steps = -1 derives the steps from num_epochs), y by Gumbel-Softmax
(binary Concrete) relaxation of the per-pixel multivariate Bernoulli target.

  python -m experiments.train --config=configs/voc_m2.py \
      --workdir=workdirs/voc_m2 --config.data.manual_dir=/path/to/voc

`data.manual_dir` holds VOCtrainval_11-May-2012.tar or its VOCdevkit/; leave
it empty to download the tar (2 GB) on a machine with internet.

Tiny twin for tests: --config=configs/voc_m2.py:tiny
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_voc(c)
  c.objective = 'm2'
  c.alpha = 1000.0
  c.unlabeled_batch_size = 8
  c.temperature.rate = 1e-4        # tau reaches 0.5 after ~7,000 steps.
  return default_config.finish(c, variant)
