"""The objectives the train step minimises, one function per family.

Each takes (params, labeled, unlabeled, key, step) and the keywords model,
config, task and teacher (the moving average of params, or None), and
returns (loss, metrics), metrics being name -> [sum, count].
`models.registry` says which objective a model kind uses, and adds
`with_consistency`'s term when the config asks; the step itself has no
branch on the model.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from m2vae_jax import consistency
from m2vae_jax import losses
from m2vae_jax.models import m2 as m2_lib
from m2vae_jax.task import Task

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]  # name -> [sum, count]


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


def relaxed(config: ml_collections.ConfigDict) -> bool:
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


def valid_pixels(labels: jax.Array, num_classes: int) -> jax.Array:
  return ((labels >= 0) & (labels < num_classes)).astype(jnp.float32)


def _accuracy_stat(logits, labels, task) -> jax.Array:
  pred = jnp.argmax(logits, -1)
  if task.segmentation:
    valid = valid_pixels(labels, task.num_classes)
    return jnp.stack([jnp.sum((pred == labels) * valid), jnp.sum(valid)])
  return jnp.stack([jnp.sum(pred == labels).astype(jnp.float32),
                    jnp.asarray(labels.size, jnp.float32)])


def supervised_objective(params, labeled: Batch, unlabeled: Batch | None,
                         key: jax.Array, step: jax.Array, *, model, config,
                         task: Task, teacher=None):
  """The baselines: cross-entropy of q(y|x) on the labeled batch only."""
  del unlabeled, step, teacher
  x = prepare_inputs(key, labeled['image'], config.data.binarize)
  logits = networks(model, params, config).classify(x)
  ce = losses.classification_loss(logits, labeled['label'], config.target)
  return jnp.mean(ce), {'classification_loss': _stat(ce),
                        'accuracy': _accuracy_stat(
                            logits, labeled['label'], task)}


def m2_objective(params, labeled: Batch, unlabeled: Batch, key: jax.Array,
                 step: jax.Array, *, model, config, task: Task, teacher=None):
  """J^alpha of eq. (7): mean L + mean U + alpha * mean(-log q(y|x))."""
  del teacher
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
  valid = valid_pixels(labels, task.num_classes) if task.segmentation else None
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
  if relaxed(config):
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
                   step: jax.Array, *, model, config, task: Task, teacher=None):
  """M1+M2 (Kingma et al. 2014) in one run: for the first
  `model.m1_steps` steps the M1 VAE learns q(z1|x) on every image; after
  that M2 learns on z1 ~ q(z1|x) (M1 frozen), with a Gaussian p(z1|y,z2).
  """
  del teacher
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
                 ('temperature',) if relaxed(config) else ()) + (
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
                        task: Task, teacher=None):
  """J^alpha for an ADGM / SDGM (Maaloe et al. 2016): the labeled and
  unlabeled bounds with the auxiliary a, and alpha * E_q(a|x)[-log
  q(y|a,x)] on the labeled batch."""
  del teacher
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


def consistency_term(params, unlabeled: Batch, key: jax.Array, *, model,
                     config, teacher=None):
  """The consistency loss of `config.consistency` on the unlabeled batch.

  The teacher (the moving average `teacher` for 'mean_teacher', the
  student's own params for 'pseudo_label') predicts the images as the
  stream gives them; the student predicts them colour-jittered (if
  consistency.colour_jitter > 0) and then CutMixed in pairs, and is held to
  the teacher's predictions mixed with the same boxes.

  Returns:
    (per-example loss [batch], the fraction of confident pixels [batch]).
  """
  c = config.consistency
  k_x, k_boxes, k_jitter = jax.random.split(key, 3)
  x = prepare_inputs(k_x, unlabeled['image'], config.data.binarize)
  teacher_params = teacher if c.kind == 'mean_teacher' else params
  teacher_logits = jax.lax.stop_gradient(
      networks(model, teacher_params, config).classify(x))
  masks = consistency.cutmix_masks(k_boxes, *x.shape[:3],
                                   area=tuple(c.cutmix_area))
  strong = x
  if c.colour_jitter:
    strong = consistency.colour_jitter(k_jitter, strong, c.colour_jitter)
  student_logits = networks(model, params, config).classify(
      consistency.mix(strong, masks))
  target = consistency.mix(teacher_logits, masks)
  loss = consistency.LOSSES[c.kind](student_logits, target, c.threshold)
  kept = consistency.confident(target, c.threshold)
  return loss, jnp.mean(kept, axis=tuple(range(1, kept.ndim)))


def with_consistency(objective):
  """`objective` plus consistency.weight times the mean consistency term
  on the unlabeled batch (its metrics: consistency_loss, confident_pixels)."""

  def combined(params, labeled: Batch, unlabeled: Batch, key: jax.Array,
               step: jax.Array, *, model, config, task: Task, teacher=None):
    k_objective, k_consistency = jax.random.split(key)
    loss, metrics = objective(params, labeled, unlabeled, k_objective, step,
                              model=model, config=config, task=task,
                              teacher=teacher)
    term, kept = consistency_term(params, unlabeled, k_consistency,
                                  model=model, config=config,
                                  teacher=teacher)
    metrics = dict(metrics, consistency_loss=_stat(term),
                   confident_pixels=_stat(kept))
    return loss + config.consistency.weight * jnp.mean(term), metrics

  return combined
