r"""Which eval images of class TRUE a trained MNIST run calls PREDICTED,
beside the labeled images of TRUE it was trained on: a figure, and the
count each run gets wrong and the count all the runs given get wrong
together (the same images, or different ones?).

  python -m tools.error_gallery --idx_dir=../shared/data/mnist-dev \
      --workdirs=RUN_A,RUN_B --true=7 --predicted=9 --out=sevens.png

Per run, one row of its labeled TRUEs; then the eval images of TRUE that
every run calls PREDICTED (up to --max_images), then some that the first
run gets right. Reads each workdir's config.json and newest checkpoint;
writes only --out.
"""

from absl import app
from absl import flags
import matplotlib
import numpy as np

matplotlib.use('Agg')  # No display needed.
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top

from m2vae_jax import cli
from tools import saved_run  # noqa: E402

_WORKDIRS = flags.DEFINE_list('workdirs', None, 'Trained MNIST runs.')
_IDX_DIR = flags.DEFINE_string('idx_dir', '', 'data.idx_dir, if moved.')
_TRUE = flags.DEFINE_integer('true', None, 'The true class.')
_PREDICTED = flags.DEFINE_integer('predicted', None, 'The class given.')
_OUT = flags.DEFINE_string('out', 'error_gallery.png', 'The figure.')
_MAX_IMAGES = flags.DEFINE_integer('max_images', 120, 'Errors to draw.')
flags.mark_flags_as_required(['workdirs', 'true', 'predicted'])


def _study(workdir: str, t: int, p: int):
  """(eval labels, eval images, predicted classes, the run's labeled
  images of class t) of one run, with a line of what it gets wrong."""
  run = saved_run.restore_classifier(workdir, _IDX_DIR.value)
  labels = run.data.eval['label']
  given = run.evaluator.predict(run.params)
  train_labels = run.data.train['label'][run.labeled_indices]
  labeled = run.data.train['image'][run.labeled_indices]
  print(f'{workdir} (step {run.step}): '
        f'{len(saved_run.mistaken(labels, given, t, p))} of '
        f'{int(np.sum(labels == t)):,} {t}s called {p}')
  return (labels, run.data.eval['image'][..., 0], given,
          labeled[train_labels == t][..., 0])


def main(argv):
  del argv
  t, p = _TRUE.value, _PREDICTED.value
  with cli.user_errors_as_one_line():
    runs = [_study(workdir, t, p) for workdir in _WORKDIRS.value]
  common = sorted(set.intersection(*(
      set(saved_run.mistaken(labels, given, t, p).tolist())
      for labels, _, given, _ in runs)))
  print(f'called {p} by every run: {len(common)}')
  # Every run reads the same eval split: the first run's images serve all.
  labels, images, given, _ = runs[0]
  right = np.flatnonzero((labels == t) & (given == t))
  panels = [(f'{workdir}: its labeled {t}s', ours)
            for workdir, (*_, ours) in zip(_WORKDIRS.value, runs)]
  panels.append((f'{t}s every run calls {p} ({len(common)})',
                 images[common[:_MAX_IMAGES.value]]))
  panels.append((f'{t}s the first run gets right', images[right[:40]]))
  tiles = [saved_run.tile(im) for _, im in panels if len(im)]
  titles = [title for title, im in panels if len(im)]
  fig, axes = plt.subplots(
      len(tiles), 1, figsize=(10, sum(x.shape[0] for x in tiles) / 45 + 1),
      gridspec_kw={'height_ratios': [x.shape[0] for x in tiles]},
      squeeze=False)
  for ax, image, title in zip(axes[:, 0], tiles, titles):
    ax.imshow(image, cmap='gray')
    ax.set_title(title, fontsize=9)
    ax.axis('off')
  fig.tight_layout()
  fig.savefig(_OUT.value, dpi=80)
  print(f'wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
