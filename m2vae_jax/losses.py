"""The M2 objective as pure functions: no Flax, no configs, per-example values.

Equation numbers refer to Zammit, "A Fully Convolutional M2 Variational
Autoencoder for Semi-Supervised Semantic Segmentation" (the paper), which
follows Kingma et al. (2014), "Semi-Supervised Learning with Deep Generative
Models".

Every function returns one value per example (the leading axis) and sums over
all other axes; the caller reduces over the batch. Losses are *negative*
bounds, to be minimised:

  L(x, y) = -E_q(z|x,y)[log p(x|y,z) + log p(y) + log p(z) - log q(z|x,y)]
  U(x)    = -E_q(y,z|x)[log p(x|y,z) + log p(y) + log p(z)
                        - log q(y|x) - log q(z|x,y)]
  J^alpha = sum_lab L + alpha * sum_lab -log q(y|x) + sum_unlab U     (eq. 7)

Networks come in as plain callables, so the functions work with any model:

  encode(x, y) -> (mean, log_var)  or a distrax distribution over z
  decode(y, z) -> Bernoulli logits of x  or a distrax distribution over x

Two kinds of target y are supported (`target=`):

  'categorical'  y is one class per example (MNIST: logits [batch, classes]),
                 or per pixel ([batch, height, width, classes]); one-hot y.
  'bernoulli'    y is a multivariate Bernoulli over classes (the paper's
                 segmentation target, Section 3): every class of every pixel
                 is an independent binary variable; y is a {0,1} vector.
"""

from collections.abc import Callable
import math
import sys
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array
Encoder = Callable[[Array, Array], Any]
Decoder = Callable[[Array, Array], Any]

TARGETS = ('categorical', 'bernoulli')
ESTIMATORS = ('enumerate', 'gumbel', 'straight_through')
KL_MODES = ('analytic', 'sample')
ENTROPY_MODES = ('analytic', 'sample')
BOUNDS = ('elbo', 'iwae')
LIKELIHOODS = ('bernoulli', 'continuous_bernoulli', 'gaussian', 'logistic')
# Likelihoods whose decoder gives two maps per value: (mean, log-scale).
TWO_PARAMETER_LIKELIHOODS = ('gaussian', 'logistic')
PIXEL_LEVELS = 256
LOG_2PI = math.log(2.0 * math.pi)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
  """Raises ValueError unless `value` is one of `allowed`."""
  if value not in allowed:
    raise ValueError(f'{name} must be one of {allowed}, got {value!r}')


def sum_per_example(values: ArrayLike, mask: ArrayLike | None = None) -> Array:
  """Sums every axis but the leading one, optionally weighting by a mask.

  Args:
    values: [batch, ...].
    mask: broadcastable to `values` from the left, e.g. [batch, height, width]
      for values [batch, height, width, channels]; 0 drops an entry.

  Returns:
    [batch].

  Example:
    >>> mask = jnp.array([[1, 1, 0], [1, 0, 0]])
    >>> losses.sum_per_example(jnp.ones((2, 3, 4)), mask)
    Array([8., 4.], dtype=float32)
  """
  values = jnp.asarray(values)
  if mask is not None:
    mask = jnp.asarray(mask, values.dtype)
    mask = mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim))
    values = values * mask
  return jnp.sum(values, axis=tuple(range(1, values.ndim)))


# ----------------------------------------------------------------------------
# Gaussian latent z: p(z) = N(0, I), q(z|x,y) = N(mean, diag(exp(log_var))).
# ----------------------------------------------------------------------------


def gaussian_log_prob(z: ArrayLike, mean: ArrayLike,
                      log_var: ArrayLike) -> Array:
  """log N(z; mean, diag(exp(log_var))), summed per example.

  Args:
    z, mean, log_var: [batch, ...] (same shape).

  Returns:
    [batch].

  Example:
    >>> z = jnp.zeros((1, 2))
    >>> round(float(losses.gaussian_log_prob(z, z, z)[0]), 4)  # -log(2 pi)
    -1.8379
  """
  z, mean, log_var = map(jnp.asarray, (z, mean, log_var))
  sq = jnp.square(z - mean) * jnp.exp(-log_var)
  return sum_per_example(-0.5 * (LOG_2PI + log_var + sq))


def standard_normal_log_prob(z: ArrayLike) -> Array:
  """log N(z; 0, I) summed per example. z: [batch, ...] -> [batch].

  Example:
    >>> round(float(losses.standard_normal_log_prob(jnp.zeros((1, 2)))[0]), 4)
    -1.8379
  """
  z = jnp.asarray(z)
  return sum_per_example(-0.5 * (LOG_2PI + jnp.square(z)))


def gaussian_kl_to_standard(mean: ArrayLike, log_var: ArrayLike) -> Array:
  """KL(N(mean, diag(exp(log_var))) || N(0, I)) in closed form, per example.

  KL = 1/2 sum(exp(log_var) + mean^2 - 1 - log_var)  (Kingma & Welling 2014,
  appendix B).

  Args:
    mean, log_var: [batch, ...].

  Returns:
    [batch].

  Example:
    >>> losses.gaussian_kl_to_standard(jnp.array([[0., 1.]]), jnp.zeros((1, 2)))
    Array([0.5], dtype=float32)
  """
  mean, log_var = jnp.asarray(mean), jnp.asarray(log_var)
  return sum_per_example(
      0.5 * (jnp.exp(log_var) + jnp.square(mean) - 1.0 - log_var))


def sample_gaussian(key: Array, mean: ArrayLike, log_var: ArrayLike) -> Array:
  """Reparameterised sample z = mean + exp(log_var / 2) * eps, eps ~ N(0, I).

  Example:
    >>> z = losses.sample_gaussian(jax.random.key(0), jnp.zeros((4, 3)),
    ...                            jnp.zeros((4, 3)))
    >>> z.shape
    (4, 3)
  """
  mean, log_var = jnp.asarray(mean), jnp.asarray(log_var)
  eps = jax.random.normal(key, mean.shape, mean.dtype)
  return mean + jnp.exp(0.5 * log_var) * eps


def _is_distrax(obj: Any) -> bool:
  """Whether obj is a distrax distribution, without importing distrax (it
  pulls in TensorFlow Probability): only a user who imported it can pass
  one."""
  distrax = sys.modules.get('distrax')
  return distrax is not None and isinstance(obj, distrax.Distribution)


class _Posterior:
  """q(z|x,y) given as (mean, log_var) or as a distrax distribution."""

  def __init__(self, out: Any):
    self.dist = out if _is_distrax(out) else None
    if self.dist is None:
      self.mean, self.log_var = (jnp.asarray(o) for o in out)

  def sample(self, key: Array) -> Array:
    if self.dist is not None:
      return self.dist.sample(seed=key)
    return sample_gaussian(key, self.mean, self.log_var)

  def log_prob(self, z: Array) -> Array:
    if self.dist is not None:
      return sum_per_example(self.dist.log_prob(z))
    return gaussian_log_prob(z, self.mean, self.log_var)

  def kl_to_standard(self) -> Array:
    if self.dist is None:
      return gaussian_kl_to_standard(self.mean, self.log_var)
    if not _is_diagonal_gaussian(self.dist):
      raise ValueError("kl='analytic' needs a diagonal Gaussian q(z|x,y) "
                       f'(got {type(self.dist).__name__}); use kl=\'sample\'')
    log_var = 2.0 * jnp.log(self.dist.stddev())
    return gaussian_kl_to_standard(self.dist.mean(), log_var)


def _is_diagonal_gaussian(dist) -> bool:
  distrax = sys.modules['distrax']
  if isinstance(dist, distrax.Independent):
    dist = dist.distribution
  return isinstance(dist, distrax.Normal | distrax.MultivariateNormalDiag)


# ----------------------------------------------------------------------------
# Likelihood p(x|y,z).
# ----------------------------------------------------------------------------


def bernoulli_log_likelihood(logits: ArrayLike, x: ArrayLike,
                             mask: ArrayLike | None = None) -> Array:
  """log Bern(x; sigmoid(logits)) summed per example (eq. 8, 12).

  Written as x * l - softplus(l), which is exact for x in [0, 1] and stable
  for large |l|.

  Args:
    logits: [batch, ...].
    x: [batch, ...] binary (or in [0, 1]) pixels, same shape.
    mask: optional, broadcastable from the left; 0 drops a pixel.

  Returns:
    [batch].

  Example:
    >>> x = jnp.array([[0., 1.]])
    >>> print(np.round(losses.bernoulli_log_likelihood(jnp.zeros((1, 2)), x),
    ...                4))  # 2 log(1/2)
    [-1.3863]
  """
  x, logits = jnp.asarray(x, jnp.result_type(float)), jnp.asarray(logits)
  return sum_per_example(x * logits - jax.nn.softplus(logits), mask)


def continuous_bernoulli_log_likelihood(logits: ArrayLike,
                                        x: ArrayLike) -> Array:
  """log CB(x; sigmoid(logits)) summed per example, for x in [0, 1].

  The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019) is the Bernoulli
  density made proper on [0, 1]: log p = x l - softplus(l) + log C(l), with
  normaliser C(l) = l / tanh(l / 2) (C(0) = 2). It models raw intensities
  without binarizing them (the paper blames binarized RGB for part of its
  weak VOC result).

  Args:
    logits: [batch, ...].
    x: [batch, ...] intensities in [0, 1], same shape.

  Returns:
    [batch].

  Example:
    >>> # At logits 0 the density is uniform on [0, 1]: log 1 = 0 per pixel.
    >>> print(np.round(losses.continuous_bernoulli_log_likelihood(
    ...     jnp.zeros((1, 2)), jnp.array([[0.3, 0.9]])), 4))
    [0.]
  """
  x, logits = jnp.asarray(x, jnp.result_type(float)), jnp.asarray(logits)
  small = jnp.abs(logits) < 1e-3
  safe = jnp.where(small, 1.0, logits)  # Keeps the unused branch finite.
  # l / tanh(l / 2) > 0 for l != 0; its series near 0 is 2 + l^2 / 6.
  log_c = jnp.where(small, math.log(2.0) + jnp.square(logits) / 12.0,
                    jnp.log(safe / jnp.tanh(safe / 2.0)))
  return sum_per_example(x * logits - jax.nn.softplus(logits) + log_c)


def discretized_logistic_log_likelihood(x: ArrayLike, mean: ArrayLike,
                                        log_scale: ArrayLike,
                                        levels: int = PIXEL_LEVELS) -> Array:
  """log P(x) of 8-bit pixel values under a discretized logistic, summed per
  example (Salimans et al. 2017, PixelCNN++, one component).

  x = k / (levels - 1) takes the logistic's mass over its bin [x - h,
  x + h], h = 1 / (2 (levels - 1)); the end bins take the tails (all mass
  below 0 goes to k = 0, above 1 to the last level), so the probabilities
  of the `levels` values sum to one. A proper likelihood of raw
  intensities, which the paper names as what a Bernoulli on binarized RGB
  gives up.

  Args:
    x: [batch, ...] intensities k / (levels - 1) in [0, 1].
    mean: [batch, ...] location of the logistic, same shape.
    log_scale: [batch, ...] log of its scale s.
    levels: values a pixel takes (256 for uint8).

  Returns:
    [batch].

  Example:
    >>> x = jnp.arange(256.)[:, None] / 255  # each 8-bit value, one a row
    >>> log_p = losses.discretized_logistic_log_likelihood(
    ...     x, jnp.full_like(x, 0.4), jnp.full_like(x, -3.))
    >>> print(np.round(float(jnp.exp(log_p).sum()), 4))  # sums to one
    1.0
  """
  x, mean, log_scale = map(jnp.asarray, (x, mean, log_scale))
  half = 0.5 / (levels - 1)
  inv_s = jnp.exp(-log_scale)
  plus = inv_s * (x + half - mean)
  minus = inv_s * (x - half - mean)
  log_cdf_plus = plus - jax.nn.softplus(plus)          # log sigmoid(plus)
  log_survival_minus = -jax.nn.softplus(minus)         # log 1 - sigmoid(minus)
  delta = jax.nn.sigmoid(plus) - jax.nn.sigmoid(minus)
  # Far out in a tail the difference of two sigmoids underflows: use the
  # density at the bin's centre times its width there.
  centre = inv_s * (x - mean)
  log_density = centre - log_scale - 2.0 * jax.nn.softplus(centre)
  log_mid = jnp.where(delta > 1e-5, jnp.log(jnp.maximum(delta, 1e-12)),
                      log_density + math.log(2 * half))
  log_p = jnp.where(x < half, log_cdf_plus,
                    jnp.where(x > 1.0 - half, log_survival_minus, log_mid))
  return sum_per_example(log_p)


def likelihood_mean(decoded: Any, likelihood: str) -> Array:
  """E[x] under p(x|y,z) given the decoder's output (for reconstructions).

  Args:
    decoded: what the decoder returns for `likelihood` (logits, or a
      (mean, log-scale) pair), or a distrax distribution.
    likelihood: one of LIKELIHOODS.

  Returns:
    [batch, ...], the expected pixel values (in [0, 1] for image
    likelihoods).

  Example:
    >>> losses.likelihood_mean(jnp.array([[0., 100.]]), 'bernoulli')
    Array([[0.5, 1. ]], dtype=float32)
  """
  if _is_distrax(decoded):
    return decoded.mean()
  if likelihood in TWO_PARAMETER_LIKELIHOODS:
    mean = decoded[0]
    return jnp.clip(mean, 0.0, 1.0) if likelihood == 'logistic' else mean
  logits = jnp.asarray(decoded)
  if likelihood == 'bernoulli':
    return jax.nn.sigmoid(logits)
  # Continuous Bernoulli, density ~ exp(l x) on [0, 1]: the mean is
  # 1 / (1 - exp(-l)) - 1 / l, 1/2 + l / 12 near l = 0.
  small = jnp.abs(logits) < 1e-3
  safe = jnp.where(small, 1.0, logits)
  return jnp.where(small, 0.5 + logits / 12.0,
                   -1.0 / jnp.expm1(-safe) - 1.0 / safe)


def _log_likelihood(x: Array, decoded: Any, likelihood: str) -> Array:
  if _is_distrax(decoded):
    return sum_per_example(decoded.log_prob(x))
  if likelihood == 'continuous_bernoulli':
    return continuous_bernoulli_log_likelihood(decoded, x)
  if likelihood == 'gaussian':
    return gaussian_log_prob(x, *decoded)
  if likelihood == 'logistic':
    return discretized_logistic_log_likelihood(x, *decoded)
  return bernoulli_log_likelihood(decoded, x)


# ----------------------------------------------------------------------------
# The target y: categorical or multivariate Bernoulli.
# ----------------------------------------------------------------------------


def _check_target(target: str) -> None:
  _check_choice('target', target, TARGETS)


def one_hot_target(labels: ArrayLike, num_classes: int) -> Array:
  """Class indices -> the y fed to the networks.

  Void labels (outside [0, num_classes), e.g. 255) map to all-zero vectors,
  which the networks read as "no class given".

  Args:
    labels: int [batch, ...].

  Returns:
    float [batch, ..., num_classes].

  Example:
    >>> losses.one_hot_target(jnp.array([0, 2, 255]), 3)  # void -> zeros
    Array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]], dtype=float32)
  """
  return jax.nn.one_hot(labels, num_classes)


def target_entropy(logits: ArrayLike, target: str = 'categorical',
                   mask: ArrayLike | None = None) -> Array:
  """Analytic entropy H(q(y|x)) per example.

  Args:
    logits: [batch, ..., classes].
    target: 'categorical' (softmax over the last axis) or 'bernoulli' (an
      independent sigmoid per entry).
    mask: optional [batch, ...] (no class axis).

  Returns:
    [batch].

  Example:
    >>> print(np.round(losses.target_entropy(jnp.zeros((1, 4))), 4))  # log 4
    [1.3863]
  """
  _check_target(target)
  logits = jnp.asarray(logits)
  if target == 'categorical':
    log_p = jax.nn.log_softmax(logits)
    ent = -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)
  else:
    p = jax.nn.sigmoid(logits)
    # H = softplus(l) - p * l, the stable form of -p log p - (1-p) log(1-p).
    ent = jnp.sum(jax.nn.softplus(logits) - p * logits, axis=-1)
  return sum_per_example(ent, mask)


def target_log_prob(logits: ArrayLike, y: ArrayLike,
                    target: str = 'categorical',
                    mask: ArrayLike | None = None) -> Array:
  """log q(y|x) of a (possibly relaxed) target vector y, per example.

  For a relaxed y this is the categorical / Bernoulli log-mass evaluated at
  the soft vector (sum_k y_k log pi_k), the usual single-sample surrogate for
  log q(y|x) in eq. (11).

  Args:
    logits: [batch, ..., classes].
    y: [batch, ..., classes] in [0, 1].
    target: 'categorical' or 'bernoulli'.
    mask: optional [batch, ...].

  Returns:
    [batch].

  Example:
    >>> print(np.round(losses.target_log_prob(jnp.zeros((1, 4)),
    ...                                       jnp.eye(4)[:1]), 4))  # -log 4
    [-1.3863]
  """
  _check_target(target)
  y, logits = jnp.asarray(y), jnp.asarray(logits)
  if target == 'categorical':
    lp = jnp.sum(y * jax.nn.log_softmax(logits), axis=-1)
  else:
    lp = jnp.sum(y * logits - jax.nn.softplus(logits), axis=-1)
  return sum_per_example(lp, mask)


def uniform_log_prior(shape: tuple[int, ...], target: str = 'categorical',
                      mask: ArrayLike | None = None) -> Array:
  """log p(y) under the uniform prior, per example.

  Categorical: -log(classes) per categorical variable (Section 2.1).
  Bernoulli: -classes * log 2 per pixel, i.e. p(y) = 2^-(W H Y) (Section 3).

  Args:
    shape: shape of the logits, [batch, ..., classes].
    target: 'categorical' or 'bernoulli'.
    mask: optional [batch, ...]; void pixels carry no prior term.

  Returns:
    [batch].

  Example:
    >>> print(np.round(losses.uniform_log_prior((2, 10)), 4))
    [-2.3026 -2.3026]
  """
  _check_target(target)
  k = shape[-1]
  per_var = -math.log(k) if target == 'categorical' else -k * math.log(2.0)
  return sum_per_example(jnp.full(shape[:-1], per_var), mask)


def classification_loss(logits: ArrayLike, labels: ArrayLike,
                        target: str = 'categorical',
                        mask: ArrayLike | None = None) -> Array:
  """-log q(y|x) of the true labels, per example (the alpha term of eq. 7).

  For target='bernoulli' this is the per-pixel binary cross-entropy of every
  class against the one-hot label (the paper's segmentation baseline loss).

  Args:
    logits: [batch, ..., classes].
    labels: int [batch, ...]; entries outside [0, classes) (void, 255) are
      dropped, as are entries where `mask` is 0.
    target: 'categorical' or 'bernoulli'.
    mask: optional [batch, ...].

  Returns:
    [batch].

  Example:
    >>> logits = jnp.zeros((1, 2, 2, 3))          # one 2x2 image, 3 classes
    >>> labels = jnp.array([[[0, 1], [2, 255]]])  # 255: void, dropped
    >>> # Three pixels at p = 1/3: 3 log 3.
    >>> print(np.round(losses.classification_loss(logits, labels), 4))
    [3.2958]
  """
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  k = logits.shape[-1]
  valid = (labels >= 0) & (labels < k)
  if mask is not None:
    valid = valid & (jnp.asarray(mask) > 0)
  y = one_hot_target(labels, k)
  return -target_log_prob(logits, y, target, valid)


def marginal_kl(logits: ArrayLike, log_prior: ArrayLike | None = None) -> Array:
  """KL(q(y) || p(y)) of the batch's aggregate class distribution, a scalar.

  q(y) = mean over the batch of q(y|x). Averaged over the data, the class
  term of the unlabeled bound, E_x KL(q(y|x) || p(y)), is the mutual
  information between x and y plus exactly this KL (Hoffman & Johnson 2016,
  "ELBO surgery"). Adding it again with a weight lambda > 0 penalises a
  classifier whose predicted class frequencies stray from p(y), e.g. one
  that files a share of one class under another, without touching how
  confident each single prediction is. A batch-level term, not per
  example: the aggregate is what it constrains.

  Args:
    logits: [batch, classes] of q(y|x) (categorical).
    log_prior: [classes] log p(y); None for the uniform prior.

  Returns:
    [] (nats).

  Example:
    >>> # Two confident predictions of different classes: the aggregate is
    >>> # uniform, so no penalty; both of one class: log 2.
    >>> apart = jnp.array([[9., -9.], [-9., 9.]])
    >>> alike = jnp.array([[9., -9.], [9., -9.]])
    >>> print(np.round(losses.marginal_kl(apart), 4))
    0.0
    >>> print(np.round(losses.marginal_kl(alike), 3))
    0.693
  """
  logits = jnp.asarray(logits)
  if logits.ndim != 2:
    raise ValueError('marginal_kl needs one categorical y per example, '
                     f'logits [batch, classes]; got shape {logits.shape}')
  k = logits.shape[-1]
  # log of the mean of the probabilities, computed in log space.
  log_q = (jax.scipy.special.logsumexp(jax.nn.log_softmax(logits), axis=0)
           - math.log(logits.shape[0]))
  if log_prior is None:
    log_prior = jnp.full((k,), -math.log(k))
  return jnp.sum(jnp.exp(log_q) * (log_q - jnp.asarray(log_prior)))


def gumbel_softmax_sample(key: Array, logits: ArrayLike, temperature: float,
                          hard: bool = False) -> Array:
  """Relaxed one-hot sample (Jang et al. 2016; Maddison et al. 2016).

  y = softmax((logits + g) / temperature), g ~ Gumbel(0, 1). With hard=True
  the forward value is the one-hot argmax and the gradient is that of the
  soft sample (straight-through).

  Args:
    key: PRNG key.
    logits: [batch, ..., classes].
    temperature: > 0.
    hard: straight-through.

  Returns:
    [batch, ..., classes].

  Example:
    >>> y = losses.gumbel_softmax_sample(jax.random.key(0), jnp.zeros((2, 5)),
    ...                                  0.5)
    >>> y.shape, bool(jnp.allclose(y.sum(-1), 1.))
    ((2, 5), True)
  """
  logits = jnp.asarray(logits)
  g = jax.random.gumbel(key, logits.shape, logits.dtype)
  soft = jax.nn.softmax((logits + g) / temperature, axis=-1)
  if not hard:
    return soft
  one_hot = jax.nn.one_hot(jnp.argmax(soft, -1), logits.shape[-1],
                           dtype=soft.dtype)
  return soft + jax.lax.stop_gradient(one_hot - soft)


def binary_concrete_sample(key: Array, logits: ArrayLike, temperature: float,
                           hard: bool = False) -> Array:
  """Relaxed Bernoulli sample, one per entry (the binary Concrete).

  y = sigmoid((logits + log u - log(1 - u)) / temperature), u ~ U(0, 1);
  hard=True rounds forward and keeps the soft gradient (straight-through).

  Args:
    key: PRNG key.
    logits: [batch, ...].
    temperature: > 0.
    hard: straight-through.

  Returns:
    [batch, ...] in [0, 1].

  Example:
    >>> y = losses.binary_concrete_sample(jax.random.key(0), jnp.zeros((2, 5)),
    ...                                   0.5, hard=True)
    >>> sorted(set(np.asarray(y).ravel().tolist())) in ([0., 1.], [0.], [1.])
    True
  """
  logits = jnp.asarray(logits)
  noise = jax.random.logistic(key, logits.shape, logits.dtype)
  soft = jax.nn.sigmoid((logits + noise) / temperature)
  if not hard:
    return soft
  return soft + jax.lax.stop_gradient(jnp.round(soft) - soft)


def _expectation_over_classes(value_of_y: Callable[[Array], Array],
                              logits: Array) -> Array:
  """sum_k q(k|x) value_of_y(one_hot(k)), per example (eq. 9's sum).

  value_of_y([batch, classes] one-hot) -> [batch] is evaluated for every
  class at once under `jax.vmap`, so the noise it draws is shared by the
  classes.

  Args:
    value_of_y: the per-example value given y.
    logits: [batch, classes] of q(y|x).

  Returns:
    [batch].
  """
  k = logits.shape[-1]
  classes = jnp.broadcast_to(jnp.eye(k, dtype=logits.dtype)[:, None],
                             (k,) + logits.shape)
  values = jax.vmap(value_of_y)(classes)  # [classes, batch]
  return jnp.sum(jax.nn.softmax(logits, axis=-1) * values.T, axis=-1)


def relaxed_target_sample(key: Array, logits: ArrayLike, temperature: float,
                          target: str = 'categorical',
                          hard: bool = False) -> Array:
  """Gumbel-Softmax (categorical) or binary Concrete (bernoulli) sample.

  Example:
    >>> losses.relaxed_target_sample(jax.random.key(0), jnp.zeros((2, 4, 4, 3)),
    ...                              0.5, 'bernoulli').shape
    (2, 4, 4, 3)
  """
  _check_target(target)
  sample = (gumbel_softmax_sample if target == 'categorical'
            else binary_concrete_sample)
  return sample(key, logits, temperature, hard)


# ----------------------------------------------------------------------------
# The bounds.
# ----------------------------------------------------------------------------


def labeled_loss(key: Array, x: ArrayLike, y: ArrayLike, encode: Encoder,
                 decode: Decoder, *, log_prior_y: ArrayLike = 0.0,
                 num_samples: int = 1, kl: str = 'analytic',
                 bound: str = 'elbo', kl_weight: ArrayLike = 1.0,
                 likelihood: str = 'bernoulli') -> Array:
  """L(x, y), the negative labeled bound of eq. (5), estimated as eq. (10).

  bound='elbo':
    L = -E_q(z|x,y)[log p(x|y,z)] + beta KL(q(z|x,y) || p(z)) - log p(y),
    z drawn by reparameterisation, `num_samples` draws averaged (Kingma et
    al. 2014; Section 5 of the paper). kl='sample' uses the single-sample
    estimate log q(z|x,y) - log p(z) of eq. (10) instead of the closed form.
  bound='iwae' (Burda et al. 2015): with S = num_samples draws,
    L = -log (1/S) sum_s p(x|y,z_s) (p(z_s) / q(z_s|x,y))^beta - log p(y),
    which equals the sampled ELBO at S = 1 and tightens as S grows (the
    log-ratio is always sampled: `kl` does not apply).

  beta = `kl_weight` scales the z term for warm-up (Sonderby et al. 2016):
  0 leaves the reconstruction term alone, 1 is the bound.

  Args:
    key: PRNG key.
    x: [batch, ...] data.
    y: [batch, ..., classes] target fed to the networks (one-hot or relaxed).
    encode: (x, y) -> (mean, log_var) or a distrax distribution over z.
    decode: (y, z) -> logits of x, or a distrax distribution.
    log_prior_y: log p(y), scalar or [batch] (see `uniform_log_prior`).
    num_samples: number of z samples.
    kl: 'analytic' or 'sample' (bound='elbo').
    bound: 'elbo' or 'iwae'.
    kl_weight: beta in [0, 1], scalar (may be traced).
    likelihood: what the decoder's output parameterises when it is not a
      distrax distribution: 'bernoulli' logits (binarized pixels, the
      paper), 'continuous_bernoulli' logits (raw intensities in [0, 1]),
      'gaussian' (mean, log_var) (continuous x, e.g. M1 features) or
      'logistic' (mean, log_scale) of a discretized logistic (8-bit
      intensities k / 255).

  Returns:
    [batch].

  Example:
    >>> # A z the decoder ignores: L = -log p(x|y) + KL(q || p) - log p(y).
    >>> encode = lambda x, y: (jnp.zeros((1, 2)), jnp.zeros((1, 2)))
    >>> decode = lambda y, z: jnp.zeros((1, 3))  # p(x_i = 1) = 1/2
    >>> print(np.round(losses.labeled_loss(
    ...     jax.random.key(0), jnp.ones((1, 3)), jnp.eye(2)[:1], encode,
    ...     decode, log_prior_y=-np.log(2)), 4))  # 3 log 2 + 0 + log 2
    [2.7726]
  """
  _check_choice('kl', kl, KL_MODES)
  _check_choice('bound', bound, BOUNDS)
  _check_choice('likelihood', likelihood, LIKELIHOODS)
  x, y = jnp.asarray(x), jnp.asarray(y)
  q = _Posterior(encode(x, y))
  analytic = kl == 'analytic' and bound == 'elbo'

  def one_sample(k):
    z = q.sample(k)
    log_px = _log_likelihood(x, decode(y, z), likelihood)
    if analytic:
      return log_px
    return log_px + kl_weight * (standard_normal_log_prob(z) - q.log_prob(z))

  keys = jax.random.split(key, num_samples)
  per_sample = jax.vmap(one_sample)(keys)  # [num_samples, batch]
  if bound == 'iwae':
    value = (jax.scipy.special.logsumexp(per_sample, axis=0)
             - math.log(num_samples))
  else:
    value = jnp.mean(per_sample, axis=0)
  if analytic:
    value = value - kl_weight * q.kl_to_standard()
  return -(value + log_prior_y)


def unlabeled_loss(key: Array, x: ArrayLike, logits: ArrayLike,
                   encode: Encoder, decode: Decoder, *,
                   estimator: str = 'enumerate', target: str = 'categorical',
                   temperature: float = 1.0, entropy: str = 'analytic',
                   entropy_weight: float = 1.0, num_samples: int = 1,
                   kl: str = 'analytic', bound: str = 'elbo',
                   kl_weight: ArrayLike = 1.0,
                   likelihood: str = 'bernoulli') -> Array:
  """U(x), the negative unlabeled bound of eq. (4).

  estimator='enumerate' (eq. 9; categorical y only) sums over classes
  exactly: U = sum_y q(y|x) L(x, y) - H(q(y|x)). The K classes share the
  same noise for z, and L is evaluated under `jax.vmap` over classes, so a
  network that reads x and y through separate first layers computes its x
  half once per example, not once per class.

  estimator='gumbel' (eq. 11) draws one relaxed y (Gumbel-Softmax or binary
  Concrete at `temperature`); 'straight_through' makes that draw hard in
  the forward pass. U = L(x, y) + log q(y|x), where log q(y|x) is -H(q(y|x))
  in closed form with entropy='analytic', or its value at the drawn y with
  entropy='sample' (the paper's single-sample form).

  Args:
    key: PRNG key.
    x: [batch, ...] data.
    logits: [batch, ..., classes] of q(y|x).
    encode, decode: see `labeled_loss`.
    estimator: 'enumerate', 'gumbel' or 'straight_through'.
    target: 'categorical' or 'bernoulli'.
    temperature: relaxation temperature (gumbel estimators).
    entropy: 'analytic' or 'sample' (gumbel estimators).
    entropy_weight: weight of the log q(y|x) term; 1 is the bound, below 1
      it pulls q(y|x) less towards uniform (docs/camvid.md measures 0 on
      CamVid).
    num_samples, kl, bound, kl_weight, likelihood: the bound given y, as in
      `labeled_loss` ('iwae' importance-weights the z samples of each y).

  Returns:
    [batch].

  Example:
    >>> # With a y the networks ignore, U = L - H(q(y|x)) = 4 log 2 - log 2.
    >>> encode = lambda x, y: (jnp.zeros((1, 2)), jnp.zeros((1, 2)))
    >>> decode = lambda y, z: jnp.zeros((1, 3))
    >>> print(np.round(losses.unlabeled_loss(
    ...     jax.random.key(0), jnp.ones((1, 3)), jnp.zeros((1, 2)), encode,
    ...     decode), 4))
    [2.0794]
  """
  _check_choice('estimator', estimator, ESTIMATORS)
  _check_choice('entropy', entropy, ENTROPY_MODES)
  _check_target(target)
  x, logits = jnp.asarray(x), jnp.asarray(logits)
  log_prior_y = uniform_log_prior(logits.shape, target)
  loss_given_y = lambda k, y: labeled_loss(
      k, x, y, encode, decode, log_prior_y=log_prior_y,
      num_samples=num_samples, kl=kl, bound=bound, kl_weight=kl_weight,
      likelihood=likelihood)

  if estimator == 'enumerate':
    if target != 'categorical' or logits.ndim != 2:
      raise ValueError("estimator='enumerate' needs one categorical y per "
                       f'example, logits [batch, classes]; got {target!r} '
                       f'with logits of shape {logits.shape}')
    return (_expectation_over_classes(lambda y: loss_given_y(key, y), logits)
            - entropy_weight * target_entropy(logits, target))

  key_y, key_z = jax.random.split(key)
  y = relaxed_target_sample(key_y, logits, temperature, target,
                            hard=estimator == 'straight_through')
  if entropy == 'analytic':
    log_q_y = -target_entropy(logits, target)
  else:
    log_q_y = target_log_prob(logits, y, target)
  return loss_given_y(key_z, y) + entropy_weight * log_q_y


# ----------------------------------------------------------------------------
# Auxiliary deep generative models (Maaloe et al. 2016): ADGM and SDGM.
# ----------------------------------------------------------------------------
#
# An auxiliary variable a makes q(y, z | x) richer without changing what the
# model generates:
#
#   inference   q(a|x) q(y|a,x) q(z|a,x,y)
#   ADGM        p(z) p(y) p(x|y,z) p(a|x,y,z)     (a only in the inference)
#   SDGM        p(z) p(y) p(a|y,z) p(x|a,y,z)     (a in the generative path)
#
# The networks come in as callables:
#   infer_a(x) -> (mean, log_var) of q(a|x)
#   classify(a, x) -> logits of q(y|a,x)
#   encode(a, x, y) -> (mean, log_var) of q(z|a,x,y)
#   generate(a, x, y, z) -> (logits of p(x|...), (mean, log_var) of p(a|...))
# so one pair of functions serves both models.


def _auxiliary_log_weight(key: Array, a: Array, x: Array, y: Array,
                          log_q_a: Array, encode: Callable,
                          generate: Callable, log_prior_y: ArrayLike,
                          kl_weight: ArrayLike, likelihood: str) -> Array:
  """log p(x, a, y, z) - log q(a, z | x, y) for one draw of z, the latent
  terms scaled by kl_weight (warm-up). [batch]."""
  mean, log_var = encode(a, x, y)
  z = sample_gaussian(key, mean, log_var)
  x_logits, (a_mean, a_log_var) = generate(a, x, y, z)
  log_px = _log_likelihood(x, x_logits, likelihood)
  latent = (gaussian_log_prob(a, a_mean, a_log_var) - log_q_a
            + standard_normal_log_prob(z)
            - gaussian_log_prob(z, mean, log_var))
  return log_px + kl_weight * latent + log_prior_y


def auxiliary_labeled_loss(key: Array, x: ArrayLike, y: ArrayLike,
                           infer_a: Callable, encode: Callable,
                           generate: Callable, *,
                           log_prior_y: ArrayLike = 0.0,
                           num_samples: int = 1,
                           kl_weight: ArrayLike = 1.0,
                           likelihood: str = 'bernoulli') -> Array:
  """-log p(x, y) bound of an ADGM / SDGM (Maaloe et al. 2016, eq. 5):

  L = -E_q(a|x) q(z|a,x,y)[log p(x,a,y,z) - log q(a|x) - log q(z|a,x,y)],

  `num_samples` draws of (a, z) averaged; kl_weight scales the a and z
  log-ratios (warm-up).

  Args:
    key: PRNG key.
    x: [batch, ...]; y: [batch, classes] one-hot.
    infer_a, encode, generate: the networks (see the section comment).
    log_prior_y: log p(y), scalar or [batch].
    num_samples: draws of (a, z).
    kl_weight: warm-up weight in [0, 1].
    likelihood: 'bernoulli' or 'continuous_bernoulli'.

  Returns:
    [batch].

  Example:
    >>> # a and z matched exactly by their priors, p(x_i = 1) = 1/2:
    >>> # L = 3 log 2 - log p(y) (every sampled log-ratio is 0).
    >>> zeros = lambda *args: (jnp.zeros((1, 2)), jnp.zeros((1, 2)))
    >>> generate = lambda a, x, y, z: (jnp.zeros((1, 3)), zeros())
    >>> print(np.round(losses.auxiliary_labeled_loss(
    ...     jax.random.key(0), jnp.ones((1, 3)), jnp.eye(2)[:1], zeros,
    ...     zeros, generate, log_prior_y=-np.log(2)), 4))
    [2.7726]
  """
  x, y = jnp.asarray(x), jnp.asarray(y)
  a_mean, a_log_var = infer_a(x)

  def one_sample(k):
    k_a, k_z = jax.random.split(k)
    a = sample_gaussian(k_a, a_mean, a_log_var)
    log_q_a = gaussian_log_prob(a, a_mean, a_log_var)
    return _auxiliary_log_weight(k_z, a, x, y, log_q_a, encode, generate,
                                 log_prior_y, kl_weight, likelihood)

  keys = jax.random.split(key, num_samples)
  return -jnp.mean(jax.vmap(one_sample)(keys), axis=0)


def auxiliary_unlabeled_loss(key: Array, x: ArrayLike, infer_a: Callable,
                             classify: Callable, encode: Callable,
                             generate: Callable, *,
                             estimator: str = 'enumerate',
                             temperature: float = 1.0,
                             entropy: str = 'analytic',
                             num_samples: int = 1,
                             kl_weight: ArrayLike = 1.0,
                             likelihood: str = 'bernoulli') -> Array:
  """-log p(x) bound of an ADGM / SDGM with y unobserved (eq. 6 there):

  U = -E_q(a|x)[ E_q(y|a,x) q(z|a,x,y)[log p(x,a,y,z) - log q(a|x)
                 - log q(z|a,x,y)] + H(q(y|a,x)) ],

  y summed exactly ('enumerate', the classes share a's and z's noise) or
  drawn relaxed ('gumbel', 'straight_through') as in `unlabeled_loss`; one
  categorical y per example.

  Returns:
    [batch].

  Example:
    >>> zeros = lambda *args: (jnp.zeros((1, 2)), jnp.zeros((1, 2)))
    >>> generate = lambda a, x, y, z: (jnp.zeros((1, 3)), zeros())
    >>> classify = lambda a, x: jnp.zeros((1, 2))
    >>> print(np.round(losses.auxiliary_unlabeled_loss(
    ...     jax.random.key(0), jnp.ones((1, 3)), zeros, classify, zeros,
    ...     generate), 4))  # 3 log 2 + log 2 - log 2
    [2.0794]
  """
  _check_choice('estimator', estimator, ESTIMATORS)
  _check_choice('entropy', entropy, ENTROPY_MODES)
  x = jnp.asarray(x)
  a_mean, a_log_var = infer_a(x)

  def one_sample(k):
    k_a, k_y, k_z = jax.random.split(k, 3)
    a = sample_gaussian(k_a, a_mean, a_log_var)
    log_q_a = gaussian_log_prob(a, a_mean, a_log_var)
    logits = classify(a, x)
    log_prior = uniform_log_prior(logits.shape)
    weight = lambda y: _auxiliary_log_weight(
        k_z, a, x, y, log_q_a, encode, generate, log_prior, kl_weight,
        likelihood)
    if estimator == 'enumerate':
      return (_expectation_over_classes(weight, logits)
              + target_entropy(logits))
    y = gumbel_softmax_sample(k_y, logits, temperature,
                              hard=estimator == 'straight_through')
    log_q_y = (-target_entropy(logits) if entropy == 'analytic'
               else target_log_prob(logits, y))
    return weight(y) - log_q_y

  keys = jax.random.split(key, num_samples)
  return -jnp.mean(jax.vmap(one_sample)(keys), axis=0)
