"""Pascal VOC 2012 M2-VAE, the paper's set-up (Section 4): three DeepLabv3+
MobileNetV2 networks (eq. 12) at 128x128, the 1,464 labeled images + 15,676
unlabeled, batch 8 + 8, alpha 1000, y the per-pixel multivariate Bernoulli
target relaxed by binary Concrete, 10 epochs over the unlabeled images
(19,595 steps).

  python -m experiments.train --config=configs/voc_m2.py \
      --workdir=workdirs/voc_m2 --config.data.manual_dir=DIR \
      [--config.compute_dtype=bfloat16]

DIR as for configs/voc_baseline.py. Expected: not run here; the paper
reports 58% IoU on the validation split. A step takes 2.69 s on the idle
2-core CPU, ~15 h for the run: train it on an accelerator.

Variants: `:tiny`, the seconds-long twin whose steps the tests trace.

Docs: docs/voc.md, "Expected results"; on an accelerator: docs/scale.md.
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_voc(c)
  c.objective = 'm2'
  c.alpha = 1000.0                 # the paper's
  c.unlabeled_batch_size = 8
  c.temperature.rate = 1e-4        # tau reaches 0.5 after ~7,000 steps.
  return default_config.finish(c, variant)
