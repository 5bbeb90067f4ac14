"""CamVid segmentation baseline: q(y|x) alone, a DeepLabv3+ on MobileNetV2
x0.5 with group norm, trained with a softmax cross-entropy per pixel (void
ignored) on 46 of the 367 training frames, at 120x160.

  python -m experiments.train --config=configs/camvid_baseline.py \
      --workdir=workdirs/camvid_baseline --config.data.manual_dir=DIR

DIR is the SegNet CamVid folder. Expected: 27.9 mIoU % on val, scored at
360x480 (seed 0), after 3,000 steps, ~38 min on one CPU core. With every
frame labeled (`--config.data.num_labeled=-1
--config.num_train_steps=4000`): 53.3, ~51 min.

Variants: `:paper`, the paper's segmentation settings (binarized inputs,
per-pixel BCE, no normalization, vertical flips, constant Adam 3e-4,
MobileNetV2 x1.0 at output stride 16), not run; `:tiny`, the seconds-long
twin the tests train.

Docs: docs/camvid.md, "Results"; why: "The supervised baseline learns".
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_camvid(c)
  c.objective = 'supervised'
  c.num_train_steps = 3000
  if 'paper' in default_config.variants(variant):
    default_config.use_paper_segmentation(c)
  return default_config.finish(c, variant, handled=('paper',))
