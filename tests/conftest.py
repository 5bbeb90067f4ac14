"""Test set-up: 8 fake CPU devices, fast compiles, shared fixtures.

The device count must be set before JAX initialises its backend, which is
why this happens at import time, before any test module touches JAX.
"""

import gc
import gzip
import os
import socket
import tempfile
from typing import Any
from typing import NamedTuple

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Fast compiles, and compiled programs shared across tests, workers and the
# commands tests launch (segmentation models take seconds to compile).
COMPILE_SETTINGS = {
    'jax_disable_most_optimizations': True,
    'jax_compilation_cache_dir': os.path.join(
        tempfile.gettempdir(), f'm2vae_jax_test_cache_{os.getuid()}'),
    'jax_persistent_cache_min_compile_time_secs': 0.5,
}
jax.config.update('jax_num_cpu_devices', 8)
for _name, _value in COMPILE_SETTINGS.items():
  jax.config.update(_name, _value)

NUM_DEVICES = 8


def write_idx(path: str, array: np.ndarray, magic: int) -> None:
  """Writes an uint8 array as a gzipped IDX file."""
  header = magic.to_bytes(4, 'big') + b''.join(
      d.to_bytes(4, 'big') for d in array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


def fake_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Learnable fake MNIST: class c lights up a class-specific 28x28 stroke
  pattern, plus noise, so a tiny model can beat chance."""
  rng = np.random.default_rng(seed)
  labels = np.arange(n) % 10
  rng.shuffle(labels)
  templates = np.random.default_rng(1234).random((10, 28, 28)) < 0.2
  noise = rng.integers(0, 35, (n, 28, 28))
  images = np.where(templates[labels], 220, 0) + noise
  return images.astype(np.uint8), labels.astype(np.uint8)


def make_idx_dir(path, n_train: int = 200, n_test: int = 60) -> str:
  os.makedirs(path, exist_ok=True)
  for prefix, n, seed in (('train', n_train, 0), ('t10k', n_test, 1)):
    images, labels = fake_digits(n, seed)
    write_idx(os.path.join(path, f'{prefix}-images-idx3-ubyte.gz'), images,
              2051)
    write_idx(os.path.join(path, f'{prefix}-labels-idx1-ubyte.gz'), labels,
              2049)
  return str(path)


@pytest.fixture(scope='session')
def idx_dir(tmp_path_factory):
  """A tiny MNIST-format IDX folder: 200 train and 60 test images."""
  return make_idx_dir(tmp_path_factory.mktemp('idx'))


@pytest.fixture(scope='session')
def tfds_dir(tmp_path_factory):
  """A TFDS data dir private to the test session."""
  return str(tmp_path_factory.mktemp('tfds'))


class TrainedRun(NamedTuple):
  workdir: str
  data_folder: str
  config: Any
  result: dict


@pytest.fixture(scope='session')
def camvid_baseline_run(tmp_path_factory) -> TrainedRun:
  """camvid_baseline's tiny twin trained on a fabricated CamVid folder.
  One test uses it (test_predict): xdist's loadgroup, which would send
  several to one worker, does not group under pytest 9."""
  from m2vae_jax import train  # pylint: disable=g-import-not-at-top
  from tests.camvid_tree import make_camvid_tree  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('camvid_run')
  folder = make_camvid_tree(root / 'cv')
  config = load_config('camvid_baseline', **{
      'data.manual_dir': folder, 'data.tfds_data_dir': str(root / 'tfds')})
  workdir = str(root / 'work')
  result = train.train_and_evaluate(config, workdir)
  return TrainedRun(workdir, folder, config, result)


@pytest.fixture(name='network_unreachable')
def network_unreachable_fixture(monkeypatch):
  """Every connection fails as on a machine without internet."""
  def unreachable(*args, **kwargs):
    raise OSError('[Errno -2] Name or service not known')

  monkeypatch.setattr(socket, 'create_connection', unreachable)


def subprocess_env(devices: int | None = None) -> dict[str, str]:
  """The environment of a command a test launches: CPU only, quiet, this
  session's compile settings and, if given, `devices` CPU devices."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', JAX_PLATFORMS='cpu')
  env.update({k.upper(): str(int(v) if isinstance(v, bool) else v)
              for k, v in COMPILE_SETTINGS.items()})
  if devices is not None:
    env['JAX_NUM_CPU_DEVICES'] = str(devices)
  return env


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(name: str, variant: str = 'tiny', **overrides):
  """configs/<name>.py:<variant> with dotted-field overrides applied."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = os.path.join(REPO, 'configs', f'{name}.py')
  spec = importlib.util.spec_from_file_location(f'configs.{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(variant)
  for dotted, value in overrides.items():
    *parents, leaf = dotted.split('.')
    node = config
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def assert_same_step(one, other, rtol=1e-4):
  """Asserts two train steps computed the same gradients and metrics.

  `one` and `other` are `(state, metrics)` pulled to the host. The gradient
  is compared through Adam's first moment (linear in it), not through the
  parameters: Adam's first update is about lr * g / (|g| + eps), so for a
  gradient near zero a difference in summation order (which the device count
  changes) flips the update by up to lr. That is rounding, not a bug. For
  the same reason, near-zero entries are compared relative to the largest
  entry of their array.
  """
  import optax  # pylint: disable=g-import-not-at-top
  pairs = [(optax.tree_utils.tree_get(s.opt_state, 'mu'), m)
           for s, m in (one, other)]
  leaves = [jax.tree.leaves(p) for p in pairs]
  assert len(leaves[0]) == len(leaves[1]) > 0
  for a, b in zip(*leaves):
    atol = rtol * float(np.max(np.abs(a), initial=0.0))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def _free_compiled_programs():
  """Drops the programs a test compiled once it ends.

  A worker otherwise keeps every program of every test it ran, and its peak
  memory grew test by test to 7 GB with no single test the cause. A later
  test that needs a slow-to-compile program again finds it in the
  persistent compilation cache on disk.
  """
  yield
  jax.clear_caches()
  gc.collect()


# Peak memory, per test: which tests make a pytest worker (or a command a
# test launches) large. Printed after the durations; measured on each
# worker as the rise of its peak resident set while the test ran.
_PEAK_BEFORE = pytest.StashKey[float]()


def _peak_rss_mb() -> float:
  """The largest resident set of this process or any child it waited for."""
  import resource  # pylint: disable=g-import-not-at-top
  return max(resource.getrusage(who).ru_maxrss
             for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
             ) / 1024


def pytest_runtest_setup(item):
  item.stash[_PEAK_BEFORE] = _peak_rss_mb()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
  outcome = yield
  if call.when == 'teardown':
    peak = _peak_rss_mb()
    outcome.get_result().user_properties.append(
        ('peak_rss_mb', (peak, peak - item.stash.get(_PEAK_BEFORE, peak))))


def pytest_terminal_summary(terminalreporter):
  rows = []
  for reports in terminalreporter.stats.values():
    for report in reports:
      props = dict(getattr(report, 'user_properties', None) or ())
      if 'peak_rss_mb' in props:
        peak, rise = props['peak_rss_mb']
        rows.append((rise, peak, report.nodeid))
  if not rows:
    return
  terminalreporter.write_sep('=', 'peak memory (MB, ru_maxrss of a worker '
                             'or a command it ran)')
  terminalreporter.write_line(
      f'largest: {max(peak for _, peak, _ in rows):.0f} MB; the tests that '
      'raised a peak most:')
  for rise, peak, nodeid in sorted(rows, reverse=True)[:8]:
    terminalreporter.write_line(f'+{rise:6.0f} to {peak:6.0f}  {nodeid}')
