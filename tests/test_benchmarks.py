"""The parts of the benchmark scripts that read results back."""

import json
import shlex

import pytest

from benchmarks import accuracy
from benchmarks import run_logs


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
  curve = run_logs.learning_curve(str(tmp_path))
  assert list(curve.items()) == [(500, 0.1), (1000, 0.7), (2000, 0.81)]


def test_learning_curve_reads_the_raw_iterate_of_an_ema_run(tmp_path):
  records = [{'step': 1000, 'eval_accuracy': 0.9, 'eval_raw_accuracy': 0.8},
             {'step': 2000, 'eval_accuracy': 0.95,
              'eval_raw_accuracy': 0.85}]
  with open(tmp_path / 'metrics.jsonl', 'w', encoding='utf-8') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)
  assert run_logs.learning_curve(str(tmp_path)) == {1000: 0.9, 2000: 0.95}
  assert run_logs.learning_curve(str(tmp_path), raw=True) == {
      1000: 0.8, 2000: 0.85}


def test_every_suite_run_names_a_config_file_that_exists():
  for runs in accuracy.SUITES.values():
    for run in runs:
      path = run.config.split(':')[0]
      with open(path, encoding='utf-8'):
        pass
      assert all('=' in kv for kv in run.overrides), run
      assert ',' not in run.name, f'--only cannot name {run.name!r}'


def test_a_suite_budget_never_overrides_a_field_the_run_sets_itself():
  run = accuracy.Run('r', 'configs/mnist_sdgm.py', ('alpha=100', 'seed=1'))
  (with_budget,) = accuracy._with(('alpha=10', 'ema_decay=0'), run)
  assert with_budget.overrides == ('ema_decay=0', 'alpha=100', 'seed=1')


def test_sdgm_runs_measured_before_the_present_defaults_still_state_them():
  # mnist_sdgm now defaults to alpha 100, EMA 0.999, labeled_shear 0.4 and
  # z = a = 16; the older rows of docs/results.md were measured with
  # alpha 10 and no EMA, or with the two but no shear, or with the shear
  # and z = a = 100.
  for suite, runs in accuracy.SUITES.items():
    for run in runs:
      if (suite in accuracy.SUITES_AT_PRESENT_DEFAULTS
          or run.config != 'configs/mnist_sdgm.py'):
        continue
      fields = {accuracy._field(kv) for kv in run.overrides}
      assert {'model.latent_dim', 'model.aux_dim'} <= fields, run
      if suite in accuracy.SUITES_AT_SHEAR_DEFAULTS:
        continue
      assert 'data.labeled_shear' in fields, run
      if suite not in accuracy.SUITES_AT_97_DEFAULTS:
        assert {'alpha', 'ema_decay', 'num_train_steps'} <= fields, run


def test_the_sdgm_suites_keep_the_latent_sizes_they_were_measured_with():
  overrides = {r.name: r.overrides
               for r in accuracy.SUITES['sdgm_small_latents']}
  assert 'model.latent_dim=16' in overrides['SDGM z16 a16 no shear']
  (before,) = accuracy.SUITES['sdgm_shear']
  assert 'model.latent_dim=100' in before.overrides
  (ablation_sdgm,) = [r for r in accuracy.SUITES['ablation_mnist']
                      if r.name == 'SDGM']
  assert 'model.aux_dim=100' in ablation_sdgm.overrides


def test_m1m2_runs_state_the_settings_they_were_measured_with():
  # mnist_m1m2 weighted its labeled bound 1 before it took 0.002, and had
  # other network sizes and 8,900 steps before it took Kingma et al.'s and
  # 80k; a row measured under any of them must keep reproducing if the
  # defaults move again.
  for runs in accuracy.SUITES.values():
    for run in runs:
      if run.config == 'configs/mnist_m1m2.py':
        fields = {accuracy._field(kv) for kv in run.overrides}
        assert {'labeled_weight', 'model.m1_hidden', 'model.hidden',
                'num_train_steps'} <= fields, run


def test_curve_table_means_only_steps_every_run_reached():
  from tools import curve_table  # pylint: disable=g-import-not-at-top
  table = curve_table.curve_table(
      {'a': {1000: 0.5, 2000: 0.75}, 'b': {1000: 0.7}}, [1000, 2000])
  assert table.splitlines() == [
      '| run | 1,000 | 2,000 |',
      '| --- | ---: | ---: |',
      '| a | 50.00 | 75.00 |',
      '| b | 70.00 |  |',
      '| mean of 2 | 60.00 |  |',
  ]


def test_curve_table_counts_a_confusion_cell_from_evals_jsonl(tmp_path):
  from tools import curve_table  # pylint: disable=g-import-not-at-top
  with open(tmp_path / 'evals.jsonl', 'w', encoding='utf-8') as f:
    for step, n in ((10, 3), (20, 5), (20, 4)):  # 20 again: a resumed run.
      f.write(json.dumps({'step': step,
                          'confusion': [[9, 1], [n, 7]]}) + '\n')
    f.write(json.dumps({'step': 25, 'miou': 0.5}) + '\n')
  curve = run_logs.confusion_curve(str(tmp_path), 1, 0)
  assert curve == {10: 3, 20: 4}
  table = curve_table.curve_table({'a': curve, 'b': {10: 4}}, [10, 20],
                                  counts=True)
  assert table.splitlines()[2:] == ['| a | 3 | 4 |', '| b | 4 |  |',
                                    '| mean of 2 | 3.5 |  |']
  (tmp_path / 'seg').mkdir()
  (tmp_path / 'seg' / 'evals.jsonl').write_text('{"step": 5, "miou": 0.5}')
  with pytest.raises(ValueError, match='holds no confusion matrix'):
    run_logs.confusion_curve(str(tmp_path / 'seg'), 1, 0)


@pytest.mark.parametrize('path,name', [
    ('results/seed1.m2.metrics.jsonl', 'seed1.m2'),
    ('runs/seed0/m2/metrics.jsonl', 'm2'),
    ('runs/seed0/m2/', 'm2'),
    ('results/sdgm_seed3.evals.jsonl', 'sdgm_seed3'),
    ('runs/seed0/m2/evals.jsonl', 'm2'),
])
def test_curve_table_names_runs_after_their_file_or_workdir(path, name):
  from tools import curve_table  # pylint: disable=g-import-not-at-top
  assert curve_table.run_name(path) == name


# The docs that give `python -m benchmarks.accuracy` commands.
RESULT_DOCS = ('README.md', 'docs/results.md', 'docs/camvid.md')


@pytest.mark.parametrize('doc', RESULT_DOCS)
def test_every_accuracy_command_in_a_results_doc_names_a_suite_and_its_runs(
    doc):
  with open(doc, encoding='utf-8') as f:
    text = f.read().replace('\\\n', ' ')
  commands = [line.split('python -m benchmarks.accuracy', 1)[1]
              for line in text.split('\n')
              if 'python -m benchmarks.accuracy' in line]
  assert commands
  for command in commands:
    flags = [a[2:].partition('=') for a in
             shlex.split(command.split('  #')[0]) if a.startswith('--')]
    args = {name: value for name, _, value in flags}
    suite = args.get('suite')
    assert suite in accuracy.SUITES, f'{doc}: no suite {suite!r}'
    names = {run.name for run in accuracy.SUITES[suite]}
    for name in args.get('only', '').split(',') if 'only' in args else ():
      assert name in names, f'{doc}: suite {suite} has no run {name!r}'


def test_compiled_flops_of_a_matmul_are_counted():
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from benchmarks import flops  # pylint: disable=g-import-not-at-top
  a, b = jnp.ones((64, 32)), jnp.ones((32, 16))
  gflop = flops.compiled_gflop(jax.jit(lambda a, b: a @ b), a, b)
  assert gflop == pytest.approx(2 * 64 * 32 * 16 / 1e9)
