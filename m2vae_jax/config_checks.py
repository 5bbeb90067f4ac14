"""Checks of a config that run before anything is written: each raises
ConfigError naming the first field the trainer cannot use."""

import ml_collections

from m2vae_jax import consistency
from m2vae_jax import default_config
from m2vae_jax import losses
from m2vae_jax import sharding
from m2vae_jax.errors import ConfigError
from m2vae_jax.models import mlp
from m2vae_jax.models import normalization
from m2vae_jax.models import registry
from m2vae_jax.task import Task


def validate_config(config: ml_collections.ConfigDict, mesh) -> None:
  """Raises ConfigError naming the first field the trainer cannot use."""
  choices = {
      'objective': registry.OBJECTIVES, 'estimator': losses.ESTIMATORS,
      'target': losses.TARGETS, 'kl': losses.KL_MODES,
      'entropy': losses.ENTROPY_MODES, 'model.name': tuple(registry.SPECS),
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
  if config.model.max_block_repeats < 0:
    raise ConfigError('model.max_block_repeats='
                      f'{config.model.max_block_repeats} must be >= 0 (0: '
                      'every MobileNetV2 block)')
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
  _check_consistency(config.consistency, config.ema_decay)
  sharding.check_batch_size('batch_size', config.batch_size, mesh)
  sharding.check_batch_size('eval_batch_size', config.eval_batch_size, mesh)
  if default_config.uses_unlabeled(config):
    sharding.check_batch_size('unlabeled_batch_size',
                              config.unlabeled_batch_size, mesh)
  for name in ('log_every_steps', 'checkpoint_every_steps'):
    if flat[name] <= 0:
      raise ConfigError(f'{name}={flat[name]} must be > 0')


def _check_consistency(c: ml_collections.ConfigDict,
                       ema_decay: float) -> None:
  if c.kind not in consistency.KINDS:
    raise ConfigError(f'consistency.kind={c.kind!r} is not one of '
                      f'{", ".join(map(repr, consistency.KINDS))}')
  if c.kind == 'mean_teacher' and ema_decay <= 0:
    raise ConfigError("consistency.kind='mean_teacher' takes its teacher "
                      'from the moving average of the parameters: set '
                      'ema_decay > 0 (e.g. 0.99)')
  if c.weight < 0:
    raise ConfigError(f'consistency.weight={c.weight} must be >= 0')
  if not 0 <= c.threshold < 1:
    raise ConfigError(f'consistency.threshold={c.threshold} must be in '
                      '[0, 1) (0: every pixel counts)')
  low, high = c.cutmix_area
  if not 0 < low <= high <= 1:
    raise ConfigError(f'consistency.cutmix_area={tuple(c.cutmix_area)} must '
                      'be (low, high) with 0 < low <= high <= 1')
  if not 0 <= c.colour_jitter < 1:
    raise ConfigError(f'consistency.colour_jitter={c.colour_jitter} must be '
                      'in [0, 1) (0: off)')


def validate_for_task(config: ml_collections.ConfigDict, task: Task) -> None:
  """The checks that need the data set's task."""
  if config.marginal_weight and (task.segmentation
                                 or config.target != 'categorical'):
    raise ConfigError('marginal_weight constrains the class frequencies of '
                      'one categorical y per image; set it to 0 for '
                      'segmentation')
  if config.consistency.kind != 'none' and not task.segmentation:
    raise ConfigError(f'consistency.kind={config.consistency.kind!r} mixes '
                      'the pixels of two images (CutMix): it applies to '
                      "segmentation; set consistency.kind='none'")
  if config.estimator == 'enumerate' and config.objective == 'm2' and (
      task.segmentation or config.target != 'categorical'):
    raise ConfigError("estimator='enumerate' sums over the classes of one "
                      'categorical y per image; for segmentation use '
                      "'gumbel' or 'straight_through'")
