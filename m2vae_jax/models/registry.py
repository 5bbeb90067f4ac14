"""One spec per model kind: how to build it, its parameters' first inputs,
its objective, its optimizer and what evaluation adds for it.

Adding a model kind is one entry in SPECS; the trainer, the step and the
evaluator read the spec and never branch on the kind.
"""

from collections.abc import Callable
import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from m2vae_jax import metrics as metrics_lib
from m2vae_jax import objectives
from m2vae_jax.models import auxiliary
from m2vae_jax.models import m1m2
from m2vae_jax.models import m2 as m2_lib
from m2vae_jax.models import mlp
from m2vae_jax.models import segmentation
from m2vae_jax.task import Task

Config = ml_collections.ConfigDict
AdamFactory = Callable[[Any], optax.GradientTransformation]


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
      norm=cfg.norm, max_repeats=cfg.max_block_repeats)
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


def _dummy_inputs(task: Task) -> tuple[jax.Array, jax.Array]:
  """A one-example x and y, to create parameters."""
  x = jnp.zeros((1, *task.image_shape), jnp.float32)
  y_shape = ((1, *task.image_shape[:2], task.num_classes) if task.segmentation
             else (1, task.num_classes))
  return x, jnp.zeros(y_shape, jnp.float32)


def _init_m2(model, config: Config, key, x, y):
  mean, _ = jax.eval_shape(
      lambda: model.init_with_output(key, x, y, method='encode')[0])
  del config
  return model.init(key, x, y, jnp.zeros(mean.shape, mean.dtype))


def _init_auxiliary(model, config: Config, key, x, y):
  a = jnp.zeros((1, config.model.aux_dim), jnp.float32)
  z = jnp.zeros((1, config.model.latent_dim), jnp.float32)
  return model.init(key, x, y, z, a)


def _init_m1m2(model, config: Config, key, x, y):
  del config
  return model.init(key, x, y)


def _one_adam(adam: AdamFactory, lr, config: Config):
  del config
  return adam(lr)


def _phased_adam(adam: AdamFactory, lr,
                 config: Config) -> optax.GradientTransformation:
  """M1+M2: the M1 networks learn only before `m1_steps`, the M2 networks
  only after (a zero rate also stops Adam's momentum from moving them)."""
  m1_steps = config.model.m1_steps
  base = lr if callable(lr) else (lambda step, lr=lr: lr)
  m1_rate = lambda step: jnp.where(step < m1_steps, base(step), 0.0)
  m2_rate = lambda step: jnp.where(step < m1_steps, 0.0,
                                   base(step - m1_steps))
  labels = lambda params: jax.tree_util.tree_map_with_path(
      lambda path, _: 'm1' if str(path[1].key).startswith('m1_') else 'm2',
      params)
  return optax.multi_transform({'m1': adam(m1_rate), 'm2': adam(m2_rate)},
                               labels)


def _auxiliary_usage(nets, x, valid):
  # An a that collapses (the same q(a|x) for every image, ignored by the
  # classifier) turns an ADGM into an M2: show it beside the accuracy.
  return metrics_lib.auxiliary_usage(x, nets.infer_a, nets.classify_given_a,
                                     valid)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A model kind.

  build(config, task) -> the Flax module.
  init(model, config, key, x, y) -> its parameters for objective 'm2'
    (x, y: one example; the supervised baseline initialises the classifier
    alone).
  objective: the objective of config.objective='m2' (see `objectives`).
  optimizer(adam, lr, config) -> the optimizer, adam(rate) making one Adam.
  eval_sums(networks, x, valid) -> extra sums an eval batch adds (None: none).
  draws_m2_figures: the eval figures read classify/encode/decode networks.
  """

  build: Callable[[Config, Task], nn.Module]
  init: Callable[..., Any]
  objective: Callable[..., Any]
  optimizer: Callable[..., optax.GradientTransformation] = _one_adam
  eval_sums: Callable[..., dict[str, jax.Array]] | None = None
  draws_m2_figures: bool = False


SPECS: dict[str, ModelSpec] = {
    'mlp': ModelSpec(_mlp_m2, _init_m2, objectives.m2_objective,
                     draws_m2_figures=True),
    'deeplab': ModelSpec(_deeplab_m2, _init_m2, objectives.m2_objective,
                         draws_m2_figures=True),
    'm1m2': ModelSpec(_m1m2, _init_m1m2, objectives.m1m2_objective,
                      optimizer=_phased_adam),
    'adgm': ModelSpec(_auxiliary(skip=False), _init_auxiliary,
                      objectives.auxiliary_objective,
                      eval_sums=_auxiliary_usage),
    'sdgm': ModelSpec(_auxiliary(skip=True), _init_auxiliary,
                      objectives.auxiliary_objective,
                      eval_sums=_auxiliary_usage),
}


OBJECTIVES = ('supervised', 'm2')


def spec(config: Config) -> ModelSpec:
  """The spec of `config.model.name`."""
  return SPECS[config.model.name]


def create_model(config: Config, task: Task) -> nn.Module:
  """The model named by `config.model.name`."""
  return spec(config).build(config, task)


def init_params(config: Config, model: nn.Module, task: Task, key: jax.Array):
  """Parameters of the networks the objective uses (classifier only for
  the supervised baseline)."""
  x, y = _dummy_inputs(task)
  if config.objective == 'supervised':
    return model.init(key, x, method='classify')
  return spec(config).init(model, config, key, x, y)


def objective(config: Config):
  """The function the train step differentiates: the config's objective,
  plus the consistency term of `config.consistency` if one is on."""
  if config.objective == 'supervised':
    base = objectives.supervised_objective
  else:
    base = spec(config).objective
  if config.consistency.kind == 'none':
    return base
  return objectives.with_consistency(base)
