"""MNIST SDGM (Maaloe et al. 2016), 100 labels: a in the generative path.

The published set-up: MLPs of 2 x 500 ReLU units, z and a of 100 units,
Adam 3e-4, the classes enumerated, warm-up of the latent terms. Maaloe et
al. trained for thousands of epochs; the step budget here is a config field.

The defaults are the settings that reached 97% on mnist-dev's validation
split as the mean of five seeds (benchmarks/RESULTS.md, "Seed 4 with the
smaller latents to 70k"): alpha 100, a moving average of the parameters
(ema_decay 0.999, what eval.json reports; the raw iterate is beside it),
70k steps (140 epochs) at the constant rate 3e-4, the labeled digits
slanted at random (data.labeled_shear 0.4) and z and a of 16 units, not
Maaloe et al.'s 100. Seeds 0-4 reach 96.29, 97.41, 97.31, 97.17 and
97.60% at 70k, a mean of 97.16%. With z = a = 100 (the defaults before;
--config.model.latent_dim=100 --config.model.aux_dim=100) they reach
95.56, 97.24, 97.35, 97.27 and 97.31%, a mean of 96.95%: the smaller
latents gain on seed 0 (+0.73; its barred 7s go to 9) and seed 4
(+0.29) and move the other three by -0.10 to +0.17, where two runs of
one config on one seed differ by 0.09-0.22, so the +0.21 on the mean is
one measurement, not a settled gain. Without the shear either
(--config.data.labeled_shear=0 as well) the five seeds reach 95.35,
97.43, 97.22, 97.26 and 96.05%, a mean of 96.66% ("Seeds 3 and 4, and a
prediction made before they ended").
Maaloe et al. report 98.7%. With alpha 10 and no EMA (the defaults earlier)
it reached 95.6% after 200k steps (seed 0); a cosine decay stops it early
(95.97% over three seeds at 80k), and lr 1e-3 only starts faster
(benchmarks/RESULTS.md, "SDGM's optimisation"). About 2 h on a 2-core CPU
(~10 steps/s alone here, ~5.5 each with two seeds side by side); on an
H200, five seeds side by side reached 70k steps in about 6 min (z = a =
100, without the shear: 96.53% on average; "Five seeds on a lent H200"):

  python -m experiments.train --config=configs/mnist_sdgm.py \
      --workdir=workdirs/mnist_sdgm [--config.data.idx_dir=PATH]

The `maaloe` variant takes the training settings of Maaloe et al.'s own
SDGM code (alpha 50, no warm-up, clipping, weight prior, a step decay of
the rate over 500k steps, their initial weights;
`default_config.use_maaloe_code_settings`):

  python -m experiments.train --config=configs/mnist_sdgm.py:maaloe ...

Tiny twins for tests: --config=configs/mnist_sdgm.py:tiny (and :maaloe,tiny)
"""

from m2vae_jax import default_config


def get_config(variant: str = ''):
  c = default_config.get_default_config()
  default_config.use_auxiliary(c, 'sdgm')
  if 'maaloe' in default_config.variants(variant):
    default_config.use_maaloe_code_settings(c)
  else:
    # The settings that reached 97% on mnist-dev's validation split
    # (benchmarks/RESULTS.md, "SDGM at 97%"): a larger alpha, a moving
    # average of the parameters and 70k steps (140 epochs) at the constant
    # rate.
    c.alpha = 100.0
    c.ema_decay = 0.999
    c.num_train_steps = 70000
    c.eval_every_steps = 5000
    # Labeled digits slanted at random: the mean of five seeds 96.95%
    # against 96.66% without, with z = a = 100 (benchmarks/RESULTS.md,
    # "Seed 3 slanted to 70k"), seed 4's upright 5s recovered.
    c.data.labeled_shear = 0.4
    # z and a of 16 units, not Maaloe et al.'s 100: with fewer latent
    # units more of the picture must pass through y: the mean of five
    # seeds 97.16% against 96.95% (benchmarks/RESULTS.md, "Seed 4 with the
    # smaller latents to 70k").
    c.model.latent_dim = 16
    c.model.aux_dim = 16
  return default_config.finish(c, variant, handled=('maaloe',))
