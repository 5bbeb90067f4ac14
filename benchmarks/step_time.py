r"""Time of one train step at a config's sizes, per estimator.

  python -m benchmarks.step_time                       # MNIST M2, 3 estimators
  python -m benchmarks.step_time --config=configs/camvid_baseline.py
  python -m benchmarks.step_time --config=configs/camvid_m2.py --steps=10

Synthetic uint8 images stand in for the data (a step's cost does not depend
on the pixels). Prints ms/step, examples/s (labeled + unlabeled) and the
step's FLOP floor: the FLOPs XLA counts in the compiled step
(`jax.jit(...).lower(...).compile().cost_analysis()`) divided by the float32
matmul GFLOP/s measured in the same run, and the step's time over it. For
the MLP model it also prints the time over the naive FLOPs of the
*enumerated* step (forward + backward of every matmul, every unlabeled x
paired with all classes: ~31.8 GFLOP at 784-1000-1000, z = 300, batch
100 + 100). Runs on the first device (`--devices` for more).
"""

import functools
import time

from absl import app
from absl import flags
import jax
from ml_collections import config_flags
import numpy as np

from benchmarks import flops
from m2vae_jax import default_config
from m2vae_jax import optim
from m2vae_jax import sharding
from m2vae_jax import train
from m2vae_jax.data import pipeline
from m2vae_jax.models import registry

config_flags.DEFINE_config_file('config', 'configs/mnist_m2.py',
                                'Experiment whose step is timed.')
_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps per estimator.')
_ESTIMATORS = flags.DEFINE_list(
    'estimators', ['enumerate', 'gumbel', 'straight_through'],
    'Estimators to time (enumerate is skipped for segmentation).')
_DEVICES = flags.DEFINE_integer('devices', 1, 'Devices in the mesh.')


def naive_enumerated_gflop(config, num_classes: int, pixels: int) -> float:
  """Forward + backward (3x forward) FLOPs of every matmul of the naive
  enumerated M2 step with MLPs, in GFLOP."""
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


def _task(config) -> train.Task:
  if config.data.name == 'mnist':
    return train.Task(num_classes=10, image_shape=(28, 28, 1),
                      segmentation=False)
  hw = pipeline.image_hw(config.data.image_size)
  classes = 21 if config.data.name == 'voc' else 11
  return train.Task(num_classes=classes, image_shape=(*hw, 3),
                    segmentation=True)


def time_step(config, steps: int) -> tuple[float, float]:
  """(median seconds per train step, GFLOP of the compiled step)."""
  task = _task(config)
  mesh = sharding.create_mesh(jax.devices()[:_DEVICES.value])
  model = registry.create_model(config, task)
  tx = optim.create_optimizer(config, max(config.num_train_steps, 1))
  rep = sharding.replicated(mesh)
  state = jax.jit(functools.partial(train.create_train_state, config, model,
                                    tx, task), out_shardings=rep)()
  step = jax.jit(functools.partial(train.train_step, model=model, tx=tx,
                                   config=config, task=task),
                 donate_argnums=0, out_shardings=rep)
  rng = np.random.default_rng(0)
  shape = task.image_shape
  labels = (rng.integers(0, task.num_classes, (config.batch_size,
                                               *shape[:2]), np.uint8)
            if task.segmentation
            else rng.integers(0, 10, config.batch_size).astype(np.int32))
  labeled = sharding.put_batch({
      'image': rng.integers(0, 256, (config.batch_size, *shape), np.uint8),
      'label': labels}, mesh)
  unlabeled = None
  if default_config.uses_unlabeled(config):
    unlabeled = sharding.put_batch({'image': rng.integers(
        0, 256, (config.unlabeled_batch_size, *shape), np.uint8)}, mesh)
  gflop = flops.compiled_gflop(step, state, labeled, unlabeled)
  for _ in range(3):
    state, metrics = step(state, labeled, unlabeled)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    state, metrics = step(state, labeled, unlabeled)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - t)
  return float(np.median(times)), gflop


def main(argv):
  del argv
  config = flags.FLAGS.config
  mlp = config.model.name == 'mlp'  # the naive count is that of M2's MLPs
  classifier = not _task(config).segmentation
  examples = config.batch_size + (
      config.unlabeled_batch_size if default_config.uses_unlabeled(config)
      else 0)
  device = jax.devices()[0]
  peak = flops.matmul_gflops()
  header = (f'device: {device.platform} {device.device_kind} '
            f'x{_DEVICES.value}  float32 matmul: {peak:.0f} GFLOP/s')
  naive_ms = None
  if mlp:
    naive = naive_enumerated_gflop(config, 10, 784)
    naive_ms = naive / peak * 1e3
    header += (f'  naive enumerated step: {naive:.1f} GFLOP '
               f'({naive_ms:.1f} ms)')
  if _task(config).segmentation:
    header += f'  input {"x".join(map(str, _task(config).image_shape))}'
  print(header)
  estimators = [e for e in _ESTIMATORS.value
                if classifier or e != 'enumerate'] if config.objective == 'm2' \
      else ['(supervised)']
  results = {}
  for estimator in estimators:
    if config.objective == 'm2':
      config.estimator = estimator
    results[estimator] = time_step(config, _STEPS.value)
  print('\n| estimator | ms/step | examples/s | compiled GFLOP | floor ms | '
        'x floor |' + (' x naive floor |' if mlp else ''))
  print('| --- | ---: | ---: | ---: | ---: | ---: |'
        + (' ---: |' if mlp else ''))
  for name, (sec, gflop) in results.items():
    floor_ms = gflop / peak * 1e3
    row = (f'| {name} | {sec * 1e3:.1f} | {examples / sec:.1f} | '
           f'{gflop:.1f} | {floor_ms:.1f} | {sec * 1e3 / floor_ms:.2f} |')
    if mlp:
      row += f' {sec * 1e3 / naive_ms:.2f} |'
    print(row)
  if 'enumerate' in results:
    for name, (sec, _) in results.items():
      if name != 'enumerate':
        print(f'{name} is {results["enumerate"][0] / sec:.2f}x faster than '
              'enumerate')


if __name__ == '__main__':
  app.run(main)
