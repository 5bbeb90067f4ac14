r"""Accuracy of a trained MNIST run on its eval split translated by whole
pixels, with the largest errors at each translation: does the classifier
treat a moved digit as the centred one? (`data.labeled_shift` trains on
moved labeled digits; the eval split is centred.)

  python -m tools.translated_eval --workdir=WORKDIR \
      --idx_dir=../shared/data/mnist-dev --shifts=0:0,1:0,-1:0,0:1,0:-1

A shift dy:dx moves every image down dy and right dx pixels (negative: up,
left), padding with 0. Reads the workdir's config.json and newest
checkpoint (the moving average, if the run kept one); writes nothing.
"""

from absl import app
from absl import flags
import numpy as np

from m2vae_jax import cli
from m2vae_jax import metrics as metrics_lib
from tools import saved_run

_WORKDIR = flags.DEFINE_string('workdir', None, 'A trained MNIST run.')
_IDX_DIR = flags.DEFINE_string('idx_dir', '', 'data.idx_dir, if moved.')
_SHIFTS = flags.DEFINE_list(
    'shifts', ['0:0', '1:0', '-1:0', '0:1', '0:-1', '2:0', '0:2'],
    'Translations dy:dx to evaluate.')
_ERRORS = flags.DEFINE_integer('errors', 3, 'Largest errors to list.')
flags.mark_flag_as_required('workdir')


def main(argv):
  del argv
  with cli.user_errors_as_one_line():
    shifts = [saved_run.parse_shift(s) for s in _SHIFTS.value]
    run = saved_run.restore_classifier(_WORKDIR.value, _IDX_DIR.value)
  counts = np.bincount(run.data.eval['label'])
  print(f'step {run.step}, {run.data.eval_split} split, '
        f'{int(counts.sum())} examples\n')
  print('| shift dy:dx | accuracy % | largest errors (true -> predicted) |')
  print('| --- | ---: | --- |')
  for dy, dx in shifts:
    result = saved_run.evaluate_translated(run, dy, dx)
    largest = metrics_lib.largest_errors(result['confusion'], _ERRORS.value)
    errors = ', '.join(f'{n} of {counts[t]:,} {t}s -> {p}'
                       for n, t, p in largest)
    print(f'| {dy}:{dx} | {100 * result["accuracy"]:.2f} | {errors} |')


if __name__ == '__main__':
  app.run(main)
