"""Pascal VOC 2012 segmentation baseline (the paper, Section 4): q(y|x), a
DeepLabv3+ on MobileNetV2, trained alone with per-pixel binary cross-entropy
on the 1,464 labeled training images at 128x128, batch 8, for 10 epochs
(num_train_steps = -1 derives 1,830 steps from num_epochs).

  python -m experiments.train --config=configs/voc_baseline.py \
      --workdir=workdirs/voc_baseline --config.data.manual_dir=DIR

DIR holds VOCtrainval_11-May-2012.tar or its VOCdevkit/; left empty, TFDS
downloads the tar (2 GB). Expected: not run here (it needs an accelerator);
the paper reports 54% IoU on the validation split, one run.

Variants: `:tiny`, the seconds-long twin the tests train.

Docs: docs/voc.md, "Expected results".
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_voc(c)
  c.objective = 'supervised'
  return default_config.finish(c, variant)
