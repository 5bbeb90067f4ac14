"""The parts of the benchmark scripts that read results back."""

import json

from benchmarks import accuracy


def test_learning_curve_reads_evals_in_step_order_last_wins(tmp_path):
  records = [
      {'step': 100, 'loss': 3.0},
      {'step': 2000, 'eval_accuracy': 0.8},
      {'step': 1000, 'eval_accuracy': 0.7},
      # A resumed run evaluates its restored step again.
      {'step': 2000, 'eval_accuracy': 0.81},
      {'step': 500, 'eval_miou': 0.1, 'eval_pixel_accuracy': 0.9},
  ]
  with open(tmp_path / 'metrics.jsonl', 'w', encoding='utf-8') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)
  curve = accuracy.learning_curve(str(tmp_path))
  assert list(curve.items()) == [(500, 0.1), (1000, 0.7), (2000, 0.81)]


def test_every_suite_run_names_a_config_file_that_exists():
  for runs in accuracy.SUITES.values():
    for run in runs:
      path = run.config.split(':')[0]
      with open(path, encoding='utf-8'):
        pass
      assert all('=' in kv for kv in run.overrides), run

