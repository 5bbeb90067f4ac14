"""Learning curves read back from a run's logs (metrics.jsonl, evals.jsonl).

No flags here: the scripts that print tables (accuracy, curve_table,
timed_long_runs.sh) and the tests import it, and absl flags defined in two
imported scripts would clash.
"""

from collections.abc import Callable
import json
import os


def _curve(path: str, log: str,
           value: Callable[[dict], float | None]) -> dict[int, float]:
  """Step -> value(record) over the records of `log` (`path` is the file or
  its workdir) where it is not None, in step order; the last record wins
  where a resumed run evaluated a step again."""
  if os.path.isdir(path):
    path = os.path.join(path, log)
  curve = {}
  with open(path, encoding='utf-8') as f:
    for line in f:
      record = json.loads(line)
      v = value(record)
      if v is not None:
        curve[record['step']] = v
  return dict(sorted(curve.items()))


def learning_curve(path: str, raw: bool = False) -> dict[int, float]:
  """Step -> eval accuracy (or mIoU) from a run's metrics.jsonl. raw=True
  reads the raw iterate's figures of a run that evaluated a moving average
  (ema_decay > 0)."""
  prefix = 'eval_raw_' if raw else 'eval_'

  def value(record):
    for key in (f'{prefix}accuracy', f'{prefix}miou'):
      if key in record:
        return record[key]
    return None

  return _curve(path, 'metrics.jsonl', value)


def confusion_curve(path: str, true_class: int,
                    predicted: int) -> dict[int, float]:
  """Step -> how many eval examples of `true_class` were called
  `predicted`, from a run's evals.jsonl.

  Raises:
    ValueError: the log holds no confusion matrix (not a classification
      run).
  """
  curve = _curve(
      path, 'evals.jsonl',
      lambda r: r['confusion'][true_class][predicted]
      if 'confusion' in r else None)
  if not curve:
    raise ValueError(f'{path} holds no confusion matrix: name a '
                     "classification run's evals.jsonl or workdir")
  return curve
