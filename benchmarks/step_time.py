r"""Step time of the M2 train step at the paper's MNIST sizes, per estimator.

  python -m benchmarks.step_time [--steps=30] [--estimators=enumerate,gumbel]

Prints ms/step, examples/s and ms/step over the floor, where the floor is
the naive FLOPs of the *enumerated* step (forward + backward of every matmul,
every unlabeled x paired with all classes: ~31.8 GFLOP at 784-1000-1000,
z = 300, batch 100 + 100) divided by the float32 matmul GFLOP/s measured in
the same run. Synthetic uint8 images stand in for MNIST: the step's cost
does not depend on the pixel values.
"""

import functools
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from m2vae_jax import default_config, sharding, train

_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps per estimator.')
_ESTIMATORS = flags.DEFINE_list(
    'estimators', ['enumerate', 'gumbel', 'straight_through'],
    'Estimators to time.')


def naive_enumerated_gflop(config, num_classes: int, pixels: int) -> float:
  """Forward + backward (3x forward) FLOPs of every matmul of the naive
  enumerated M2 step, in GFLOP."""
  h = list(config.model.hidden)
  z = config.model.latent_dim

  def mlp(inputs, outputs):
    dims = [inputs] + h + [outputs]
    return sum(a * b for a, b in zip(dims[:-1], dims[1:]))

  cls = mlp(pixels, num_classes)
  enc = mlp(pixels + num_classes, 2 * z)
  dec = mlp(num_classes + z, pixels)
  b_l, b_u = config.batch_size, config.unlabeled_batch_size
  macs = b_l * (cls + enc + dec) + b_u * cls + b_u * num_classes * (enc + dec)
  return 3 * 2 * macs / 1e9


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
  """float32 matmul throughput of this machine, GFLOP/s (best of runs)."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda a, b: a @ b)
  f(a, a).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    f(a, a).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * n ** 3 / best / 1e9


def time_estimator(estimator: str, steps: int) -> float:
  """Median seconds per train step (batch 100 + 100, 784-1000-1000)."""
  config = default_config.get_default_config()
  config.estimator = estimator
  task = train.Task(num_classes=10, image_shape=(28, 28, 1),
                    segmentation=False)
  mesh = sharding.create_mesh()
  model = train.create_model(config, task)
  tx = train.create_optimizer(config, config.num_train_steps)
  rep = sharding.replicated(mesh)
  state = jax.jit(lambda: train.create_train_state(config, model, tx, task),
                  out_shardings=rep)()
  step = jax.jit(functools.partial(train.train_step, model=model, tx=tx,
                                   config=config, task=task),
                 donate_argnums=0, out_shardings=rep)
  rng = np.random.default_rng(0)
  labeled = sharding.put_batch({
      'image': rng.integers(0, 256, (100, 28, 28, 1), np.uint8),
      'label': rng.integers(0, 10, 100).astype(np.int32)}, mesh)
  unlabeled = sharding.put_batch({
      'image': rng.integers(0, 256, (100, 28, 28, 1), np.uint8)}, mesh)
  for _ in range(3):
    state, metrics = step(state, labeled, unlabeled)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    state, metrics = step(state, labeled, unlabeled)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def main(argv):
  del argv
  config = default_config.get_default_config()
  gflop = naive_enumerated_gflop(config, 10, 784)
  peak = matmul_gflops()
  floor_ms = gflop / peak * 1e3
  print(f'device: {jax.devices()[0].device_kind} x{jax.device_count()}  '
        f'float32 matmul: {peak:.0f} GFLOP/s  naive enumerated step: '
        f'{gflop:.1f} GFLOP  floor: {floor_ms:.1f} ms')
  rows, results = [], {}
  for estimator in _ESTIMATORS.value:
    sec = time_estimator(estimator, _STEPS.value)
    results[estimator] = sec
    rows.append((estimator, sec * 1e3, 200 / sec, sec * 1e3 / floor_ms))
  print('\n| estimator | ms/step | examples/s | x floor |')
  print('| --- | ---: | ---: | ---: |')
  for name, ms, eps, ratio in rows:
    print(f'| {name} | {ms:.1f} | {eps:.0f} | {ratio:.2f} |')
  if 'enumerate' in results:
    for name, sec in results.items():
      if name != 'enumerate':
        print(f'{name} is {results["enumerate"] / sec:.2f}x faster than '
              'enumerate')


if __name__ == '__main__':
  app.run(main)
