r"""The labeled images of one class that each seed's run is given: a figure
with a row per seed, and the indices printed, without training anything.

With 10 labels per class, what a draw holds decides much of a run's
accuracy (docs/results.md, "Why seeds 0 and 4 trail": seeds whose ten
7s include no 7 with a bar across the stem call about a hundred validation
7s 9). This shows a draw before the hours of training:

  python -m tools.labeled_draws --config=configs/mnist_sdgm.py \
      --config.data.idx_dir=../shared/data/mnist-dev --seeds=0-9 \
      --label_class=7 --out=sevens_by_seed.png

The subset is the trainer's (`pipeline.labeled_indices`): it depends on the
config's data fields and `seed` (or `data.label_seed`, which pins it for
every seed; `data.labeled_indices` gives it outright, the same for every
seed). The printed indices, edited, are a `data.labeled_indices` for a run
on a draw with chosen examples swapped. Classification data only.

The indices count examples in the order the loader reads the training
split (TFDS's fixed order), not the IDX files' order. A published split
given as positions in the files is translated, with `data.idx_dir` set, by

  python -m tools.labeled_draws --config=configs/mnist_m2.py \
      --config.data.idx_dir=../shared/data/mnist-dev --file_indices=7,42,...

which prints the `--config.data.labeled_indices=...` of those examples.
"""

from absl import app
from absl import flags
import matplotlib
from ml_collections import config_flags
import numpy as np

matplotlib.use('Agg')  # No display needed.
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top

from m2vae_jax import cli  # noqa: E402
from m2vae_jax.data import pipeline  # noqa: E402
from m2vae_jax.errors import ConfigError  # noqa: E402
from tools import saved_run  # noqa: E402

config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py[:variant]).',
    lock_config=True)
_SEEDS = flags.DEFINE_string('seeds', '0-9', 'Seeds: 0-9, or 0,3,5.')
_CLASS = flags.DEFINE_integer('label_class', None, 'The class to draw.')
_OUT = flags.DEFINE_string('out', 'labeled_draws.png', 'The figure.')
_FILE_INDICES = flags.DEFINE_list(
    'file_indices', [], 'Positions in the IDX training files to translate '
    'into the loader\'s indices (no figure is drawn).')
flags.mark_flags_as_required(['config'])


def parse_seeds(text: str) -> list[int]:
  """'0-3,7' -> [0, 1, 2, 3, 7]."""
  seeds = []
  try:
    for part in text.split(','):
      first, _, last = part.partition('-')
      seeds.extend(range(int(first), int(last or first) + 1))
  except ValueError:
    raise ConfigError(f'--seeds: {text!r} is not like 0-9 or 0,3,5') from None
  return seeds


def translate_file_indices(config, data, texts: list[str]) -> np.ndarray:
  """The loader's indices of the examples at positions `texts` of the IDX
  training files of `config.data.idx_dir`, [k], in the given order."""
  # pylint: disable=g-import-not-at-top
  from m2vae_jax.data import mnist
  if config.data.name != 'mnist' or not config.data.idx_dir:
    raise ConfigError('--file_indices reads the IDX files of data.idx_dir: '
                      'set it (data.name=mnist)')
  try:
    file_indices = [int(t) for t in texts]
  except ValueError:
    raise ConfigError(f'--file_indices: {",".join(texts)!r} is not a list '
                      'of integers') from None
  files = mnist.idx_files(config.data.idx_dir)
  if config.data.train_split not in files:
    raise ConfigError(f'--file_indices: data.train_split='
                      f'{config.data.train_split!r} is not an IDX split '
                      f'({", ".join(sorted(files))})')
  file_images, _ = mnist.read_idx_split(*files[config.data.train_split])
  return mnist.loader_indices(data.train['image'], file_images, file_indices)


def main(argv):
  del argv
  config = flags.FLAGS.config
  with cli.user_errors_as_one_line():
    seeds = parse_seeds(_SEEDS.value)
    if _CLASS.value is None and not _FILE_INDICES.value:
      raise ConfigError('give --label_class (or --file_indices)')
    from m2vae_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    data = data_lib.load_task_data(config.data)
    if _FILE_INDICES.value:
      indices = translate_file_indices(config, data, _FILE_INDICES.value)
      for f, i in zip(_FILE_INDICES.value, indices.tolist()):
        print(f'file index {f}: loader index {i}, '
              f'label {data.train["label"][i]}')
      print('--config.data.labeled_indices="(' +
            ','.join(str(i) for i in sorted(set(indices.tolist()))) + ')"')
      return
    if data.is_segmentation:
      raise ConfigError('labeled_draws reads classification data')
    if not 0 <= _CLASS.value < data.num_classes:
      raise ConfigError(f'--label_class={_CLASS.value} is not a class '
                        f'(0-{data.num_classes - 1})')
    rows = []
    for seed in seeds:
      config.seed = seed
      indices = pipeline.labeled_indices(config, data)
      ours = indices[data.train['label'][indices] == _CLASS.value]
      print(f'seed {seed}: {_CLASS.value}s at {ours.tolist()}')
      rows.append(saved_run.tile(data.train['image'][ours][..., 0],
                                 columns=max(len(ours), 1)))
  width = max(r.shape[1] for r in rows)
  rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows]
  fig, ax = plt.subplots(figsize=(width / 40 + 1, len(rows) * 0.75 + 0.5))
  ax.imshow(np.concatenate(rows), cmap='gray')
  ax.set_yticks([(i + 0.5) * rows[0].shape[0] for i in range(len(rows))],
                [f'seed {s}' for s in seeds])
  ax.set_xticks([])
  ax.set_title(f'the labeled {_CLASS.value}s of each seed', fontsize=9)
  fig.tight_layout()
  fig.savefig(_OUT.value, dpi=80)
  print(f'wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
