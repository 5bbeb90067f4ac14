"""losses.py against closed forms and brute-force enumeration.

The toy model used throughout has a closed-form evidence: with K classes,
p(z) = N(0, I), p(x|y,z) = N(x; z + M y, I), p(y) uniform,

  p(x|y) = N(x; M y, 2 I),   p(z|x,y) = N((x - M y) / 2, I / 2),

so with the exact posterior as q(z|x,y), every single-sample estimate of
the labeled bound equals log p(x, y), and with the exact q(y|x) the
unlabeled bound equals log p(x).
"""

import doctest
import inspect
import math

import distrax
import jax
import jax.numpy as jnp
from jax.test_util import check_grads
import numpy as np
import optax
import pytest
from scipy import stats

from m2vae_jax import losses

K, D, B = 3, 4, 5  # classes, dims of x and z, batch


@pytest.fixture(name='toy')
def toy_fixture():
  rng = np.random.default_rng(0)
  m = jnp.asarray(rng.normal(size=(K, D)) * 2.0, jnp.float32)
  x = jnp.asarray(rng.normal(size=(B, D)) * 2.0, jnp.float32)

  def decode(y, z):
    return distrax.Normal(z + y @ m, 1.0)

  def encode_exact(x_, y):
    mean = (x_ - y @ m) / 2.0
    return mean, jnp.full_like(mean, math.log(0.5))

  def log_joint(x_, k):
    """log p(x, y=k) in closed form, [batch]."""
    lp = stats.multivariate_normal(np.asarray(m[k]), 2.0 * np.eye(D))
    return lp.logpdf(np.asarray(x_)) - math.log(K)

  log_p_xy = np.stack([log_joint(x, k) for k in range(K)], -1)  # [B, K]
  log_p_x = jax.scipy.special.logsumexp(log_p_xy, axis=-1)
  return dict(m=m, x=x, decode=decode, encode_exact=encode_exact,
              log_p_xy=jnp.asarray(log_p_xy, jnp.float32),
              log_p_x=np.asarray(log_p_x))


# ----------------------------------------------------------------------------
# Elementary terms.
# ----------------------------------------------------------------------------


def test_gaussian_log_prob_matches_scipy():
  rng = np.random.default_rng(1)
  z, mean, log_var = (rng.normal(size=(B, 3, 2)) for _ in range(3))
  expected = stats.norm(mean, np.exp(0.5 * log_var)).logpdf(z).sum((1, 2))
  got = losses.gaussian_log_prob(z, mean, log_var)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  np.testing.assert_allclose(losses.standard_normal_log_prob(z),
                             stats.norm().logpdf(z).sum((1, 2)), rtol=1e-5)


def test_kl_closed_form_and_monte_carlo():
  mean = jnp.array([[0.0, 0.0], [1.0, -2.0]])
  log_var = jnp.array([[0.0, 0.0], [math.log(4.0), math.log(0.25)]])
  kl = losses.gaussian_kl_to_standard(mean, log_var)
  # By hand: 1/2 (4 + 1 - 1 - log 4) + 1/2 (1/4 + 4 - 1 - log 1/4).
  by_hand = 0.5 * (4 - math.log(4)) + 0.5 * (3.25 + math.log(4))
  np.testing.assert_allclose(kl, [0.0, by_hand], rtol=1e-6)
  z = jax.vmap(lambda k: losses.sample_gaussian(k, mean, log_var))(
      jax.random.split(jax.random.key(0), 200_000))
  mc = jnp.mean(jax.vmap(lambda s: losses.gaussian_log_prob(s, mean, log_var)
                         - losses.standard_normal_log_prob(s))(z), 0)
  np.testing.assert_allclose(mc, kl, atol=0.02)


def test_sample_gaussian_moments_and_reparameterisation():
  mean, log_var = jnp.array([[1.5]]), jnp.array([[math.log(9.0)]])
  z = jax.vmap(lambda k: losses.sample_gaussian(k, mean, log_var))(
      jax.random.split(jax.random.key(1), 100_000))
  np.testing.assert_allclose(jnp.mean(z), 1.5, atol=0.03)
  np.testing.assert_allclose(jnp.std(z), 3.0, atol=0.03)
  # d z / d mean = 1 for every sample: the draw is reparameterised.
  grad = jax.grad(lambda m: losses.sample_gaussian(
      jax.random.key(2), m, log_var).sum())(mean)
  np.testing.assert_allclose(grad, 1.0)


def test_bernoulli_log_likelihood_matches_numpy_and_is_stable():
  x = np.array([[1.0, 0.0, 1.0, 0.0]])
  logits = np.array([[2.0, -1.0, -300.0, 300.0]])
  p = 1 / (1 + np.exp(-logits[:, :2]))
  expected_first_two = np.sum(x[:, :2] * np.log(p)
                              + (1 - x[:, :2]) * np.log(1 - p))
  got = losses.bernoulli_log_likelihood(logits, x)
  np.testing.assert_allclose(got, expected_first_two - 600.0, rtol=1e-6)
  masked = losses.bernoulli_log_likelihood(logits, x,
                                           mask=np.array([[1, 1, 0, 0]]))
  np.testing.assert_allclose(masked, expected_first_two, rtol=1e-6)


def test_entropies_by_brute_force():
  logits = jnp.array([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])
  p = jax.nn.softmax(logits)
  np.testing.assert_allclose(losses.target_entropy(logits),
                             -jnp.sum(p * jnp.log(p), -1), rtol=1e-6)
  q = jax.nn.sigmoid(logits)
  binary = -jnp.sum(q * jnp.log(q) + (1 - q) * jnp.log(1 - q), -1)
  np.testing.assert_allclose(losses.target_entropy(logits, 'bernoulli'),
                             binary, rtol=1e-5)


def test_uniform_log_prior_values_and_mask():
  np.testing.assert_allclose(losses.uniform_log_prior((2, 10)),
                             [-math.log(10)] * 2, rtol=1e-6)
  # Bernoulli per pixel: 2^-(W H Y) (Section 3), void pixels excluded.
  mask = np.ones((1, 2, 3))
  mask[0, 0, 0] = 0
  np.testing.assert_allclose(
      losses.uniform_log_prior((1, 2, 3, 21), 'bernoulli', mask),
      [-5 * 21 * math.log(2)], rtol=1e-6)


def test_classification_loss_matches_optax_and_masks_void():
  rng = np.random.default_rng(2)
  logits = jnp.asarray(rng.normal(size=(2, 4, 4, 5)), jnp.float32)
  labels = rng.integers(0, 5, size=(2, 4, 4))
  labels[0, 0, :] = 255
  valid = labels != 255
  ce = optax.softmax_cross_entropy_with_integer_labels(
      logits, np.where(valid, labels, 0))
  np.testing.assert_allclose(losses.classification_loss(logits, labels),
                             jnp.sum(ce * valid, (1, 2)), rtol=1e-5)
  onehot = jax.nn.one_hot(np.where(valid, labels, 0), 5)
  bce = optax.sigmoid_binary_cross_entropy(logits, onehot).sum(-1)
  np.testing.assert_allclose(
      losses.classification_loss(logits, labels, 'bernoulli'),
      jnp.sum(bce * valid, (1, 2)), rtol=1e-5)
  # An explicit mask drops pixels too.
  mask = np.ones((2, 4, 4))
  mask[1] = 0
  got = losses.classification_loss(logits, labels, mask=mask)
  np.testing.assert_allclose(got[1], 0.0)


@pytest.mark.parametrize('hard', [False, True])
def test_relaxed_samples_have_the_right_marginals(hard):
  logits = jnp.log(jnp.array([[0.2, 0.5, 0.3]]))
  keys = jax.random.split(jax.random.key(3), 40_000)
  cat = jax.vmap(lambda k: losses.gumbel_softmax_sample(k, logits, 0.01,
                                                        hard))(keys)
  np.testing.assert_allclose(jnp.mean(cat, 0)[0], [0.2, 0.5, 0.3], atol=0.01)
  np.testing.assert_allclose(jnp.sum(cat, -1), 1.0, rtol=1e-5)
  bern_logits = jnp.array([[math.log(0.25 / 0.75), 0.0]])
  bern = jax.vmap(lambda k: losses.binary_concrete_sample(
      k, bern_logits, 0.01, hard))(keys)
  np.testing.assert_allclose(jnp.mean(bern, 0)[0], [0.25, 0.5], atol=0.01)
  if hard:
    assert set(np.unique(np.asarray(cat))) <= {0.0, 1.0}
    assert set(np.unique(np.asarray(bern))) <= {0.0, 1.0}


def test_straight_through_gradient_is_the_soft_gradient():
  logits = jnp.array([[0.1, 0.4, -0.3]])
  w = jnp.array([1.0, 2.0, 3.0])
  for sample in (losses.gumbel_softmax_sample, losses.binary_concrete_sample):
    def total(lg, hard, sample=sample):
      return jnp.sum(w * sample(jax.random.key(4), lg, 0.7, hard))
    soft = jax.grad(lambda lg: total(lg, False))
    hard = jax.grad(lambda lg: total(lg, True))
    np.testing.assert_allclose(hard(logits), soft(logits), rtol=1e-6)


# ----------------------------------------------------------------------------
# The bounds on the toy model.
# ----------------------------------------------------------------------------


def _one_hot(k):
  return jnp.broadcast_to(jax.nn.one_hot(k, K), (B, K))


def test_labeled_loss_with_exact_posterior_is_minus_log_joint(toy):
  for k in range(K):
    got = losses.labeled_loss(
        jax.random.key(k), toy['x'], _one_hot(k), toy['encode_exact'],
        toy['decode'], log_prior_y=-math.log(K), kl='sample')
    np.testing.assert_allclose(got, -toy['log_p_xy'][:, k], rtol=1e-4)


def test_labeled_loss_analytic_kl_matches_closed_form(toy):
  """With any Gaussian q, E_q[log p(x|y,z)] has a closed form here."""
  rng = np.random.default_rng(5)
  q_mean = jnp.asarray(rng.normal(size=(B, D)), jnp.float32)
  q_log_var = jnp.asarray(rng.normal(size=(B, D)) * 0.3, jnp.float32)
  y = _one_hot(1)
  mu_x = q_mean + y @ toy['m']
  expected_log_px = jnp.sum(-0.5 * (math.log(2 * math.pi)
                                    + (toy['x'] - mu_x) ** 2
                                    + jnp.exp(q_log_var)), -1)
  expected = (-expected_log_px
              + losses.gaussian_kl_to_standard(q_mean, q_log_var)
              + math.log(K))
  encode = lambda x, y: (q_mean, q_log_var)
  for kl in ('analytic', 'sample'):
    got = losses.labeled_loss(jax.random.key(6), toy['x'], y, encode,
                              toy['decode'], log_prior_y=-math.log(K),
                              num_samples=50_000, kl=kl)
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=0.02)


def test_enumerated_unlabeled_loss_is_minus_log_evidence(toy):
  logits = toy['log_p_xy']  # softmax of log p(x, y) is the exact q(y|x).
  got = losses.unlabeled_loss(jax.random.key(7), toy['x'], logits,
                              toy['encode_exact'], toy['decode'],
                              estimator='enumerate', kl='sample')
  np.testing.assert_allclose(got, -toy['log_p_x'], rtol=1e-4)


def test_enumeration_equals_explicit_sum_over_classes(toy):
  """Brute force: sum_y q(y|x) (L(x,y) + log q(y|x)) with a loop."""
  rng = np.random.default_rng(8)
  logits = jnp.asarray(rng.normal(size=(B, K)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(K, D)), jnp.float32)
  encode = lambda x, y: (0.3 * x + y @ w, jnp.tanh(x) + y @ w * 0.1)
  key = jax.random.key(9)
  got = losses.unlabeled_loss(key, toy['x'], logits, encode, toy['decode'],
                              estimator='enumerate', num_samples=3)
  log_q = jax.nn.log_softmax(logits)
  brute = 0.0
  for k in range(K):
    lk = losses.labeled_loss(key, toy['x'], _one_hot(k), encode,
                             toy['decode'], log_prior_y=-math.log(K),
                             num_samples=3)
    brute = brute + jnp.exp(log_q[:, k]) * (lk + log_q[:, k])
  np.testing.assert_allclose(got, brute, rtol=1e-5)
  # Any q(y|x) gives a bound: U(x) >= -log p(x) with the exact q(z|x,y).
  bound = losses.unlabeled_loss(key, toy['x'], logits, toy['encode_exact'],
                                toy['decode'], kl='sample')
  assert np.all(np.asarray(bound) >= -toy['log_p_x'] - 1e-4)



@pytest.mark.parametrize('estimator', ['enumerate', 'gumbel'])
def test_entropy_weight_scales_only_the_log_q_term(toy, estimator):
  """U_w = U_1 + (1 - w) H(q): the z bound is untouched."""
  rng = np.random.default_rng(15)
  logits = jnp.asarray(rng.normal(size=(B, K)), jnp.float32)
  common = dict(encode=toy['encode_exact'], decode=toy['decode'],
                estimator=estimator, temperature=0.7)
  key = jax.random.key(16)
  full = losses.unlabeled_loss(key, toy['x'], logits, **common)
  entropy = -jnp.sum(jax.nn.softmax(logits) * jax.nn.log_softmax(logits), -1)
  for w in (0.0, 0.25):
    got = losses.unlabeled_loss(key, toy['x'], logits, entropy_weight=w,
                                **common)
    np.testing.assert_allclose(got, full + (1 - w) * entropy, rtol=1e-5,
                               atol=1e-4)

def _mean_over_draws(fn, n):
  return jnp.mean(jax.vmap(fn)(jax.random.split(jax.random.key(10), n)), 0)


def test_gumbel_estimate_approaches_enumeration_as_temperature_falls(toy):
  rng = np.random.default_rng(11)
  logits = jnp.asarray(rng.normal(size=(B, K)), jnp.float32)
  common = dict(encode=toy['encode_exact'], decode=toy['decode'],
                kl='sample')
  exact = losses.unlabeled_loss(jax.random.key(0), toy['x'], logits,
                                estimator='enumerate', **common)
  errors = []
  for tau in (2.0, 0.5, 0.05):
    est = _mean_over_draws(lambda k, tau=tau: losses.unlabeled_loss(
        k, toy['x'], logits, estimator='gumbel', temperature=tau, **common),
                           20_000)
    errors.append(float(jnp.max(jnp.abs(est - exact))))
  assert errors[0] > errors[1] > errors[2], errors
  assert errors[2] < 0.05 * float(jnp.max(jnp.abs(exact))), errors


@pytest.mark.parametrize('entropy', ['analytic', 'sample'])
def test_straight_through_is_unbiased_at_any_temperature(toy, entropy):
  """Hard forward draws are exact samples of q(y|x), whatever tau is."""
  rng = np.random.default_rng(12)
  logits = jnp.asarray(rng.normal(size=(B, K)), jnp.float32)
  common = dict(encode=toy['encode_exact'], decode=toy['decode'],
                kl='sample')
  exact = losses.unlabeled_loss(jax.random.key(0), toy['x'], logits,
                                estimator='enumerate', **common)
  est = _mean_over_draws(lambda k: losses.unlabeled_loss(
      k, toy['x'], logits, estimator='straight_through', temperature=2.0,
      entropy=entropy, **common), 40_000)
  np.testing.assert_allclose(est, exact, rtol=0.01, atol=0.05)


def test_bernoulli_target_gumbel_runs_per_pixel():
  """The segmentation case: y per pixel and class, void-free unlabeled."""
  rng = np.random.default_rng(13)
  x = jnp.asarray(rng.random((2, 4, 6, 3)) < 0.5, jnp.float32)
  logits = jnp.asarray(rng.normal(size=(2, 4, 6, 5)), jnp.float32)
  encode = lambda x, y: (jnp.concatenate([x, y], -1)[..., :2] * 0.1,
                         jnp.zeros((*x.shape[:3], 2)))
  decode = lambda y, z: jnp.sum(y, -1, keepdims=True) + z[..., :1]
  u = losses.unlabeled_loss(jax.random.key(14), x, logits, encode, decode,
                            estimator='gumbel', target='bernoulli',
                            temperature=0.5)
  assert u.shape == (2,)
  assert np.all(np.isfinite(u))
  with pytest.raises(ValueError, match='enumerate'):
    losses.unlabeled_loss(jax.random.key(14), x, logits, encode, decode,
                          estimator='enumerate', target='bernoulli')


def test_num_samples_averages_single_sample_estimates(toy):
  encode = lambda x, y: (0.5 * x, jnp.full_like(x, -1.0))
  y = _one_hot(0)
  key = jax.random.key(16)
  many = losses.labeled_loss(key, toy['x'], y, encode, toy['decode'],
                             num_samples=4)
  # labeled_loss draws sample i with jax.random.split(key, 4)[i].
  by_hand = np.mean([_single_with_key(k, toy, encode, y)
                     for k in jax.random.split(key, 4)], 0)
  np.testing.assert_allclose(many, by_hand, rtol=1e-5)


def _single_with_key(k, toy, encode, y):
  """One draw with exactly key k (bypassing labeled_loss's own split)."""
  mean, log_var = encode(toy['x'], y)
  z = losses.sample_gaussian(k, mean, log_var)
  log_px = jnp.sum(toy['decode'](y, z).log_prob(toy['x']), -1)
  return -(log_px - losses.gaussian_kl_to_standard(mean, log_var))


def test_distrax_inputs_match_arrays(toy):
  rng = np.random.default_rng(17)
  mean = jnp.asarray(rng.normal(size=(B, D)), jnp.float32)
  log_var = jnp.asarray(rng.normal(size=(B, D)) * 0.2, jnp.float32)
  logits = jnp.asarray(rng.normal(size=(B, D)), jnp.float32)
  x = jnp.asarray(rng.random((B, D)) < 0.5, jnp.float32)
  y = _one_hot(2)
  key = jax.random.key(18)
  std = jnp.exp(0.5 * log_var)
  reference = losses.labeled_loss(key, x, y, lambda *_: (mean, log_var),
                                  lambda *_: logits)
  for q in (distrax.Normal(mean, std),
            distrax.MultivariateNormalDiag(mean, std),
            distrax.Independent(distrax.Normal(mean, std), 1)):
    for p in (logits, distrax.Bernoulli(logits=logits),
              distrax.Independent(distrax.Bernoulli(logits=logits), 1)):
      got = losses.labeled_loss(key, x, y, lambda *_, q=q: q,
                                lambda *_, p=p: p)
      np.testing.assert_allclose(got, reference, rtol=1e-5)


def test_bad_names_raise_clear_errors(toy):
  args = (jax.random.key(0), toy['x'], jnp.zeros((B, K)), toy['encode_exact'],
          toy['decode'])
  with pytest.raises(ValueError, match="estimator must be one of"):
    losses.unlabeled_loss(*args, estimator='sum')
  with pytest.raises(ValueError, match="target must be one of"):
    losses.unlabeled_loss(*args, target='poisson')
  with pytest.raises(ValueError, match="kl must be one of"):
    losses.labeled_loss(*args[:2], jnp.zeros((B, K)), *args[3:], kl='exact')


# ----------------------------------------------------------------------------
# Gradients, jit and vmap.
# ----------------------------------------------------------------------------


def _toy_networks(params):
  """Small smooth networks whose parameters check_grads perturbs."""
  def encode(x, y):
    h = jnp.tanh(x @ params['ex'] + y @ params['ey'])
    return h @ params['em'], h @ params['ev']

  def decode(y, z):
    return jnp.tanh(z @ params['dz'] + y @ params['dy']) @ params['do']

  return encode, decode


def _toy_params(dtype):
  rng = np.random.default_rng(19)
  shapes = dict(ex=(D, 6), ey=(K, 6), em=(6, 2), ev=(6, 2), dz=(2, 6),
                dy=(K, 6), do=(6, D), cls=(D, K))
  return {k: jnp.asarray(rng.normal(size=s) * 0.5, dtype)
          for k, s in shapes.items()}


@pytest.mark.parametrize('estimator', ['enumerate', 'gumbel'])
def test_check_grads_of_the_bounds(estimator):
  with jax.enable_x64(True):
    params = _toy_params(jnp.float64)
    rng = np.random.default_rng(20)
    x = jnp.asarray(rng.random((B, D)) < 0.5, jnp.float64)
    labels = jnp.asarray(rng.integers(0, K, B))
    key = jax.random.key(21)

    def objective(p):
      encode, decode = _toy_networks(p)
      logits = x @ p['cls']
      lab = losses.labeled_loss(key, x, jax.nn.one_hot(labels, K), encode,
                                decode, num_samples=2)
      unl = losses.unlabeled_loss(key, x, logits, encode, decode,
                                  estimator=estimator, temperature=0.7)
      ce = losses.classification_loss(logits, labels)
      return jnp.sum(lab) + jnp.sum(unl) + 10.0 * jnp.sum(ce)

    check_grads(objective, (params,), order=1, modes=['rev'], atol=1e-4,
                rtol=1e-4)
    logits = jnp.asarray(rng.normal(size=(B, 3, 3, K)))
    check_grads(lambda lg: losses.target_entropy(lg, 'bernoulli').sum(),
                (logits,), order=2, modes=['rev'])
    check_grads(lambda m, v: losses.gaussian_kl_to_standard(m, v).sum(),
                (logits, logits * 0.3), order=2, modes=['rev'])


def test_jit_and_vmap_give_the_same_values(toy):
  params = _toy_params(jnp.float32)
  encode, decode = _toy_networks(params)
  x = (toy['x'] > 0).astype(jnp.float32)
  logits = x @ params['cls']

  def u(key, x_, logits_):
    return losses.unlabeled_loss(key, x_, logits_, encode, decode,
                                 estimator='gumbel', temperature=0.5)

  key = jax.random.key(22)
  eager = u(key, x, logits)
  np.testing.assert_allclose(jax.jit(u)(key, x, logits), eager, rtol=1e-5)
  # vmap over examples: each "batch" of one gives that example's value only
  # if the noise is shared, so compare against per-example calls instead.
  keys = jax.random.split(key, B)
  per = jax.vmap(lambda k, xi, li: u(k, xi[None], li[None])[0])(
      keys, x, logits)
  loop = jnp.stack([u(keys[i], x[i:i + 1], logits[i:i + 1])[0]
                    for i in range(B)])
  np.testing.assert_allclose(per, loop, rtol=1e-5)


# ----------------------------------------------------------------------------
# Beyond the paper: IWAE, warm-up, raw-intensity likelihood.
# ----------------------------------------------------------------------------


def test_iwae_with_one_sample_is_the_sampled_elbo(toy):
  encode = lambda x, y: (0.3 * x, jnp.full_like(x, -0.5))
  y = _one_hot(1)
  key = jax.random.key(30)
  elbo = losses.labeled_loss(key, toy['x'], y, encode, toy['decode'],
                             kl='sample')
  iwae = losses.labeled_loss(key, toy['x'], y, encode, toy['decode'],
                             bound='iwae', num_samples=1)
  np.testing.assert_allclose(iwae, elbo, rtol=1e-6)


def test_iwae_tightens_with_samples_towards_log_joint(toy):
  """A poor q(z|x,y): the bound rises with K and stays below log p(x,y)."""
  encode = lambda x, y: (jnp.zeros_like(x), jnp.zeros_like(x))  # the prior
  y = _one_hot(0)
  exact = -toy['log_p_xy'][:, 0]
  means = []
  for k in (1, 5, 50, 500):
    draws = jax.vmap(lambda key, k=k: losses.labeled_loss(
        key, toy['x'], y, encode, toy['decode'], log_prior_y=-math.log(K),
        bound='iwae', num_samples=k))(jax.random.split(jax.random.key(31),
                                                       200))
    means.append(np.asarray(jnp.mean(draws, 0)))
  for loose, tight in zip(means[:-1], means[1:]):
    assert np.all(tight < loose)
  assert np.all(means[-1] > exact - 0.05)  # A bound: never below -log p.
  # With the exact posterior every K gives -log p(x, y) exactly.
  for k in (1, 7):
    got = losses.labeled_loss(jax.random.key(32), toy['x'], y,
                              toy['encode_exact'], toy['decode'],
                              log_prior_y=-math.log(K), bound='iwae',
                              num_samples=k)
    np.testing.assert_allclose(got, exact, rtol=1e-4)


def test_unlabeled_iwae_is_a_tighter_bound(toy):
  logits = jnp.zeros((B, K))
  encode = lambda x, y: (jnp.zeros_like(x), jnp.zeros_like(x))
  common = dict(encode=encode, decode=toy['decode'])
  keys = jax.random.split(jax.random.key(33), 100)
  elbo = jax.vmap(lambda k: losses.unlabeled_loss(
      k, toy['x'], logits, kl='sample', **common))(keys).mean(0)
  iwae = jax.vmap(lambda k: losses.unlabeled_loss(
      k, toy['x'], logits, bound='iwae', num_samples=20, **common))(
          keys).mean(0)
  assert np.all(iwae < elbo)
  assert np.all(iwae > -toy['log_p_x'] - 0.05)


def test_warm_up_at_zero_removes_exactly_the_kl_term(toy):
  rng = np.random.default_rng(34)
  mean = jnp.asarray(rng.normal(size=(B, D)), jnp.float32)
  log_var = jnp.asarray(rng.normal(size=(B, D)) * 0.3, jnp.float32)
  encode = lambda x, y: (mean, log_var)
  y = _one_hot(2)
  key = jax.random.key(35)
  kl = losses.gaussian_kl_to_standard(mean, log_var)
  full = losses.labeled_loss(key, toy['x'], y, encode, toy['decode'])
  for beta in (0.0, 0.25):
    warm = losses.labeled_loss(key, toy['x'], y, encode, toy['decode'],
                               kl_weight=beta)
    np.testing.assert_allclose(warm, full - (1 - beta) * kl, rtol=1e-5)
  # The same for the sampled log-ratio.
  full_s = losses.labeled_loss(key, toy['x'], y, encode, toy['decode'],
                               kl='sample')
  z = losses.sample_gaussian(jax.random.split(key, 1)[0], mean, log_var)
  log_ratio = (losses.gaussian_log_prob(z, mean, log_var)
               - losses.standard_normal_log_prob(z))
  warm_s = losses.labeled_loss(key, toy['x'], y, encode, toy['decode'],
                               kl='sample', kl_weight=0.0)
  np.testing.assert_allclose(warm_s, full_s - log_ratio, rtol=1e-5)


def test_continuous_bernoulli_is_a_normalised_density():
  grid = (np.arange(20_000) + 0.5) / 20_000  # midpoint rule on [0, 1]
  for logit in (-30.0, -4.0, -1e-4, 0.0, 2e-4, 0.7, 9.0):
    x = jnp.asarray(grid[:, None], jnp.float32)
    log_p = losses.continuous_bernoulli_log_likelihood(
        jnp.full_like(x, logit), x)
    np.testing.assert_allclose(np.mean(np.exp(np.asarray(log_p, np.float64))),
                               1.0, rtol=2e-3)
  # Accurate on both sides of the small-logit switch (float64 reference),
  # with finite gradients.
  f = lambda lg: losses.continuous_bernoulli_log_likelihood(
      lg, jnp.array([[0.3]]))[0]
  for lg in (0.9e-3, 1.1e-3, 0.2, -3.0):
    ref = 0.3 * lg - np.log1p(np.exp(lg)) + np.log(lg / np.tanh(lg / 2))
    np.testing.assert_allclose(f(jnp.array([[lg]])), ref, atol=5e-7)
  grads = jax.vmap(jax.grad(lambda lg: f(lg[None, None])))(
      jnp.array([-1.0, -1e-4, 0.0, 1e-4, 1.0]))
  assert np.all(np.isfinite(grads))
  with jax.enable_x64(True):
    check_grads(lambda lg: losses.continuous_bernoulli_log_likelihood(
        lg, jnp.array([[0.2, 0.9]], jnp.float64)).sum(),
                (jnp.array([[0.5, -2.0]], jnp.float64),), order=2,
                modes=['rev'])


def test_discretized_logistic_sums_to_one_over_the_256_levels():
  levels = jnp.arange(256, dtype=jnp.float32)[:, None] / 255.0  # [256, 1]
  for mean, log_scale in ((0.5, -2.0), (0.02, -6.0), (1.3, -1.0),
                          (-0.4, 0.5), (0.7, -9.0)):
    log_p = losses.discretized_logistic_log_likelihood(
        levels, jnp.full_like(levels, mean), jnp.full_like(levels, log_scale))
    np.testing.assert_allclose(
        np.sum(np.exp(np.asarray(log_p, np.float64))), 1.0, rtol=2e-4)
  # One inner level by its definition: the logistic's mass over its bin.
  cdf = lambda v: 1.0 / (1.0 + np.exp(-(v - 0.4) / 0.05))
  want = np.log(cdf(100.5 / 255) - cdf(99.5 / 255))
  got = losses.discretized_logistic_log_likelihood(
      jnp.array([[100 / 255]]), jnp.array([[0.4]]),
      jnp.array([[np.log(0.05)]]))
  np.testing.assert_allclose(got, [want], rtol=1e-5)
  with jax.enable_x64(True):
    check_grads(lambda m, s: losses.discretized_logistic_log_likelihood(
        jnp.array([[0.0, 0.3, 1.0]], jnp.float64), m, s).sum(),
                (jnp.array([[0.1, 0.35, 0.8]], jnp.float64),
                 jnp.array([[-2.0, -3.0, -1.0]], jnp.float64)),
                order=1, modes=['rev'])


@pytest.mark.parametrize('likelihood', losses.LIKELIHOODS)
def test_likelihood_mean_is_the_expected_pixel(likelihood):
  rng = np.random.default_rng(3)
  a = jnp.asarray(rng.normal(size=(2, 3)) * 3, jnp.float32)
  if likelihood in losses.TWO_PARAMETER_LIKELIHOODS:
    mean = jax.nn.sigmoid(a)
    decoded = (mean, jnp.full_like(a, -8.0))
    want = mean  # a narrow logistic / Gaussian inside [0, 1]
  elif likelihood == 'bernoulli':
    decoded, want = a, jax.nn.sigmoid(a)
  else:  # The continuous Bernoulli's density is ~ exp(a x) on [0, 1].
    grid = ((np.arange(20_000) + 0.5) / 20_000)[:, None, None]
    weights = np.exp(np.asarray(a, np.float64)[None] * grid)
    want = np.mean(grid * weights, 0) / np.mean(weights, 0)
    decoded = a
  np.testing.assert_allclose(losses.likelihood_mean(decoded, likelihood),
                             want, rtol=1e-3, atol=1e-4)


# ----------------------------------------------------------------------------
# Auxiliary models: with p(a|...) = q(a|x) the a terms cancel exactly, so on
# the toy model the bounds equal log p(x, y) and log p(x) again.
# ----------------------------------------------------------------------------


def _aux_networks(toy, exact=True):
  rng = np.random.default_rng(40)
  wa = jnp.asarray(rng.normal(size=(D, 3)), jnp.float32)
  infer_a = lambda x: (x @ wa * 0.1, jnp.full((x.shape[0], 3), -1.0))
  encode = lambda a, x, y: toy['encode_exact'](x, y)
  if exact:
    generate = lambda a, x, y, z: (toy['decode'](y, z), infer_a(x))
  else:  # p(a|...) differs from q(a|x): a strict bound.
    generate = lambda a, x, y, z: (toy['decode'](y, z),
                                   (jnp.zeros_like(a), jnp.zeros_like(a)))
  classify = lambda a, x: toy['log_p_xy'] + 0.0 * jnp.sum(a)
  return infer_a, classify, encode, generate


def test_auxiliary_bounds_are_exact_when_a_cancels(toy):
  infer_a, classify, encode, generate = _aux_networks(toy)
  for k in range(K):
    got = losses.auxiliary_labeled_loss(
        jax.random.key(41), toy['x'], _one_hot(k), infer_a, encode,
        generate, log_prior_y=-math.log(K), num_samples=3)
    np.testing.assert_allclose(got, -toy['log_p_xy'][:, k], rtol=1e-4)
  got = losses.auxiliary_unlabeled_loss(
      jax.random.key(42), toy['x'], infer_a, classify, encode, generate)
  np.testing.assert_allclose(got, -toy['log_p_x'], rtol=1e-4)


def test_auxiliary_bound_is_a_bound_and_warm_up_drops_latents(toy):
  infer_a, classify, encode, generate = _aux_networks(toy, exact=False)
  keys = jax.random.split(jax.random.key(43), 200)
  u = jax.vmap(lambda k: losses.auxiliary_unlabeled_loss(
      k, toy['x'], infer_a, classify, encode, generate))(keys).mean(0)
  assert np.all(np.asarray(u) > -toy['log_p_x'])
  # kl_weight = 0 leaves -log p(x|y,z) - log p(y) only.
  key = jax.random.key(44)
  warm = losses.auxiliary_labeled_loss(key, toy['x'], _one_hot(0), infer_a,
                                       encode, generate, kl_weight=0.0)
  k_z = jax.random.split(jax.random.split(key, 1)[0])[1]
  mean, log_var = encode(None, toy['x'], _one_hot(0))
  z = losses.sample_gaussian(k_z, mean, log_var)
  log_px = jnp.sum(toy['decode'](_one_hot(0), z).log_prob(toy['x']), -1)
  np.testing.assert_allclose(warm, -log_px, rtol=1e-5)


@pytest.mark.parametrize('estimator', ['enumerate', 'gumbel'])
def test_auxiliary_gumbel_and_gradients(toy, estimator):
  infer_a, classify, encode, generate = _aux_networks(toy)
  got = losses.auxiliary_unlabeled_loss(
      jax.random.key(45), toy['x'], infer_a, classify, encode, generate,
      estimator=estimator, temperature=0.5)
  assert got.shape == (B,) and np.all(np.isfinite(got))
  with jax.enable_x64(True):
    params = _toy_params(jnp.float64)
    x = jnp.asarray(np.random.default_rng(46).random((B, D)) < 0.5,
                    jnp.float64)

    def objective(p):
      enc, dec = _toy_networks(p)
      infer = lambda x_: (jnp.tanh(x_ @ p['ex'])[:, :2], x_[:, :2] * 0.1)
      cls = lambda a, x_: x_ @ p['cls'] + jnp.sum(a) * 0.1
      gen = lambda a, x_, y, z: (dec(y, z), (z * 0.5, jnp.zeros_like(z)))
      return jnp.sum(losses.auxiliary_unlabeled_loss(
          jax.random.key(47), x, infer, cls, lambda a, x_, y: enc(x_, y),
          gen, estimator=estimator, temperature=0.7))

    check_grads(objective, (params,), order=1, modes=['rev'], atol=1e-4,
                rtol=1e-4)


def test_marginal_kl_by_closed_forms():
  k = 4
  assert float(losses.marginal_kl(jnp.zeros((6, k)))) == pytest.approx(
      0.0, abs=1e-6)
  # Every image confidently in class 2: q(y) is a point mass, KL = log K.
  confident = jnp.zeros((6, k)).at[:, 2].set(50.0)
  assert float(losses.marginal_kl(confident)) == pytest.approx(math.log(k))
  # Confident but balanced predictions: q(y) is the uniform prior itself.
  balanced = 50.0 * jax.nn.one_hot(jnp.arange(8) % k, k)
  assert float(losses.marginal_kl(balanced)) == pytest.approx(0.0, abs=1e-6)
  # Against brute force, with a non-uniform prior.
  logits = jax.random.normal(jax.random.key(0), (7, k)) * 2.0
  prior = np.array([0.1, 0.2, 0.3, 0.4])
  q = np.mean(np.asarray(jax.nn.softmax(logits)), 0)
  assert float(losses.marginal_kl(logits, np.log(prior))) == pytest.approx(
      float(np.sum(q * np.log(q / prior))), rel=1e-5)


def test_class_term_of_the_bound_is_mutual_information_plus_marginal_kl():
  # ELBO surgery: mean_x KL(q(y|x) || p(y)) = I(x; y) + KL(q(y) || p(y)),
  # I(x; y) = mean_x KL(q(y|x) || q(y)); p(y) uniform.
  logits = jax.random.normal(jax.random.key(1), (9, 5)) * 3.0
  per_example = math.log(5) - losses.target_entropy(logits)
  q_yx = np.asarray(jax.nn.softmax(logits))
  q_y = q_yx.mean(0)
  mutual_info = np.mean(np.sum(q_yx * np.log(q_yx / q_y), -1))
  assert float(jnp.mean(per_example)) == pytest.approx(
      mutual_info + float(losses.marginal_kl(logits)), rel=1e-5)


def test_marginal_kl_pushes_down_the_class_predicted_too_often():
  # Three images lean to class 0, one to class 1: the gradient lowers
  # class 0's logits and raises the others', for every image.
  logits = jnp.array([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0],
                      [0.0, 2.0, 0.0]])
  grad = jax.grad(losses.marginal_kl)(logits)
  assert bool(jnp.all(grad[:, 0] > 0)) and bool(jnp.all(grad[:, 2] < 0))
  check_grads(losses.marginal_kl, (logits,), order=2, modes=['rev'])
  with pytest.raises(ValueError, match='one categorical y per example'):
    losses.marginal_kl(jnp.zeros((2, 3, 3, 4)))


def test_every_public_function_has_an_example_that_runs():
  """Each public function's docstring shows a call and its result
  (optax's style), and the shown results are what the code gives."""
  globs = {'jax': jax, 'jnp': jnp, 'np': np, 'losses': losses}
  found = {t.name.rsplit('.', 1)[-1]: t
           for t in doctest.DocTestFinder().find(losses, globs=globs)}
  public = [name for name, f in vars(losses).items()
            if inspect.isfunction(f) and not name.startswith('_')
            and f.__module__ == losses.__name__]
  assert len(public) >= 20
  without = [name for name in public
             if name not in found or not found[name].examples]
  assert not without, f'no example in the docstring of {without}'
  runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
  for name in public:
    runner.run(found[name])
  assert runner.failures == 0, f'{runner.failures} examples gave other output'
