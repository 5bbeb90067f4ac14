r"""Throughput of the input pipeline alone, next to what a train step eats.

  python -m benchmarks.input_pipeline [--seconds=3]

For MNIST-sized (28x28x1, batch 100 + 100) and VOC-sized (128x128x3,
batch 8 + 8, random vertical flips) data held in memory, it times: the
host streams (index, gather, flip), the transfer to the device, and the
on-device binarization that the train step starts with. Synthetic uint8
arrays stand in for the data sets: the cost does not depend on the pixels.
The last column compares with the train step of the same sizes on this
machine's first device (`--with_step`), i.e. how much faster the input is
than its consumer. A second table gives the steps/s of the trainer's feed
(`pipeline.step_batches`: grain threads) on CamVid-sized frames per number
of threads (`data.workers`).
"""

import functools
import time

from absl import app
from absl import flags
import jax
import numpy as np

from m2vae_jax import default_config
from m2vae_jax import objectives
from m2vae_jax import optim
from m2vae_jax import sharding
from m2vae_jax import train
from m2vae_jax.data import pipeline
from m2vae_jax.models import registry

_SECONDS = flags.DEFINE_float('seconds', 3.0, 'Time per measurement.')
_WITH_STEP = flags.DEFINE_bool('with_step', True,
                               'Also time the train step it feeds.')


def _rate(fn, seconds: float) -> float:
  """Calls per second of fn(i) over about `seconds`."""
  fn(0)
  fn(1)  # Warm-up twice: a donated state may recompile once.
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    count += 1
    fn(count)
  return count / (time.perf_counter() - start)


def _streams(n, shape, batch, segmentation):
  rng = np.random.default_rng(0)
  arrays = {'image': rng.integers(0, 256, (n, *shape), np.uint8)}
  arrays['label'] = (rng.integers(0, 21, (n, *shape[:2]), np.uint8)
                     if segmentation else rng.integers(0, 10, n, np.int32))
  flip = (pipeline.random_flip(0, vertical=True, horizontal=False)
          if segmentation else None)
  labeled = pipeline.BatchStream(arrays, np.arange(n), batch, 1,
                                 transform=flip)
  unlabeled = pipeline.BatchStream(arrays, np.arange(n), batch, 2,
                                   keys=('image',), transform=flip)
  return labeled, unlabeled


def _step_rate(config_name, shape, batch, segmentation, seconds):
  """Train steps per second at these sizes (synthetic data)."""
  config = default_config.get_default_config()
  if segmentation:
    default_config.use_voc(config)
    config.objective = 'm2'
  config.estimator = 'gumbel'
  task = train.Task(21 if segmentation else 10, shape, segmentation)
  model = registry.create_model(config, task)
  tx = optim.create_optimizer(config, 100)
  mesh = sharding.create_mesh(jax.devices()[:1])
  state = jax.jit(functools.partial(train.create_train_state, config, model,
                                    tx, task))()
  step = jax.jit(functools.partial(train.train_step, model=model, tx=tx,
                                   config=config, task=task),
                 donate_argnums=0)
  labeled, unlabeled = _streams(64, shape, batch, segmentation)
  lab = sharding.put_batch(labeled(0), mesh)
  unl = sharding.put_batch(unlabeled(0), mesh)
  holder = [state]

  def run(_):
    holder[0], metrics = step(holder[0], lab, unl)
    jax.block_until_ready(metrics)

  del config_name
  return _rate(run, seconds)


def _camvid_streams(hw):
  """Labeled and unlabeled streams over 367 synthetic 360x480 frames,
  randomly zoomed (up to 1.5x) to hw and flipped, batch 8 + 8: what the
  CamVid configs build every step."""
  rng = np.random.default_rng(0)
  arrays = {'image': rng.integers(0, 256, (367, 360, 480, 3), np.uint8),
            'label': rng.integers(0, 12, (367, 360, 480), np.uint8)}
  moved = pipeline.chain(
      pipeline.random_zoom(0, hw, 1.5),
      pipeline.random_flip(0, vertical=False, horizontal=True))
  return (pipeline.BatchStream(arrays, np.arange(46), 8, 1, transform=moved),
          pipeline.BatchStream(arrays, np.arange(367), 8, 2, keys=('image',),
                               transform=moved))


def _thread_rates(seconds: float, threads=(0, 1, 2, 4)):
  """Steps/s of `pipeline.step_batches` (the trainer's feed) per size and
  number of threads (0: built when asked for, in the consumer's thread)."""
  rows = []
  for hw in ((120, 160), (360, 480)):
    labeled, unlabeled = _camvid_streams(hw)
    make = lambda i, lab=labeled, unl=unlabeled: (lab(i), unl(i))
    rates = []
    for n in threads:
      batches = pipeline.step_batches(make, 0, 10**9, threads=n, depth=2 * n)
      next(batches)  # threads started, first batches underway
      count, start = 0, time.perf_counter()
      while time.perf_counter() - start < seconds:
        next(batches)
        count += 1
      rates.append(count / (time.perf_counter() - start))
      batches.close()
    rows.append((hw, rates))
  print('\nCamVid batches (8 + 8 frames, zoom + flip) built by '
        'pipeline.step_batches, steps/s\n')
  print('| train size | ' + ' | '.join(f'{n} threads' for n in threads)
        + ' |')
  print('| --- |' + ' ---: |' * len(threads))
  for (h, w), rates in rows:
    print(f'| {h}x{w} | ' + ' | '.join(f'{r:.1f}' for r in rates) + ' |')


def main(argv):
  del argv
  _thread_rates(_SECONDS.value)
  mesh = sharding.create_mesh(jax.devices()[:1])
  binarize = jax.jit(lambda key, im: objectives.prepare_inputs(key, im, True))
  rows = []
  for name, n, shape, batch, seg in (
      ('mnist', 50_000, (28, 28, 1), 100, False),
      ('voc 128x128', 2_000, (128, 128, 3), 8, True)):
    labeled, unlabeled = _streams(n, shape, batch, seg)
    host = _rate(lambda i, lab=labeled, unl=unlabeled: (lab(i), unl(i)),
                 _SECONDS.value)
    both = lambda i, lab=labeled, unl=unlabeled: jax.block_until_ready(
        (sharding.put_batch(lab(i), mesh), sharding.put_batch(unl(i), mesh)))
    transfer = _rate(both, _SECONDS.value)
    images = sharding.put_batch(labeled(0), mesh)['image']
    device = _rate(lambda i, im=images: jax.block_until_ready(
        binarize(jax.random.key(i), im)), _SECONDS.value)
    step = (_step_rate(name, shape, batch, seg, _SECONDS.value)
            if _WITH_STEP.value else float('nan'))
    rows.append((name, batch, host, transfer, device, step))
  print(f'\ndevice: {jax.devices()[0].device_kind}; examples/s per stage '
        '(labeled + unlabeled batches)\n')
  print('| data | batch | host streams | + device transfer | binarize on '
        'device | train step | input / step |')
  print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for name, batch, host, transfer, device, step in rows:
    per = 2 * batch
    print(f'| {name} | {batch} + {batch} | {host * per:,.0f} | '
          f'{transfer * per:,.0f} | {device * batch:,.0f} | '
          f'{step * per:,.1f} | {transfer / step:,.0f}x |')


if __name__ == '__main__':
  app.run(main)
