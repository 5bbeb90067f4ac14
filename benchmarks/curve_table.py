r"""Prints validation accuracy at chosen steps for several runs, and their
mean, as one Markdown table (the long-run tables of benchmarks/RESULTS.md):

  python -m benchmarks.curve_table --steps=20000,40000,60000,80000 \
      benchmarks/results/h200_2026-11-26b/seed*.m2.metrics.jsonl

Each argument is a run's metrics.jsonl or its workdir.
"""

import os

from absl import app
from absl import flags

from benchmarks import accuracy

_STEPS = flags.DEFINE_list('steps', [], 'Steps to show (default: all).')
_RAW = flags.DEFINE_bool('raw', False, 'For runs that evaluated a moving '
                         'average (ema_decay > 0): show their raw iterate.')


def run_name(path: str) -> str:
  """'.../seed1.m2.metrics.jsonl' -> 'seed1.m2'; '.../m2/metrics.jsonl'
  or the workdir '.../m2' -> 'm2'."""
  path = os.path.normpath(path)
  name = os.path.basename(path)
  if name.endswith('metrics.jsonl'):
    name = name.removesuffix('metrics.jsonl').rstrip('.')
    if not name:
      name = os.path.basename(os.path.dirname(path))
  return name


def curve_table(curves: dict[str, dict[int, float]],
                steps: list[int]) -> str:
  """Markdown rows of accuracy % at `steps`, one per run, then (for
  several runs) their mean; a cell is empty where a run did not evaluate
  that step, and so is the mean there."""
  cell = lambda v: '' if v is None else f'{100 * v:.2f}'
  lines = ['| run | ' + ' | '.join(f'{s:,}' for s in steps) + ' |',
           '| --- |' + ' ---: |' * len(steps)]
  for name, curve in curves.items():
    lines.append(f'| {name} | '
                 + ' | '.join(cell(curve.get(s)) for s in steps) + ' |')
  if len(curves) > 1:
    means = [sum(c[s] for c in curves.values()) / len(curves)
             if all(s in c for c in curves.values()) else None
             for s in steps]
    lines.append(f'| mean of {len(curves)} | '
                 + ' | '.join(cell(m) for m in means) + ' |')
  return '\n'.join(lines)


def main(argv):
  paths = argv[1:]
  if not paths:
    raise app.UsageError('name one or more metrics.jsonl files or workdirs')
  curves = {run_name(p): accuracy.learning_curve(p, raw=_RAW.value)
            for p in paths}
  steps = ([int(s) for s in _STEPS.value] if _STEPS.value
           else sorted({s for c in curves.values() for s in c}))
  print(curve_table(curves, steps))


if __name__ == '__main__':
  app.run(main)
