"""Every config field the trainer reads, with its default.

Experiment files in `configs/` start from `get_default_config()` and change
what differs. Values derived from others (schedules, per-device batch
sizes) are computed by the trainer, never here, so `--config.X=...`
overrides always propagate.
"""

import ml_collections

# Fields that may change when a run is resumed from its workdir: they do not
# change what is computed at any given step.
RUNTIME_FIELDS = (
    'num_train_steps', 'log_every_steps', 'eval_every_steps',
    'checkpoint_every_steps', 'keep_checkpoints', 'async_checkpointing',
    'figures', 'data.idx_dir', 'data.tfds_data_dir', 'data.manual_dir',
    'data.prefetch', 'data.workers', 'data.arrays_file', 'eval_batch_size',
)


def get_default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  # --- Objective -----------------------------------------------------------
  # 'supervised': alpha-free cross-entropy on the labeled batch (baselines).
  # 'm2': J^alpha of eq. (7) on a labeled and an unlabeled batch.
  c.objective = 'm2'
  c.target = 'categorical'         # 'categorical' | 'bernoulli' (eq. 12)
  c.estimator = 'enumerate'        # 'enumerate' | 'gumbel' | 'straight_through'
  c.entropy = 'analytic'           # log q(y|x) term of U: 'analytic' | 'sample'
  c.entropy_weight = 1.0           # its weight (1: the bound; m2 only)
  c.kl = 'analytic'                # z term: 'analytic' | 'sample' (eq. 10)
  c.num_samples = 1                # z samples per (x, y)
  c.bound = 'elbo'                 # 'elbo' | 'iwae' (Burda et al. 2015)
  c.kl_warmup_steps = 0            # z term weighted min(1, step / this)
  # What the decoder models: 'bernoulli' on binarized pixels (the paper) or
  # 'continuous_bernoulli' on raw intensities (set data.binarize=False).
  c.likelihood = 'bernoulli'
  # Weight of -log q(y|x) on labeled data; for segmentation -log q(y|x) is
  # summed over the pixels (and classes), like L and U.
  c.alpha = 10.0
  # Weight of KL(q(y) || p(y)) of the unlabeled batch's mean prediction
  # (`losses.marginal_kl`), on top of the bound; 0 is the bound alone.
  c.marginal_weight = 0.0
  c.labeled_weight = 1.0           # weight of mean L(x, y) over the batch
  c.unlabeled_weight = 1.0         # weight of mean U(x) over the batch
  # A consistency term on the unlabeled batch, added to the objective
  # (`objectives.with_consistency`): 'none' | 'mean_teacher' (French et al.
  # 2020: needs ema_decay > 0, the teacher) | 'pseudo_label' (FixMatch per
  # pixel: the student's own confident argmax). Segmentation only.
  c.consistency = ml_collections.ConfigDict(dict(
      kind='none',
      weight=1.0,             # per pixel, as the labeled cross-entropy
      threshold=0.95,         # teacher confidence below which a pixel
                              # is left out
      cutmix_area=(0.25, 0.5),  # the pasted box's share of the image
      colour_jitter=0.0,      # strength of the student's colour jitter
  ))
  # Relaxation temperature tau = max(minimum, initial * exp(-rate * step))
  # (Jang et al. 2016), for the gumbel estimators.
  c.temperature = ml_collections.ConfigDict(
      dict(initial=1.0, minimum=0.5, rate=3e-5))

  # --- Optimisation --------------------------------------------------------
  c.num_train_steps = 5900         # -1: num_epochs over the epoch stream
  c.num_epochs = 10.0              # used when num_train_steps = -1; an
                                   # epoch is a pass over the unlabeled data
                                   # (m2) or the labeled data (supervised)
  c.batch_size = 100               # labeled examples per step (global)
  c.unlabeled_batch_size = 100     # unlabeled examples per step (global)
  c.eval_batch_size = 1000
  c.learning_rate = 3e-4
  c.warmup_steps = 0               # linear learning-rate warm-up
  c.lr_schedule = 'constant'       # 'constant' | 'cosine' | 'step'
  # 'step': the rate times lr_decay_factor every lr_decay_every_steps, but
  # never below lr_min (Maaloe et al.'s code: x0.75 every 200 epochs).
  c.lr_decay_every_steps = 0
  c.lr_decay_factor = 0.75
  c.lr_min = 0.0
  c.adam_b1 = 0.9
  c.adam_b2 = 0.999
  c.grad_clip_norm = 0.0           # 0 disables clipping
  c.grad_clip_value = 0.0          # then each element to +-this (0: off)
  # weight_decay * W added to each kernel's gradient before clipping and
  # Adam: a N(0, 1) weight prior divided by N in Maaloe et al.'s code.
  c.weight_decay = 0.0
  # Evaluate a moving average of the parameters, with this decay (0: off;
  # e.g. 0.999). eval.json then also holds the raw iterate's raw_accuracy.
  c.ema_decay = 0.0
  c.skip_nonfinite_steps = False   # True: skip a step with NaN/inf, go on
  # 'bfloat16': matmuls and convolutions in bfloat16 (mixed precision);
  # parameters, optimizer state and losses stay float32.
  c.compute_dtype = 'float32'

  # --- Model ---------------------------------------------------------------
  c.model = ml_collections.ConfigDict()
  c.model.name = 'mlp'
  c.model.hidden = (1000, 1000)
  c.model.latent_dim = 300
  c.model.aux_dim = 100            # ADGM / SDGM auxiliary variable a
  c.model.m1_hidden = (600, 600)   # M1+M2: the M1 VAE's MLPs
  c.model.m1_latent = 50           # M1+M2: z1, the features M2 learns on
  c.model.m1_steps = 3000          # M1+M2: steps of M1 before M2 starts
  c.model.activation = 'relu'
  # Per-example normalization before each hidden activation, in the MLPs
  # and in DeepLab: 'none' (the paper) | 'layer' | 'group'.
  c.model.norm = 'none'
  # Initial weights of the MLPs (`mlp.WEIGHT_INITS`): 'lecun' (Flax's default) |
  # 'maaloe' (Maaloe et al.'s code: Glorot, N(0, 1e-3^2) Gaussian heads).
  c.model.weight_init = 'lecun'
  # DeepLabv3+ / MobileNetV2 (segmentation, model.name = 'deeplab').
  c.model.width_multiplier = 1.0
  c.model.output_stride = 16
  c.model.atrous_rates = ()        # () picks rates that suit the image size
  c.model.aspp_channels = 256
  c.model.decoder_channels = 256
  # At most this many MobileNetV2 blocks per stage (0: Table 2's 1-4); the
  # tests' tiny twins take 2, for a third less to compile.
  c.model.max_block_repeats = 0
  c.model.latent_channels = 8      # channels of z per pixel
  c.model.latent_stride = 1        # z on a grid this much coarser (1: paper)
  # q(z|x,y) and p(x|y,z) may be smaller DeepLabs than q(y|x): their width
  # multiplier, output stride and ASPP / decoder channels (0: as q(y|x)).
  c.model.vae_width_multiplier = 0.0
  c.model.vae_output_stride = 0
  c.model.vae_channels = 0
  # q(z|x,y) reads q(y|x)'s features instead of being a DeepLab of its own
  # (latent_stride a multiple of 4): the unlabeled bound then trains the
  # classifier's network too.
  c.model.shared_encoder = False

  # --- Data ----------------------------------------------------------------
  c.data = ml_collections.ConfigDict()
  c.data.name = 'mnist'
  c.data.idx_dir = ''              # local IDX folder instead of TFDS mnist
  c.data.tfds_data_dir = ''        # '' = TFDS default (~/tensorflow_datasets)
  # An .npz of this data block's arrays (experiments.export_data) read
  # instead of the data set: training without TensorFlow or internet.
  c.data.arrays_file = ''
  c.data.train_split = 'train'
  c.data.eval_split = 'test'
  c.data.num_labeled = 100         # labeled training examples (-1: all)
  # Seed of the draw of the labeled subset; -1 draws it from `seed`. Set it
  # to vary initialisation and batch order over one fixed set of labels.
  c.data.label_seed = -1
  # The labeled subset given outright, as training-split indices (empty:
  # drawn), e.g. a draw with chosen examples swapped (as
  # `tools/labeled_draws.py` prints them); data.num_labeled must count
  # them. They count in the loader's order (TFDS's fixed order, not the IDX
  # files'). config.json keeps the list, so a resume checks it.
  c.data.labeled_indices = ()
  c.data.binarize = True           # x ~ Bernoulli(intensity), every step
  # Translate each labeled example by up to this many pixels along each
  # axis, fresh every step (0: off). Only the labeled batch: its few
  # examples are what the classifier overfits; the unlabeled bound models
  # the images as they are. Masks move with their image (void fills in).
  c.data.labeled_shift = 0
  # Slant each labeled example by a shear factor uniform in [-this, this]
  # (row y moves factor * (y - middle) pixels), fresh every step (0: off):
  # a draw of ten labels per class holds few slants. Before the shift.
  # mnist_sdgm sets 0.4.
  c.data.labeled_shear = 0.0
  # Evaluate q(y|x) on a binarized sample instead of the intensities (the
  # intensities, E[x], gave +0.7 points on MNIST M2 and no noise).
  c.data.eval_binarize = False
  c.data.prefetch = 2              # batches built ahead in threads
  c.data.workers = 0               # threads building batches, decoding VOC
                                   # (0: one per usable core, up to 8)
  # Segmentation data.
  # What the networks see: a side (scenes, VOC) or (height, width) (CamVid:
  # frames are resized to it; at --config.data.image_size='(360, 480)' they
  # are used as they are).
  c.data.image_size = 64
  c.data.flip_vertical = False     # the paper flips VOC images vertically
  c.data.flip_horizontal = False
  # Random crop of 1/s of each side, s log-uniform in [1, max_zoom],
  # resized to image_size (1: the whole image; CamVid only: other data sets
  # are stored at image_size).
  c.data.max_zoom = 1.0
  c.data.num_train_scenes = 20000  # digit_scenes
  c.data.num_eval_scenes = 2000
  c.data.max_digits = 3
  c.data.scene_seed = 0            # the scenes are the same for every seed
  # voc: folder with the tar or VOCdevkit/; camvid: the SegNet CamVid
  # folder (train/, trainannot/, val/, ..., train.txt, val.txt).
  c.data.manual_dir = ''
  c.data.unlabeled_split = 'unlabeled'  # voc: '' uses the train split

  # --- Bookkeeping ---------------------------------------------------------
  c.log_every_steps = 100
  c.eval_every_steps = 0           # 0: evaluate at the end only
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 2
  c.async_checkpointing = True
  c.figures = True
  return c


def uses_unlabeled(c: ml_collections.ConfigDict) -> bool:
  """Whether a step reads an unlabeled batch: M2's bound or a consistency
  term needs one."""
  return c.objective == 'm2' or c.consistency.kind != 'none'


def use_segmentation(c: ml_collections.ConfigDict, dataset: str) -> None:
  """Switches `c` to the fully convolutional M2 of eq. (12) on `dataset`:
  DeepLabv3+ networks, the per-pixel multivariate Bernoulli target, Gumbel
  relaxation and the paper's batch of 8 (+ 8 unlabeled)."""
  c.target = 'bernoulli'
  c.estimator = 'gumbel'
  c.model.name = 'deeplab'
  c.data.name = dataset
  c.batch_size = 8
  c.unlabeled_batch_size = 8


def use_voc(c: ml_collections.ConfigDict) -> None:
  """The paper's VOC 2012 set-up (Section 4): 128x128, every labeled
  training image, 10 epochs, full-width DeepLabv3+ MobileNetV2."""
  use_segmentation(c, 'voc')
  c.data.flip_vertical = True      # Section 4
  c.data.image_size = 128
  c.data.num_labeled = -1          # all 1,464 labeled training images
  c.data.train_split = 'train'
  c.data.eval_split = 'validation'
  c.num_train_steps = -1           # derived from num_epochs
  c.num_epochs = 10.0
  c.eval_batch_size = 32
  c.eval_every_steps = 2000
  c.checkpoint_every_steps = 1000
  c.model.width_multiplier = 1.0
  c.model.output_stride = 16
  c.model.latent_channels = 8


def use_digit_scenes(c: ml_collections.ConfigDict) -> None:
  """Digit scenes at 64x64 with 500 labeled scenes and DeepLabv3+ networks
  small enough to train on a CPU."""
  use_segmentation(c, 'digit_scenes')
  # Sized so an M2 run takes under 30 minutes on a 2-core CPU.
  c.num_train_steps = 1000
  c.learning_rate = 1e-3
  c.model.width_multiplier = 0.25
  c.model.output_stride = 8
  c.model.aspp_channels = 32
  c.model.decoder_channels = 32
  c.model.latent_channels = 4
  c.data.image_size = 64
  c.data.num_labeled = 500
  c.eval_batch_size = 200
  c.eval_every_steps = 500
  c.log_every_steps = 100
  # Raw intensities: binarized RGB loses the colours (issue 39's
  # measurements); the likelihood is then a continuous Bernoulli.
  c.data.binarize = False
  c.likelihood = 'continuous_bernoulli'


def use_camvid(c: ml_collections.ConfigDict) -> None:
  """CamVid road scenes (11 classes), 46 of the 367 training frames labeled,
  trained at 120x160 and scored at the labels' 360x480 on `val`.

  The supervised settings that make DeepLabv3+ learn fast on a CPU: a
  MobileNetV2 x0.5 backbone with group norm (per example, so safe for M2's
  mixed batches), output stride 8, 128-channel ASPP and decoder, raw
  intensities, a softmax per pixel, Adam 2e-3 with a cosine decay, batch 8,
  horizontal flips and random zoomed crops.
  """
  use_segmentation(c, 'camvid')
  c.target = 'categorical'
  c.data.binarize = False
  c.likelihood = 'continuous_bernoulli'
  # A (height, width) field, not the other configs' int side.
  del c.data['image_size']
  c.data.image_size = (120, 160)
  c.data.train_split = 'train'
  c.data.eval_split = 'val'
  c.data.num_labeled = 46          # 1/8 of the 367 training frames
  c.data.flip_horizontal = True
  c.data.flip_vertical = False
  c.data.max_zoom = 1.5
  c.learning_rate = 2e-3
  c.lr_schedule = 'cosine'
  c.model.width_multiplier = 0.5
  c.model.output_stride = 8
  c.model.norm = 'group'
  c.model.aspp_channels = 128
  c.model.decoder_channels = 128
  c.eval_batch_size = 16
  c.log_every_steps = 50
  c.eval_every_steps = 500
  c.checkpoint_every_steps = 500


def use_camvid_m2(c: ml_collections.ConfigDict) -> None:
  """camvid_m2: the fully convolutional M2 on `use_camvid`'s data and
  classifier, y relaxed by Gumbel-Softmax, a coarse z and a light VAE."""
  use_camvid(c)
  c.objective = 'm2'
  c.estimator = 'gumbel'
  # alpha 100 left the bound ~4% of the classifier's gradient, so M2 followed
  # the baseline: docs/camvid.md, "M2 on CamVid: what decides the gain".
  c.alpha = 10.0
  c.model.latent_channels = 8
  c.model.latent_stride = 8        # a coarse z: the decoder must use y
  # q(z|x,y) reads the classifier's features; p(x|y,z) is a DeepLab a
  # quarter as wide: 36 GFLOP a step against 80 with three full networks.
  c.model.shared_encoder = True
  c.model.vae_width_multiplier = 0.25
  c.model.vae_output_stride = 16
  c.model.vae_channels = 64
  c.num_train_steps = 1500


def use_mean_teacher(c: ml_collections.ConfigDict) -> None:
  """Mean teacher with CutMix (French et al., BMVC 2020): the teacher is the
  moving average of the parameters (decay 0.99, also what evaluation
  scores), the student's probabilities on CutMixed unlabeled pairs are held
  by squared error to the teacher's, mixed alike, where it is >= 0.97 sure;
  weight 1 per pixel."""
  c.consistency.kind = 'mean_teacher'
  c.consistency.weight = 1.0
  c.consistency.threshold = 0.97
  c.consistency.colour_jitter = 0.0
  c.ema_decay = 0.99


def use_pseudo_labels(c: ml_collections.ConfigDict) -> None:
  """FixMatch per pixel (UniMatch's core, Yang et al. 2023): the student's
  own argmax on the unlabeled frame, where >= 0.95 sure, is the target of
  its prediction on the frame colour-jittered (strength 0.5) and CutMixed;
  weight 1 per pixel."""
  c.consistency.kind = 'pseudo_label'
  c.consistency.weight = 1.0
  c.consistency.threshold = 0.95
  c.consistency.colour_jitter = 0.5


def use_camvid_consistency(c: ml_collections.ConfigDict, kind: str) -> None:
  """camvid_baseline's network, data and labeled batch plus the
  consistency term `kind` on 8 unlabeled frames a step, for 2,000 steps
  (about the wall time of camvid_m2's 1,500)."""
  use_camvid(c)
  c.objective = 'supervised'
  {'mean_teacher': use_mean_teacher, 'pseudo_label': use_pseudo_labels}[kind](c)
  c.num_train_steps = 2000


def use_paper_segmentation(c: ml_collections.ConfigDict) -> None:
  """The paper's segmentation settings (Section 4) where a config's differ:
  the per-pixel multivariate Bernoulli target, binarized inputs with a
  Bernoulli likelihood, no normalization, vertical flips only, constant
  Adam 3e-4, three full-width MobileNetV2 DeepLabs at output stride 16
  with 256-channel ASPP and decoder, alpha 1000 and a per-pixel z of 8
  channels."""
  c.target = 'bernoulli'
  c.data.binarize = True
  c.likelihood = 'bernoulli'
  c.model.norm = 'none'
  c.data.flip_vertical = True
  c.data.flip_horizontal = False
  c.data.max_zoom = 1.0
  c.learning_rate = 3e-4
  c.lr_schedule = 'constant'
  c.model.width_multiplier = 1.0
  c.model.output_stride = 16
  c.model.aspp_channels = 256
  c.model.decoder_channels = 256
  c.alpha = 1000.0
  c.model.latent_channels = 8
  c.model.latent_stride = 1
  c.model.vae_width_multiplier = 0.0  # three DeepLabs of one size
  c.model.vae_output_stride = 0
  c.model.vae_channels = 0
  c.model.shared_encoder = False


def use_auxiliary(c: ml_collections.ConfigDict, name: str) -> None:
  """ADGM or SDGM on MNIST with Maaloe et al.'s (2016) sizes: MLPs of
  2 x 500 units, z and a of 100 units, warm-up of the latent terms."""
  c.objective = 'm2'
  c.estimator = 'enumerate'
  c.model.name = name
  c.model.hidden = (500, 500)
  c.model.latent_dim = 100
  c.model.aux_dim = 100
  c.kl_warmup_steps = 2000


def use_maaloe_code_settings(c: ml_collections.ConfigDict) -> None:
  """The training settings of Maaloe et al.'s public SDGM code for MNIST
  (larsmaaloee/auxiliary-deep-generative-models, run_mnist.py), where they
  differ from ours: alpha = 0.1 N / N_labeled (N = 50,000 unlabeled images
  here), no warm-up, the gradient clipped to global norm 5 and then to +-1
  per element, a N(0, 1) prior on the weights divided by N, and the rate
  times 0.75 every 200 epochs (500 steps each), not below 3e-5, for 1,000
  epochs, and their initial weights (`model.weight_init='maaloe'`)."""
  unlabeled_images = 50000
  steps_per_epoch = unlabeled_images // c.unlabeled_batch_size
  c.alpha = 0.1 * unlabeled_images / c.data.num_labeled
  c.kl_warmup_steps = 0
  c.grad_clip_norm = 5.0
  c.grad_clip_value = 1.0
  c.weight_decay = 1.0 / unlabeled_images
  c.lr_schedule = 'step'
  c.lr_decay_every_steps = 200 * steps_per_epoch
  c.lr_decay_factor = 0.75
  c.lr_min = 3e-5
  c.num_train_steps = 1000 * steps_per_epoch
  c.model.weight_init = 'maaloe'


def variants(variant: str) -> list[str]:
  """'paper,tiny' -> ['paper', 'tiny'] (the text after ':' in --config)."""
  return [v for v in variant.split(',') if v]


def finish(c: ml_collections.ConfigDict, variant: str,
           handled: tuple[str, ...] = ()) -> ml_collections.ConfigDict:
  """Applies the generic variants of a config file ('tiny'); `handled`
  names the file's own variants, which it has applied already."""
  for name in variants(variant):
    if name == 'tiny':
      shrink_for_tests(c)
    elif name not in handled:
      known = ', '.join(('tiny', *handled))
      raise ValueError(f'unknown config variant {name!r} (known: {known})')
  return c


def shrink_for_tests(c: ml_collections.ConfigDict) -> None:
  """Makes `c` a tiny twin that trains in seconds on a CPU (for tests)."""
  c.num_train_steps = 6
  c.batch_size = 8
  c.unlabeled_batch_size = 8
  c.eval_batch_size = 16
  c.data.num_labeled = 20
  c.log_every_steps = 2
  c.checkpoint_every_steps = 2
  c.async_checkpointing = False
  if c.model.name in ('mlp', 'adgm', 'sdgm', 'm1m2'):
    # As deep as the full config, narrower.
    c.model.hidden = (32,) * len(c.model.hidden)
    c.model.latent_dim = 4
    c.model.aux_dim = 4
    c.model.m1_hidden = (32,) * len(c.model.m1_hidden)
    c.model.m1_latent = 6
    c.model.m1_steps = 3
  c.eval_every_steps = 0
  if c.model.name == 'deeplab':
    # One save at the end: orbax spends seconds per save on the ~1,200
    # arrays of three DeepLabs and their Adam state.
    c.checkpoint_every_steps = c.num_train_steps
    c.data.num_labeled = {'voc': -1, 'camvid': 4}.get(c.data.name, 20)
    c.model.width_multiplier = 0.25
    c.model.aspp_channels = 16
    c.model.decoder_channels = 16
    c.model.max_block_repeats = 2
    if c.model.vae_channels:
      c.model.vae_channels = 8
    c.model.latent_channels = 2
    if c.data.name == 'camvid':
      c.data.image_size = (24, 32)
    else:
      c.data.image_size = 32
    c.data.num_train_scenes = 40
    c.data.num_eval_scenes = 16


def changed_fields(old: dict, new: dict) -> list[str]:
  """Sorted keys of two flat configs ({'a.b': value}) whose values differ,
  a key missing on one side included; runtime fields are ignored."""
  return sorted(k for k in set(old) | set(new)
                if k not in RUNTIME_FIELDS and old.get(k) != new.get(k))


def saved_with_defaults(saved: dict, defaults: dict) -> dict:
  """A flat config an earlier run saved, with the fields it lacks taken from
  `defaults`. Such a field was added to the library since; its default by
  design keeps the earlier behaviour, so old workdirs and exports stay
  usable."""
  return {**defaults, **saved}


def flatten(config: ml_collections.ConfigDict, prefix: str = '') -> dict:
  """{'a.b': value} for every leaf field."""
  out = {}
  for k, v in config.items():
    if isinstance(v, ml_collections.ConfigDict):
      out.update(flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out
