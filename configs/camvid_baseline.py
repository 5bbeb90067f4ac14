"""Supervised segmentation baseline on CamVid: q(y|x) alone.

The DeepLabv3+ classifier of configs/camvid_m2.py trained on the labeled
frames only, with softmax cross-entropy per pixel (void ignored).

  python -m experiments.train --config=configs/camvid_baseline.py \
      --workdir=workdirs/camvid_baseline --config.data.manual_dir=DIR

DIR is the SegNet CamVid folder. `--config.data.num_labeled=-1` labels all
367 training frames; `--config.data.image_size='(360, 480)'` trains at full
resolution (for an accelerator); `--config.data.eval_split=test` scores the
official test split where DIR has it.

Variants: `:paper` (the paper's baseline: per-pixel binary cross-entropy,
binarized inputs, no normalization, vertical flips, constant Adam 3e-4,
MobileNetV2 x1.0 at output stride 16); `:tiny` (the tests' twin).
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
