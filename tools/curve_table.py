r"""Prints validation accuracy at chosen steps for several runs, and their
mean, as one Markdown table (the long-run tables of docs/results.md):

  python -m tools.curve_table --steps=20000,40000,60000,80000 \
      runs/seed*/m2

Each argument is a run's metrics.jsonl or its workdir. With --cell=T:P the
table counts instead the eval examples of class T that each evaluation
calls P, from each run's evals.jsonl (its workdir, or the file itself):

  python -m tools.curve_table --cell=7:9 workdirs/sdgm_seed*
"""

import os

from absl import app
from absl import flags

from benchmarks import run_logs

_STEPS = flags.DEFINE_list('steps', [], 'Steps to show (default: all).')
_RAW = flags.DEFINE_bool('raw', False, 'For runs that evaluated a moving '
                         'average (ema_decay > 0): show their raw iterate.')
_CELL = flags.DEFINE_string(
    'cell', '', 'TRUE:PREDICTED (e.g. 7:9): count the eval examples of class '
    'TRUE called PREDICTED, from evals.jsonl, instead of the accuracy.')

_LOGS = ('metrics.jsonl', 'evals.jsonl')


def run_name(path: str) -> str:
  """'.../seed1.m2.metrics.jsonl' -> 'seed1.m2'; '.../m2/metrics.jsonl'
  or the workdir '.../m2' -> 'm2' (the same for evals.jsonl)."""
  path = os.path.normpath(path)
  name = os.path.basename(path)
  for log in _LOGS:
    if name.endswith(log):
      name = name.removesuffix(log).rstrip('.')
      if not name:
        name = os.path.basename(os.path.dirname(path))
  return name


def _percent(v: float) -> str:
  return f'{100 * v:.2f}'


def _count(v: float) -> str:
  return f'{v:,.0f}' if float(v).is_integer() else f'{v:,.1f}'


def curve_table(curves: dict[str, dict[int, float]], steps: list[int],
                counts: bool = False) -> str:
  """Markdown rows of accuracy % (or with `counts`, of counts) at `steps`,
  one per run, then (for several runs) their mean; a cell is empty where
  a run did not evaluate that step, and so is the mean there."""
  fmt = _count if counts else _percent
  cell = lambda v: '' if v is None else fmt(v)
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
  if _CELL.value:
    try:
      t, p = (int(v) for v in _CELL.value.split(':'))
    except ValueError:
      raise app.UsageError(f'--cell={_CELL.value!r} is not TRUE:PREDICTED, '
                           'e.g. 7:9') from None
    try:
      curves = {run_name(path): run_logs.confusion_curve(path, t, p)
                for path in paths}
    except ValueError as e:
      raise app.UsageError(str(e)) from None
  else:
    curves = {run_name(path): run_logs.learning_curve(path, raw=_RAW.value)
              for path in paths}
  steps = ([int(s) for s in _STEPS.value] if _STEPS.value
           else sorted({s for c in curves.values() for s in c}))
  print(curve_table(curves, steps, counts=bool(_CELL.value)))


if __name__ == '__main__':
  app.run(main)
