"""One trainer for every experiment: model, state, steps and the loop.

`train_and_evaluate(config, workdir)` runs an experiment end to end. The
objective (`config.objective`), the estimator of the unlabeled bound, the
networks and the data set are config fields; there is one train step and
one loop for all of them.
"""

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import dataclasses
import functools
import json
import logging as std_logging
import math
import os
import signal
import sys
import time
from typing import Any

from absl import logging
import flax
import flax.linen as nn
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from m2vae_jax import checkpointing
from m2vae_jax import default_config
from m2vae_jax import ema as ema_lib
from m2vae_jax import losses
from m2vae_jax import metric_writers
from m2vae_jax import metrics as metrics_lib
from m2vae_jax import palettes
from m2vae_jax import sharding
from m2vae_jax import workdir as workdir_lib
from m2vae_jax.data import pipeline
from m2vae_jax.errors import ConfigError
from m2vae_jax.errors import UserError
from m2vae_jax.models import auxiliary
from m2vae_jax.models import m1m2
from m2vae_jax.models import m2 as m2_lib
from m2vae_jax.models import mlp
from m2vae_jax.models import normalization
from m2vae_jax.models import segmentation

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]  # name -> [sum, count]


class TrainingDiverged(UserError):
  """A loss or gradient became NaN or infinite."""


@flax.struct.dataclass
class TrainState:
  """Everything a step changes; a pytree that orbax saves as is."""

  step: jax.Array      # int32 []
  params: Any
  opt_state: Any
  rng: jax.Array       # uint32 [2], raw key data (plain array to checkpoint)
  # The moving average of params when config.ema_decay > 0, else None (so
  # the state, and its checkpoints, are as they were without it).
  ema_params: Any = None

  @property
  def eval_params(self) -> Any:
    """What evaluation uses: the average if there is one."""
    return self.params if self.ema_params is None else self.ema_params


@dataclasses.dataclass(frozen=True)
class Task:
  """Static facts about the data that shape the model."""

  num_classes: int
  image_shape: tuple[int, ...]   # [height, width, channels]
  segmentation: bool


# ----------------------------------------------------------------------------
# Model and optimizer.
# ----------------------------------------------------------------------------


def _mlp_m2(config: ml_collections.ConfigDict, task: Task) -> m2_lib.M2:
  cfg = config.model
  def trunk():  # A new one per network: they share no weights.
    return mlp.Trunk(tuple(cfg.hidden), cfg.activation, cfg.norm,
                     cfg.weight_init)
  return m2_lib.M2(
      classifier=mlp.Classifier(trunk(), task.num_classes),
      encoder=mlp.Encoder(trunk(), cfg.latent_dim),
      decoder=mlp.Decoder(trunk(), task.image_shape))


def _deeplab_m2(config: ml_collections.ConfigDict, task: Task) -> m2_lib.M2:
  cfg = config.model
  settings = segmentation.DeepLabSettings(
      width_multiplier=cfg.width_multiplier, output_stride=cfg.output_stride,
      atrous_rates=tuple(cfg.atrous_rates) or None,
      aspp_channels=cfg.aspp_channels, decoder_channels=cfg.decoder_channels,
      norm=cfg.norm)
  vae = dataclasses.replace(
      settings,
      width_multiplier=cfg.vae_width_multiplier or cfg.width_multiplier,
      output_stride=cfg.vae_output_stride or cfg.output_stride,
      aspp_channels=cfg.vae_channels or cfg.aspp_channels,
      decoder_channels=cfg.vae_channels or cfg.decoder_channels)
  if cfg.shared_encoder:
    encoder = segmentation.SharedEncoder(
        cfg.latent_channels, cfg.latent_stride, hidden=vae.aspp_channels,
        norm=cfg.norm)
  else:
    encoder = segmentation.Encoder(vae, cfg.latent_channels,
                                   cfg.latent_stride)
  return m2_lib.M2(
      classifier=segmentation.Classifier(
          settings, task.num_classes,
          independent_classes=config.target == 'bernoulli'),
      encoder=encoder,
      decoder=segmentation.Decoder(vae, task.image_shape[-1],
                                   config.likelihood),
      encoder_reads_classifier=cfg.shared_encoder)


def _auxiliary(skip: bool):
  def build(config: ml_collections.ConfigDict, task: Task):
    cfg = config.model
    return auxiliary.AuxiliaryModel(
        hidden=tuple(cfg.hidden), latent_dim=cfg.latent_dim,
        aux_dim=cfg.aux_dim, num_classes=task.num_classes,
        image_shape=task.image_shape, activation=cfg.activation,
        norm=cfg.norm, weight_init=cfg.weight_init, skip=skip)
  return build


def _m1m2(config: ml_collections.ConfigDict, task: Task) -> nn.Module:
  cfg = config.model
  return m1m2.M1M2(m1_hidden=tuple(cfg.m1_hidden), m1_latent=cfg.m1_latent,
                   hidden=tuple(cfg.hidden), latent_dim=cfg.latent_dim,
                   num_classes=task.num_classes,
                   image_shape=task.image_shape, activation=cfg.activation,
                   norm=cfg.norm, weight_init=cfg.weight_init)


MODELS: dict[str, Callable[[ml_collections.ConfigDict, Task], nn.Module]] = {
    'mlp': _mlp_m2,
    'm1m2': _m1m2,
    'deeplab': _deeplab_m2,
    'adgm': _auxiliary(skip=False),
    'sdgm': _auxiliary(skip=True),
}


OBJECTIVES = ('supervised', 'm2')


def is_auxiliary(model: nn.Module) -> bool:
  return getattr(model, 'auxiliary', False)


def create_model(config: ml_collections.ConfigDict, task: Task) -> nn.Module:
  """The model named by `config.model.name` (see MODELS)."""
  return MODELS[config.model.name](config, task)


def learning_rate(config: ml_collections.ConfigDict, num_train_steps: int):
  """The rate (a float or an optax schedule of the step):

  'constant' (after an optional linear warm-up), 'cosine' (warm-up, then a
  cosine decay to 0 at num_train_steps) or 'step' (Maaloe et al.'s code:
  the rate times lr_decay_factor every lr_decay_every_steps, never below
  lr_min, after the warm-up).
  """
  lr = config.learning_rate
  if config.lr_schedule == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        0.0, lr, max(config.warmup_steps, 1), max(num_train_steps, 1))
  if config.lr_schedule == 'step':
    decayed = optax.exponential_decay(
        lr, config.lr_decay_every_steps, config.lr_decay_factor,
        staircase=True, end_value=config.lr_min or None)
    if not config.warmup_steps:
      return decayed
    warm = lambda step: jnp.minimum(1.0, step / config.warmup_steps)
    return lambda step: warm(step) * decayed(step)
  if config.warmup_steps:
    return optax.linear_schedule(0.0, lr, config.warmup_steps)
  return lr


def _is_kernel(params):
  """True for the weight matrices and conv kernels (not biases, norms)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: str(getattr(path[-1], 'key', '')) == 'kernel', params)


def create_optimizer(config: ml_collections.ConfigDict, num_train_steps: int
                     ) -> optax.GradientTransformation:
  """Adam (the paper's optimizer) with the schedule of `learning_rate`, and
  in this order, as Maaloe et al.'s code does: weight_decay * W added to the
  gradient of every kernel (their N(0, 1) weight prior divided by N), the
  gradient clipped to a global norm, then each element to +-grad_clip_value.
  """
  lr = learning_rate(config, num_train_steps)
  adam = lambda rate: optax.adam(rate, b1=config.adam_b1, b2=config.adam_b2)
  if config.model.name == 'm1m2':
    opt = _phased_adam(adam, lr, config.model.m1_steps)
  else:
    opt = adam(lr)
  before = []
  if config.weight_decay > 0:
    before.append(optax.add_decayed_weights(config.weight_decay, _is_kernel))
  if config.grad_clip_norm > 0:
    before.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if config.grad_clip_value > 0:
    before.append(optax.clip(config.grad_clip_value))
  return optax.chain(*before, opt) if before else opt


def _phased_adam(adam, lr, m1_steps: int) -> optax.GradientTransformation:
  """M1+M2: the M1 networks learn only before `m1_steps`, the M2 networks
  only after (a zero rate also stops Adam's momentum from moving them)."""
  base = lr if callable(lr) else (lambda step, lr=lr: lr)
  m1_rate = lambda step: jnp.where(step < m1_steps, base(step), 0.0)
  m2_rate = lambda step: jnp.where(step < m1_steps, 0.0,
                                   base(step - m1_steps))
  labels = lambda params: jax.tree_util.tree_map_with_path(
      lambda path, _: 'm1' if str(path[1].key).startswith('m1_') else 'm2',
      params)
  return optax.multi_transform({'m1': adam(m1_rate), 'm2': adam(m2_rate)},
                               labels)


def _dummy_inputs(task: Task) -> tuple[jax.Array, jax.Array]:
  """A one-example x and y, to create parameters."""
  x = jnp.zeros((1, *task.image_shape), jnp.float32)
  y_shape = ((1, *task.image_shape[:2], task.num_classes) if task.segmentation
             else (1, task.num_classes))
  return x, jnp.zeros(y_shape, jnp.float32)


def init_params(config: ml_collections.ConfigDict, model: nn.Module,
                task: Task, key: jax.Array):
  """Parameters of the networks the objective uses (classifier only for
  the supervised baseline)."""
  x, y = _dummy_inputs(task)
  if config.objective == 'supervised':
    return model.init(key, x, method='classify')
  if is_auxiliary(model):
    a = jnp.zeros((1, config.model.aux_dim), jnp.float32)
    z = jnp.zeros((1, config.model.latent_dim), jnp.float32)
    return model.init(key, x, y, z, a)
  if config.model.name == 'm1m2':
    return model.init(key, x, y)
  mean, _ = jax.eval_shape(
      lambda: model.init_with_output(key, x, y, method='encode')[0])
  z = jnp.zeros(mean.shape, mean.dtype)
  return model.init(key, x, y, z)


def create_train_state(config: ml_collections.ConfigDict, model: nn.Module,
                       tx: optax.GradientTransformation,
                       task: Task) -> TrainState:
  key = jax.random.key(config.seed)
  init_key, train_key = jax.random.split(key)
  params = init_params(config, model, task, init_key)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params),
                    rng=jax.random.key_data(train_key),
                    ema_params=params if config.ema_decay > 0 else None)


# ----------------------------------------------------------------------------
# Objectives.
# ----------------------------------------------------------------------------


def networks(model: nn.Module, params, config) -> m2_lib.Networks:
  """The model's networks bound to `params`, computing in
  `config.compute_dtype`."""
  return m2_lib.Networks(model, params, jnp.dtype(config.compute_dtype))


def prepare_inputs(key: jax.Array, images: jax.Array,
                   binarize: bool) -> jax.Array:
  """uint8 pixels -> model input: x ~ Bernoulli(intensity) (Section 4,
  dynamic binarization, fresh every step), or the intensity itself."""
  p = images.astype(jnp.float32) / 255.0
  if not binarize:
    return p
  return jax.random.bernoulli(key, p).astype(jnp.float32)


def _relaxed(config: ml_collections.ConfigDict) -> bool:
  """Whether y is drawn relaxed, so that the temperature plays a part
  (an enumerated sum has none: it is not logged then)."""
  return config.estimator != 'enumerate'


def temperature(config: ml_collections.ConfigDict, step: jax.Array):
  """tau = max(minimum, initial * exp(-rate * step)) (Jang et al. 2016)."""
  t = config.temperature
  return jnp.maximum(t.minimum, t.initial * jnp.exp(-t.rate * step))


def kl_weight(config: ml_collections.ConfigDict, step: jax.Array):
  """Warm-up: the z term's weight rises linearly from 0 to 1 over
  `kl_warmup_steps` (Sonderby et al. 2016; Maaloe et al. 2016)."""
  if config.kl_warmup_steps <= 0:
    return 1.0
  return jnp.minimum(1.0, step / config.kl_warmup_steps)


def _stat(values: jax.Array) -> jax.Array:
  """[sum, count] of per-example values."""
  return jnp.stack([jnp.sum(values), jnp.asarray(values.size, jnp.float32)])


def _valid_pixels(labels: jax.Array, num_classes: int) -> jax.Array:
  return ((labels >= 0) & (labels < num_classes)).astype(jnp.float32)


def _accuracy_stat(logits, labels, task) -> jax.Array:
  pred = jnp.argmax(logits, -1)
  if task.segmentation:
    valid = _valid_pixels(labels, task.num_classes)
    return jnp.stack([jnp.sum((pred == labels) * valid), jnp.sum(valid)])
  return jnp.stack([jnp.sum(pred == labels).astype(jnp.float32),
                    jnp.asarray(labels.size, jnp.float32)])


def supervised_objective(params, labeled: Batch, unlabeled: Batch | None,
                         key: jax.Array, step: jax.Array, *, model, config,
                         task: Task):
  """The baselines: cross-entropy of q(y|x) on the labeled batch only."""
  del unlabeled, step
  x = prepare_inputs(key, labeled['image'], config.data.binarize)
  logits = networks(model, params, config).classify(x)
  ce = losses.classification_loss(logits, labeled['label'], config.target)
  return jnp.mean(ce), {'classification_loss': _stat(ce),
                        'accuracy': _accuracy_stat(
                            logits, labeled['label'], task)}


def m2_objective(params, labeled: Batch, unlabeled: Batch, key: jax.Array,
                 step: jax.Array, *, model, config, task: Task):
  """J^alpha of eq. (7): mean L + mean U + alpha * mean(-log q(y|x))."""
  k_xl, k_xu, k_m2 = jax.random.split(key, 3)
  x_l = prepare_inputs(k_xl, labeled['image'], config.data.binarize)
  x_u = prepare_inputs(k_xu, unlabeled['image'], config.data.binarize)
  nets = networks(model, params, config)
  return _m2_terms(nets.classify_for_encoder, nets.encode_read, nets.decode,
                   x_l, labeled['label'], x_u, k_m2, step, config, task,
                   config.likelihood)


def _m2_terms(classify, encode, decode, x_l, labels, x_u, key, step, config,
              task: Task, likelihood: str):
  """J^alpha and its metrics for networks given as callables (eq. 7).

  classify(x) -> (logits, what the encoder reads of x); encode(read, y).
  """
  k_l, k_u = jax.random.split(key)
  # Two passes, not one over the concatenation: both batches are split over
  # the devices, and concatenating along that axis would move data between
  # them.
  logits_l, read_l = classify(x_l)
  logits_u, read_u = classify(x_u)
  valid = _valid_pixels(labels, task.num_classes) if task.segmentation else None
  y_l = losses.one_hot_target(labels, task.num_classes)
  beta = kl_weight(config, step)
  bound = dict(num_samples=config.num_samples, kl=config.kl,
               bound=config.bound, kl_weight=beta, likelihood=likelihood)
  labeled_l = losses.labeled_loss(
      k_l, x_l, y_l, lambda _, y: encode(read_l, y), decode,
      log_prior_y=losses.uniform_log_prior(logits_l.shape, config.target,
                                           valid), **bound)
  tau = temperature(config, step)
  unlabeled_u = losses.unlabeled_loss(
      k_u, x_u, logits_u, lambda _, y: encode(read_u, y), decode,
      estimator=config.estimator,
      target=config.target, temperature=tau, entropy=config.entropy,
      entropy_weight=config.entropy_weight, **bound)
  # Summed over the pixels of an image, the scale of L and U: a per-pixel
  # mean would leave the classifier to U's entropy term (a sum over pixels),
  # which pulled every probability to 1/2 at alpha = 1000.
  ce = losses.classification_loss(logits_l, labels, config.target)
  loss, metrics = _j_alpha(config, labeled_l, unlabeled_u, ce, logits_l,
                           labels, task, logits_u)
  if _relaxed(config):
    metrics['temperature'] = jnp.stack([tau, 1.0])
  metrics['kl_weight'] = jnp.stack([jnp.asarray(beta, jnp.float32), 1.0])
  return loss, metrics


def _j_alpha(config, labeled_l, unlabeled_u, ce, logits_l, labels,
             task: Task, logits_u):
  """Eq. (7) from per-example terms, plus marginal_weight times the
  unlabeled batch's `losses.marginal_kl` (logits_u) if that is on, and
  their metrics."""
  loss = (config.labeled_weight * jnp.mean(labeled_l)
          + config.unlabeled_weight * jnp.mean(unlabeled_u)
          + config.alpha * jnp.mean(ce))
  metrics = {
      'labeled_loss': _stat(labeled_l),
      'unlabeled_loss': _stat(unlabeled_u),
      'classification_loss': _stat(ce),
      'accuracy': _accuracy_stat(logits_l, labels, task),
  }
  if config.marginal_weight:
    marginal = losses.marginal_kl(logits_u)
    loss = loss + config.marginal_weight * marginal
    metrics['marginal_kl'] = jnp.stack([marginal, 1.0])
  return loss, metrics


def m1m2_objective(params, labeled: Batch, unlabeled: Batch, key: jax.Array,
                   step: jax.Array, *, model, config, task: Task):
  """M1+M2 (Kingma et al. 2014) in one run: for the first
  `model.m1_steps` steps the M1 VAE learns q(z1|x) on every image; after
  that M2 learns on z1 ~ q(z1|x) (M1 frozen), with a Gaussian p(z1|y,z2).
  """
  k_xl, k_xu, k_m1, k_z, k_m2 = jax.random.split(key, 5)
  x_l = prepare_inputs(k_xl, labeled['image'], config.data.binarize)
  x_u = prepare_inputs(k_xu, unlabeled['image'], config.data.binarize)
  nets = networks(model, params, config)

  def m1_phase():
    x = jnp.concatenate([x_l, x_u])
    empty = jnp.zeros((x.shape[0], 0), x.dtype)
    vae = losses.labeled_loss(
        k_m1, x, empty, lambda x_, _: nets.m1_encode(x_),
        lambda _, z: nets.m1_decode(z), likelihood=config.likelihood)
    zero = jnp.zeros((2,), jnp.float32)
    # The same metrics as m2_phase (lax.cond needs one structure).
    names = ('labeled_loss', 'unlabeled_loss', 'classification_loss',
             'accuracy', 'kl_weight') + (
                 ('temperature',) if _relaxed(config) else ()) + (
                     ('marginal_kl',) if config.marginal_weight else ())
    return jnp.mean(vae), {'m1_loss': _stat(vae),
                           **{name: zero for name in names}}

  def m2_phase():
    k_zl, k_zu = jax.random.split(k_z)
    features = lambda k, x: jax.lax.stop_gradient(
        losses.sample_gaussian(k, *nets.m1_encode(x)))
    loss, metrics = _m2_terms(
        lambda x: (nets.m2_classify(x), x), nets.m2_encode, nets.m2_decode,
        features(k_zl, x_l), labeled['label'], features(k_zu, x_u), k_m2,
        step, config, task, 'gaussian')
    return loss, {'m1_loss': jnp.zeros((2,), jnp.float32), **metrics}

  return jax.lax.cond(step < config.model.m1_steps, m1_phase, m2_phase)


def auxiliary_objective(params, labeled: Batch, unlabeled: Batch,
                        key: jax.Array, step: jax.Array, *, model, config,
                        task: Task):
  """J^alpha for an ADGM / SDGM (Maaloe et al. 2016): the labeled and
  unlabeled bounds with the auxiliary a, and alpha * E_q(a|x)[-log
  q(y|a,x)] on the labeled batch."""
  k_xl, k_xu, k_l, k_u, k_a = jax.random.split(key, 5)
  x_l = prepare_inputs(k_xl, labeled['image'], config.data.binarize)
  x_u = prepare_inputs(k_xu, unlabeled['image'], config.data.binarize)
  labels = labeled['label']
  nets = networks(model, params, config)
  common = dict(num_samples=config.num_samples,
                kl_weight=kl_weight(config, step),
                likelihood=config.likelihood)
  y_l = losses.one_hot_target(labels, task.num_classes)
  labeled_l = losses.auxiliary_labeled_loss(
      k_l, x_l, y_l, nets.infer_a, nets.encode, nets.generate,
      log_prior_y=losses.uniform_log_prior(y_l.shape), **common)
  tau = temperature(config, step)
  unlabeled_u = losses.auxiliary_unlabeled_loss(
      k_u, x_u, nets.infer_a, nets.classify_given_a, nets.encode,
      nets.generate, estimator=config.estimator, temperature=tau,
      entropy=config.entropy, **common)
  def classify_sampled(key, x):  # q(y|a,x) at a ~ q(a|x)
    a_mean, a_log_var = nets.infer_a(x)
    return nets.classify_given_a(
        losses.sample_gaussian(key, a_mean, a_log_var), x)
  logits_l = classify_sampled(k_a, x_l)
  ce = losses.classification_loss(logits_l, labels)
  # The unlabeled batch's predictions only feed the marginal term.
  logits_u = (classify_sampled(jax.random.fold_in(k_a, 1), x_u)
              if config.marginal_weight else None)
  return _j_alpha(config, labeled_l, unlabeled_u, ce, logits_l, labels, task,
                  logits_u)


_OBJECTIVE_FNS = {'supervised': supervised_objective, 'm2': m2_objective}


def _objective_fn(config, model):
  if config.objective == 'm2' and is_auxiliary(model):
    return auxiliary_objective
  if config.objective == 'm2' and config.model.name == 'm1m2':
    return m1m2_objective
  return _OBJECTIVE_FNS[config.objective]


def train_step(state: TrainState, labeled: Batch, unlabeled: Batch | None, *,
               model, tx, config, task: Task) -> tuple[TrainState, Metrics]:
  """One optimizer step on a labeled and an unlabeled batch.

  The update is applied only if the loss and every gradient are finite;
  otherwise the state stays as it was (but the step advances) and
  metrics['nonfinite'] says so, for the host to stop or go on. Finiteness
  of the gradients is read off their global norm (one pass over them): a
  NaN or inf anywhere makes it non-finite, as does a norm beyond float32.
  """
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  objective = functools.partial(_objective_fn(config, model),
                                model=model, config=config, task=task)
  (loss, metrics), grads = jax.value_and_grad(objective, has_aux=True)(
      state.params, labeled, unlabeled, key, state.step)
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

  def apply_update(s: TrainState) -> TrainState:
    updates, opt_state = tx.update(grads, s.opt_state, s.params)
    params = optax.apply_updates(s.params, updates)
    ema_params = s.ema_params
    if ema_params is not None:
      ema_params = ema_lib.update(ema_params, params, s.step,
                                  config.ema_decay)
    return s.replace(params=params, opt_state=opt_state,
                     ema_params=ema_params)

  # A cond, not a jnp.where over every parameter: with donated buffers the
  # update then happens in place (a where costs an extra pass over params
  # and optimizer state, measured at +40 ms per MNIST step on a CPU).
  # optax.apply_if_finite skips the same way inside the optimizer, but by a
  # where over updates and state, and would leave the moving average and
  # the host's stop-or-go-on (with the step named) to be written anyway.
  new_state = jax.lax.cond(finite, apply_update, lambda s: s, state)
  new_state = new_state.replace(step=state.step + 1)
  metrics = dict(metrics)
  metrics['loss'] = jnp.stack([loss, 1.0])
  metrics['grad_norm'] = jnp.stack([grad_norm, 1.0])
  metrics['nonfinite'] = jnp.stack([1.0 - finite, 1.0])
  return new_state, metrics


def eval_noise_key(config: ml_collections.ConfigDict) -> jax.Array:
  """The key of `eval_inputs`' binarization noise (data.eval_binarize)."""
  return jax.random.fold_in(jax.random.key(config.seed), 0xe7a1)


def eval_inputs(batch: Batch, config: ml_collections.ConfigDict,
                eval_key: jax.Array) -> jax.Array:
  """What the classifier sees of an eval batch, [batch, height, width,
  channels] float: the pixel intensities (the mean of the binarized input),
  or with data.eval_binarize a binarized sample whose noise comes from the
  example's index in the split, so that it does not depend on the eval
  batch size or the device count."""
  images = batch['image']
  if config.data.binarize and config.data.eval_binarize:
    keys = jax.vmap(lambda i: jax.random.fold_in(eval_key, i))(batch['index'])
    return jax.vmap(lambda k, im: prepare_inputs(k, im, True))(keys, images)
  return prepare_inputs(eval_key, images, False)


def predict_step(params, batch: Batch, *, model, config,
                 eval_key: jax.Array) -> jax.Array:
  """q(y|x)'s most probable class for every example of an eval batch:
  [batch] (classification) or [batch, height, width] (segmentation, at the
  size of the batch's masks: logits upsampled to it)."""
  x = eval_inputs(batch, config, eval_key)
  logits = networks(model, params, config).classify(x)
  if logits.ndim == 4:
    logits = metrics_lib.resize_logits(logits, batch['label'].shape[1:3])
  return jnp.argmax(logits, -1)


def eval_step(params, batch: Batch, *, model, config, task: Task,
              eval_key: jax.Array) -> Metrics:
  """Sums over one eval batch: a confusion matrix of images (classification)
  or pixels (segmentation) of `predict_step`'s classes, and for ADGM / SDGM
  the sums of `metrics.auxiliary_usage`."""
  predicted = predict_step(params, batch, model=model, config=config,
                           eval_key=eval_key)
  sums = {'confusion': metrics_lib.confusion_matrix(
      batch['label'], predicted, task.num_classes, batch['valid'])}
  if is_auxiliary(model):
    # An a that collapses (the same q(a|x) for every image, ignored by the
    # classifier) turns an ADGM into an M2: show it beside the accuracy.
    # (The inputs and networks repeat predict_step's; jit computes them once.)
    nets = networks(model, params, config)
    sums.update(metrics_lib.auxiliary_usage(
        eval_inputs(batch, config, eval_key), nets.infer_a,
        nets.classify_given_a, batch['valid']))
  return sums


# ----------------------------------------------------------------------------
# Checks that run before anything is written.
# ----------------------------------------------------------------------------


def validate_config(config: ml_collections.ConfigDict, mesh) -> None:
  """Raises ConfigError naming the first field the trainer cannot use."""
  choices = {
      'objective': OBJECTIVES, 'estimator': losses.ESTIMATORS,
      'target': losses.TARGETS, 'kl': losses.KL_MODES,
      'entropy': losses.ENTROPY_MODES, 'model.name': tuple(MODELS),
      'lr_schedule': ('constant', 'cosine', 'step'),
      'compute_dtype': ('float32', 'bfloat16'),
      'bound': losses.BOUNDS, 'likelihood': losses.LIKELIHOODS,
      'model.norm': normalization.NORMS,
      'model.weight_init': mlp.WEIGHT_INITS,
  }
  flat = default_config.flatten(config)
  for name, allowed in choices.items():
    if flat[name] not in allowed:
      raise ConfigError(f'{name}={flat[name]!r} is not one of '
                        f'{", ".join(map(repr, allowed))}')
  if config.model.name == 'deeplab' and config.model.weight_init != 'lecun':
    raise ConfigError(f'model.weight_init={config.model.weight_init!r} '
                      'applies to the MLP models only; DeepLab keeps its '
                      "own initialization (use model.weight_init='lecun')")
  if config.num_train_steps < 0 and config.num_epochs <= 0:
    raise ConfigError('num_train_steps=-1 needs num_epochs > 0, got '
                      f'{config.num_epochs}')
  if config.lr_schedule == 'step' and config.lr_decay_every_steps <= 0:
    raise ConfigError('lr_schedule=step needs lr_decay_every_steps > 0, got '
                      f'{config.lr_decay_every_steps}')
  if not 0.0 <= config.ema_decay < 1.0:
    raise ConfigError(f'ema_decay={config.ema_decay} must be in [0, 1) '
                      '(0: no moving average)')
  if config.num_samples < 1:
    raise ConfigError(f'num_samples={config.num_samples} must be >= 1')
  if config.data.labeled_shift < 0:
    raise ConfigError(f'data.labeled_shift={config.data.labeled_shift} must '
                      'be >= 0 (pixels; 0: off)')
  if config.data.labeled_shear < 0:
    raise ConfigError(f'data.labeled_shear={config.data.labeled_shear} must '
                      'be >= 0 (the largest shear factor; 0: off)')
  if config.model.shared_encoder and (
      config.model.name != 'deeplab' or config.model.latent_stride % 4):
    raise ConfigError('model.shared_encoder reads the DeepLab classifier\'s '
                      'stride-4 features: it needs model.name=deeplab and a '
                      'model.latent_stride that is a multiple of 4, got '
                      f'{config.model.name}, {config.model.latent_stride}')
  if config.data.max_zoom < 1:
    raise ConfigError(f'data.max_zoom={config.data.max_zoom} must be >= 1 '
                      '(1: no zoom)')
  if config.entropy_weight < 0:
    raise ConfigError(f'entropy_weight={config.entropy_weight} must be >= 0 '
                      '(1: the bound)')
  if config.entropy_weight != 1 and config.objective != 'm2':
    raise ConfigError(f'entropy_weight={config.entropy_weight} applies to '
                      f"objective='m2' only, got {config.objective!r}")
  if config.marginal_weight < 0:
    raise ConfigError(f'marginal_weight={config.marginal_weight} must be '
                      '>= 0 (0: off)')
  sharding.check_batch_size('batch_size', config.batch_size, mesh)
  sharding.check_batch_size('eval_batch_size', config.eval_batch_size, mesh)
  if config.objective == 'm2':
    sharding.check_batch_size('unlabeled_batch_size',
                              config.unlabeled_batch_size, mesh)
  for name in ('log_every_steps', 'checkpoint_every_steps'):
    if flat[name] <= 0:
      raise ConfigError(f'{name}={flat[name]} must be > 0')


def label_seed(config: ml_collections.ConfigDict) -> int:
  """The seed of the labeled subset: data.label_seed, or `seed` if -1."""
  if config.data.label_seed >= 0:
    return int(config.data.label_seed)
  return int(config.seed)


def labeled_indices(config: ml_collections.ConfigDict,
                    data: pipeline.TaskData) -> np.ndarray:
  """The training examples whose labels the run sees, [num_labeled], sorted:
  data.labeled_indices if given, else drawn from `label_seed`, the same
  number per class for classification."""
  if config.data.labeled_indices:
    return pipeline.given_labeled(config.data.labeled_indices,
                                  config.data.num_labeled,
                                  data.train['label'].shape[0])
  return pipeline.select_labeled(
      data.train['label'], config.data.num_labeled, data.num_classes,
      label_seed(config), balanced=not data.is_segmentation)


def _check_resumable(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Refuses to resume a workdir made with a different experiment.

  A field the saved config lacks counts as its default
  (`default_config.saved_with_defaults`), so old workdirs still resume.
  """
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return
  with open(path, encoding='utf-8') as f:
    saved = json.load(f)
  flat = lambda c: default_config.flatten(ml_collections.ConfigDict(
      json.loads(c.to_json_best_effort())))
  new = flat(config)
  old = default_config.saved_with_defaults(
      default_config.flatten(ml_collections.ConfigDict(saved)),
      flat(default_config.get_default_config()))
  changed = default_config.changed_fields(old, new)
  if changed:
    diffs = ', '.join(f'{k}: {old.get(k)!r} -> {new.get(k)!r}'
                      for k in changed[:4])
    raise ConfigError(f'workdir {workdir} holds a run with a different '
                      f'config ({diffs}); use a new --workdir')


def _write_json_atomic(path: str, obj: Any) -> None:
  tmp = f'{path}.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


# ----------------------------------------------------------------------------
# The loop.
# ----------------------------------------------------------------------------


class _Preemption:
  """Tells the loop, after every step, whether SIGTERM asked it to stop.

  One process: a SIGTERM handler sets a flag. Several processes: JAX's
  distributed runtime hears the SIGTERM and `reached_preemption_sync_point`
  makes every process stop at the same step, so they save one checkpoint
  together.
  """

  def __init__(self):
    self._signalled = False
    self._previous = None
    self._multiprocess = jax.process_count() > 1

  def __enter__(self):
    if self._multiprocess:
      return self
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread: leave signals alone.
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self._signalled = True

  def requested(self, step: int) -> bool:
    if self._multiprocess:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._signalled

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def _summarize(history: list[Metrics]) -> dict[str, float]:
  """Means over the logged interval from [sum, count] pairs.

  A term counted at no step of the interval (M1+M2's M2 terms while M1
  learns, and the reverse) is left out rather than reported as NaN, which
  would read as a diverged run.
  """
  totals = jax.device_get(jax.tree.map(lambda *xs: sum(xs), *history))
  return {k: float(v[0] / v[1]) for k, v in totals.items() if v[1]}


_SHORT_NAMES = (('loss', 'loss'), ('m1_loss', 'M1'), ('labeled_loss', 'L'),
                ('unlabeled_loss', 'U'), ('classification_loss', 'ce'),
                ('accuracy', 'acc'), ('marginal_kl', 'mkl'),
                ('temperature', 'tau'))


def _progress_line(step, total, scalars, steps_per_sec) -> str:
  parts = [f'step {step}/{total}']
  for key, short in _SHORT_NAMES:
    if key in scalars:
      parts.append(f'{short} {scalars[key]:.4g}')
  eta = (total - step) / steps_per_sec if steps_per_sec > 0 else 0.0
  parts.append(f'{steps_per_sec:.2f} steps/s')
  parts.append(f'ETA {_format_duration(eta)}')
  return ' | '.join(parts)


def _nonfinite_message(step: int, metrics: dict[str, float], workdir: str,
                       last_saved: int | None) -> str:
  bad = [k for k, v in metrics.items() if not math.isfinite(v)]
  # Name the terms that went bad, not the totals they feed.
  terms = [k for k in bad if k not in ('loss', 'grad_norm')]
  what = ', '.join(terms or [k for k in bad if k == 'loss'] or
                   ['a gradient'])
  kept = (f'the last good checkpoint (step {last_saved}) is kept in '
          f'{workdir}' if last_saved is not None else 'no checkpoint was saved')
  return (f'step {step}: {what} became NaN or infinite; {kept}. Set '
          '--config.skip_nonfinite_steps=True to skip such steps instead')


class Trainer:
  """Holds what the loop, evaluation and figures share."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, *,
               mesh=None):
    self.config = config
    self.workdir = workdir
    self.mesh = mesh if mesh is not None else sharding.create_mesh()
    validate_config(config, self.mesh)
    # Data first: a bad file or folder stops us before the workdir is
    # touched.
    from m2vae_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    self.data = data_lib.load_task_data(config.data)
    self.task = Task(num_classes=self.data.num_classes,
                     image_shape=self.data.input_shape,
                     segmentation=self.data.is_segmentation)
    self.labeled_indices = labeled_indices(config, self.data)
    if config.marginal_weight and (self.task.segmentation
                                   or config.target != 'categorical'):
      raise ConfigError('marginal_weight constrains the class frequencies of '
                        'one categorical y per image; set it to 0 for '
                        'segmentation')
    if config.estimator == 'enumerate' and config.objective == 'm2' and (
        self.task.segmentation or config.target != 'categorical'):
      raise ConfigError("estimator='enumerate' sums over the classes of one "
                        'categorical y per image; for segmentation use '
                        "'gumbel' or 'straight_through'")
    self.num_train_steps = self._resolve_num_train_steps()
    self.model = create_model(config, self.task)
    self.tx = create_optimizer(config, self.num_train_steps)
    self._build_streams()
    self._build_steps()

  def _resolve_num_train_steps(self) -> int:
    c = self.config
    if c.num_train_steps >= 0:
      return int(c.num_train_steps)
    if c.objective == 'm2':
      source = self.data.unlabeled or self.data.train
      n, batch = source['image'].shape[0], c.unlabeled_batch_size
    else:
      n, batch = len(self.labeled_indices), c.batch_size
    return int(math.ceil(c.num_epochs * n / batch))

  # -- data ------------------------------------------------------------------

  def _stream_transform(self, seed: int):
    """Segmentation: every example brought to the networks' input size (a
    random crop of it with data.max_zoom > 1), then randomly flipped."""
    c, pi, pc = self.config, jax.process_index(), jax.process_count()
    if not self.task.segmentation:
      return None
    zoom = flip = None
    hw = self.task.image_shape[:2]
    if c.data.max_zoom > 1 or self.data.train['image'].shape[1:3] != hw:
      zoom = pipeline.random_zoom(seed, hw, c.data.max_zoom,
                                  process_index=pi, process_count=pc)
    if c.data.flip_vertical or c.data.flip_horizontal:
      flip = pipeline.random_flip(
          seed, vertical=c.data.flip_vertical,
          horizontal=c.data.flip_horizontal, process_index=pi,
          process_count=pc)
    return pipeline.chain(zoom, flip)

  def _labeled_augmentation(self):
    """Slant, then translation, of the labeled batch only (None: off)."""
    c, pi, pc = self.config, jax.process_index(), jax.process_count()
    shear = shift = None
    if c.data.labeled_shear:
      shear = pipeline.random_shear(c.seed, c.data.labeled_shear,
                                    process_index=pi, process_count=pc)
    if c.data.labeled_shift:
      shift = pipeline.random_shift(c.seed, c.data.labeled_shift,
                                    process_index=pi, process_count=pc)
    return pipeline.chain(shear, shift)

  def _build_streams(self):
    c, pi, pc = self.config, jax.process_index(), jax.process_count()
    transform = self._stream_transform(c.seed)
    self.labeled_stream = pipeline.BatchStream(
        self.data.train, self.labeled_indices, c.batch_size, c.seed * 2 + 1,
        process_index=pi, process_count=pc,
        transform=pipeline.chain(transform, self._labeled_augmentation()))
    self.unlabeled_stream = None
    if c.objective == 'm2':
      source = self.data.unlabeled or self.data.train
      # Its own seed: crops and flips independent of the labeled batch's.
      self.unlabeled_stream = pipeline.BatchStream(
          source, np.arange(source['image'].shape[0]),
          c.unlabeled_batch_size, c.seed * 2 + 2, keys=('image',),
          process_index=pi, process_count=pc,
          transform=self._stream_transform(c.seed * 2 + 2))

  def _host_batches(self, step: int):
    labeled = self.labeled_stream(step)
    unlabeled = (self.unlabeled_stream(step)
                 if self.unlabeled_stream is not None else None)
    return labeled, unlabeled

  def data_state(self, step: int) -> dict[str, Any]:
    return {'step': int(step), 'seed': int(self.config.seed),
            'num_labeled': int(len(self.labeled_indices))}

  # -- steps -----------------------------------------------------------------

  def _build_steps(self):
    c, rep = self.config, sharding.replicated(self.mesh)
    kw = dict(model=self.model, config=c, task=self.task)
    self.init_state = jax.jit(
        functools.partial(create_train_state, c, self.model, self.tx,
                          self.task), out_shardings=rep)
    self.train_step = jax.jit(
        functools.partial(train_step, tx=self.tx, **kw),
        donate_argnums=0, out_shardings=rep)
    self.eval_key = eval_key = eval_noise_key(c)
    self.eval_step = jax.jit(
        functools.partial(eval_step, eval_key=eval_key, **kw),
        out_shardings=rep)
    self.predict_step = jax.jit(
        functools.partial(predict_step, eval_key=eval_key, model=self.model,
                          config=c),
        out_shardings=rep)

  def _put(self, labeled, unlabeled):
    put = functools.partial(sharding.put_batch, mesh=self.mesh)
    return put(labeled), (put(unlabeled) if unlabeled is not None else None)

  # -- evaluation ------------------------------------------------------------

  def _eval_batches(self) -> Iterator[Batch]:
    """The eval split once, in order, in global batches on the mesh."""
    for batch in pipeline.eval_batches(
        self.data.eval, self.config.eval_batch_size,
        process_index=jax.process_index(),
        process_count=jax.process_count()):
      yield sharding.put_batch(batch, self.mesh)

  def predict(self, params) -> np.ndarray:
    """The class q(y|x) gives every eval example, in the split's order:
    [examples] (classification) or [examples, height, width]
    (segmentation); the predictions `evaluate` counts."""
    predicted = np.concatenate([
        jax.device_get(self.predict_step(params, batch))
        for batch in self._eval_batches()])
    # The last global batch is padded; padding comes after the split's end.
    return predicted[:self.data.eval['image'].shape[0]]

  def evaluate(self, params) -> dict[str, Any]:
    """Metrics over the whole eval split (nothing dropped)."""
    totals = None
    for batch in self._eval_batches():
      out = self.eval_step(params, batch)
      totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
    totals = jax.device_get(totals)
    result = {'split': self.data.eval_split,
              'num_examples': int(self.data.eval['image'].shape[0])}
    if self.task.segmentation:
      result.update(metrics_lib.segmentation_scores(totals['confusion']))
    else:
      result.update(metrics_lib.classification_scores(totals['confusion']))
    if 'a_count' in totals:
      result.update(metrics_lib.auxiliary_usage_from_sums(totals))
    return result

  # -- the loop ----------------------------------------------------------------

  def run(self) -> dict[str, Any]:
    c, workdir = self.config, self.workdir
    is_main = jax.process_index() == 0
    state = self.init_state()
    # Everything above could fail on bad input; only now touch the workdir.
    os.makedirs(workdir, exist_ok=True)
    _check_resumable(workdir, c)
    if is_main:
      _write_json_atomic(os.path.join(workdir, 'config.json'),
                         json.loads(c.to_json_best_effort()))
      workdir_lib.write_task(workdir, self.task, self.data.palette)
    manager = checkpointing.create_manager(
        workdir, max_to_keep=c.keep_checkpoints,
        async_save=c.async_checkpointing)
    restored = checkpointing.restore_latest(manager, state)
    start = 0
    if restored is not None:
      state, data_state = restored
      start = int(data_state['step'])
      logging.info('Resuming from the checkpoint at step %d in %s.', start,
                   workdir)
    last_saved = start if restored is not None else None
    writer = metric_writers.create_default_writer(workdir, is_main=is_main,
                                                  start_step=start)
    # Every evaluation in full (confusion matrix, per-class figures): which
    # errors grow when is then readable after the run.
    evals = (metric_writers.JsonlWriter(os.path.join(workdir, 'evals.jsonl'),
                                        start) if is_main
             else metric_writers.NullWriter())
    prefetch = pipeline.Prefetcher(self._host_batches, depth=c.data.prefetch)
    history, pending = [], None
    t_last, step_last = time.perf_counter(), start
    try:
      with _Preemption() as preemption:
        for step in range(start, self.num_train_steps):
          state, metrics = self.train_step(state,
                                           *self._put(*prefetch.fetch(step)))
          # Check the previous step's flag: the device is already busy with
          # this one, so the check never stalls the pipeline.
          if pending is not None:
            self._check_finite(*pending, last_saved)
          pending = (step + 1, metrics)
          history.append(metrics)
          done = step + 1
          if done % c.log_every_steps == 0 or done == self.num_train_steps:
            self._check_finite(*pending, last_saved)
            pending = None
            scalars = _summarize(history)
            history = []
            now = time.perf_counter()
            rate = (done - step_last) / max(now - t_last, 1e-9)
            t_last, step_last = now, done
            scalars['steps_per_sec'] = rate
            writer.write_scalars(done, {f'train_{k}': v
                                        for k, v in scalars.items()})
            writer.flush()
            logging.info('%s', _progress_line(done, self.num_train_steps,
                                              scalars, rate))
          if (c.eval_every_steps and done % c.eval_every_steps == 0
              and done != self.num_train_steps):
            self._report_eval(writer, evals, done,
                              self.evaluate_state(state), state.eval_params)
          preempted = preemption.requested(done)
          if done % c.checkpoint_every_steps == 0 or preempted:
            if pending is not None:  # Never save a state that went bad.
              self._check_finite(*pending, last_saved)
              pending = None
            checkpointing.save(manager, done, state, self.data_state(done))
            last_saved = done
          if preempted:
            manager.wait_until_finished()
            logging.warning('SIGTERM: saved the checkpoint of step %d in %s; '
                            'run the same command again to resume.', done,
                            workdir)
            return {'preempted': True, 'step': done}
      if pending is not None:
        self._check_finite(*pending, last_saved)
      final = int(jax.device_get(state.step))
      if last_saved != final:
        checkpointing.save(manager, final, state, self.data_state(final))
      manager.wait_until_finished()
      result = self.evaluate_state(state)
      result['step'] = final
      if is_main:
        _write_json_atomic(os.path.join(workdir, 'eval.json'), result)
      self._report_eval(writer, evals, final, result, state.eval_params)
      return result
    finally:
      prefetch.close()
      manager.wait_until_finished()
      manager.close()
      writer.close()
      evals.close()

  def evaluate_state(self, state: TrainState) -> dict[str, Any]:
    """evaluate() on state.eval_params; with a moving average, the raw
    iterate's figures go beside its own as raw_* (e.g. raw_accuracy)."""
    result = self.evaluate(state.eval_params)
    if state.ema_params is not None:
      raw = self.evaluate(state.params)
      result.update({f'raw_{k}': v for k, v in raw.items()
                     if isinstance(v, float)})
    return result

  def _check_finite(self, step: int, metrics: Metrics, last_saved) -> None:
    if float(jax.device_get(metrics['nonfinite'])[0]) == 0.0:
      return
    scalars = _summarize([metrics])
    message = _nonfinite_message(step, scalars, self.workdir, last_saved)
    if not self.config.skip_nonfinite_steps:
      raise TrainingDiverged(message)
    logging.warning('Skipped: %s', message)

  def _report_eval(self, writer, evals, step: int, result: dict[str, Any],
                   params) -> None:
    """Logs eval metrics (the scalars to `writer`, all of `result` to
    `evals`) and, on process 0, writes the figures."""
    scalars = {f'eval_{k}': v for k, v in result.items()
               if isinstance(v, float)}
    writer.write_scalars(step, scalars)
    writer.flush()
    evals.write_record(step, {k: v for k, v in result.items() if k != 'step'})
    evals.flush()
    line = ', '.join(f'{k} {v:.4f}' for k, v in scalars.items())
    if 'confusion' in result:
      line += '; largest errors true->predicted: ' + (', '.join(
          f'{t}->{p} {n}' for n, t, p in metrics_lib.largest_errors(
              result['confusion'], 3)) or 'none')
    logging.info('eval at step %d on %s: %s', step, result['split'], line)
    if self.config.figures and jax.process_index() == 0:
      self.write_figures(params, writer, step)
      if 'confusion' in result:
        self.write_confusion(result['confusion'], writer, step)

  def write_confusion(self, confusion, writer, step: int) -> None:
    """confusion.png: the eval confusion matrix (classification)."""
    from PIL import Image  # pylint: disable=g-import-not-at-top

    from m2vae_jax import figures  # pylint: disable=g-import-not-at-top
    image = figures.confusion_image(
        confusion, f'{self.data.eval_split}, step {step}')
    Image.fromarray(image).save(os.path.join(self.workdir, 'confusion.png'))
    writer.write_images(step, {'confusion': image})

  def write_figures(self, params, writer, step: int) -> None:
    """analogies.png (classification M2) or segmentation.png."""
    from m2vae_jax import figures  # pylint: disable=g-import-not-at-top
    c, data = self.config, self.data.eval
    if not isinstance(self.model, m2_lib.M2):
      return  # The figures below read the M2 networks.
    m2 = c.objective == 'm2'
    # Examples spread over the eval split (CamVid's are video: neighbours
    # look alike), fed as evaluation feeds them.
    n = len(data['image'])
    index = np.unique(np.linspace(
        0, n - 1, min(6 if self.task.segmentation else 10, n)).astype(int))
    rows = {'image': data['image'][index], 'label': data['label'][index],
            'index': index.astype(np.int32)}
    x, nets = eval_inputs(rows, c, self.eval_key), networks(self.model,
                                                            params, c)
    if self.task.segmentation:
      grid = figures.segmentation_grid(
          nets, x, rows['label'],
          palettes.voc() if self.data.palette is None else self.data.palette,
          likelihood=c.likelihood, reconstruct=m2)
      titles = ['image', 'true mask', 'predicted'] + (
          ['reconstruction'] if m2 else [])
      name = 'segmentation'
      figures.save_grid(grid, os.path.join(self.workdir, f'{name}.png'),
                        titles, f'{self.data.eval_split}, step {step}')
    elif m2:
      grid = figures.analogy_grid(nets, x, self.task.num_classes,
                                  likelihood=c.likelihood)
      name = 'analogies'
      figures.save_analogies(grid, os.path.join(self.workdir, f'{name}.png'))
    else:
      return
    writer.write_images(step, {name: figures.grid_to_image(grid)})


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, Any]:
  """Trains (resuming from `workdir` if it holds a checkpoint), evaluates on
  the whole eval split and writes `workdir/eval.json`.

  Returns:
    The eval results, or {'preempted': True, 'step': n} after SIGTERM.
  """
  return Trainer(config, workdir).run()


class QuietLibraries(std_logging.Filter):
  """Keeps the progress lines readable: libraries' INFO chatter (orbax logs
  a dozen lines per checkpoint) is dropped, their warnings are kept."""

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING
            or not any(f'/{lib}/' in record.pathname
                       for lib in ('orbax', 'tensorflow_datasets', 'jax')))


@contextlib.contextmanager
def user_errors_as_one_line():
  """In a command: a problem the user can fix ends the process with one
  line on stderr (exit status 2), without a traceback."""
  try:
    yield
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def run_from_command_line(config: ml_collections.ConfigDict,
                          workdir: str) -> None:
  """`train_and_evaluate` as a command runs it: readable logs and
  `user_errors_as_one_line`."""
  logging.get_absl_handler().addFilter(QuietLibraries())
  with user_errors_as_one_line():
    result = train_and_evaluate(config, workdir)
  logging.info('Done: %s', result)
