"""The trainer: a tiny run end to end, resume, devices, bad numbers."""

import json
import logging
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from m2vae_jax import checkpointing
from m2vae_jax import metric_writers
from m2vae_jax import metrics as metrics_lib
from m2vae_jax import objectives
from m2vae_jax import sharding
from m2vae_jax import train
from m2vae_jax.data.errors import DataError
from m2vae_jax.errors import ConfigError
from tests.conftest import NUM_DEVICES
from tests.conftest import assert_same_step
from tests.conftest import load_config


@pytest.fixture(name='config')
def config_fixture(idx_dir, tfds_dir):
  def make(name='mnist_m2', **overrides):
    overrides.setdefault('data.idx_dir', idx_dir)
    overrides.setdefault('data.tfds_data_dir', tfds_dir)
    return load_config(name, **overrides)
  return make


def _read_jsonl(path):
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f]


def test_tiny_m2_run_writes_the_workdir(config, tmp_path):
  workdir = str(tmp_path / 'run')
  result = train.train_and_evaluate(config(), workdir)
  with open(os.path.join(workdir, 'eval.json'), encoding='utf-8') as f:
    saved = json.load(f)
  assert saved == result
  assert saved['step'] == 6 and saved['split'] == 'test'
  assert saved['num_examples'] == 60  # The whole split, padding dropped.
  # Chance is 0.1; six steps on the learnable fake digits reach 0.2
  # (12 of 60, measured), where a broken step or eval stays at chance.
  assert saved['accuracy'] >= 0.15
  # Which classes it confuses: rows are the true classes of all 60 images.
  confusion = np.array(saved['confusion'])
  assert confusion.shape == (10, 10) and confusion.sum() == 60
  assert np.trace(confusion) / 60 == pytest.approx(saved['accuracy'])
  np.testing.assert_allclose(saved['per_class_accuracy'],
                             np.diag(confusion) / confusion.sum(1))
  records = _read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  train_steps = [r['step'] for r in records if 'train_loss' in r]
  assert train_steps == [2, 4, 6]
  for key in ('train_labeled_loss', 'train_unlabeled_loss',
              'train_classification_loss', 'train_accuracy'):
    assert np.isfinite(records[0][key])
  assert any('eval_accuracy' in r for r in records)
  assert os.listdir(os.path.join(workdir, 'tb'))
  assert os.path.getsize(os.path.join(workdir, 'analogies.png')) > 1000
  assert os.path.getsize(os.path.join(workdir, 'confusion.png')) > 1000
  with open(os.path.join(workdir, 'config.json'), encoding='utf-8') as f:
    assert json.load(f)['alpha'] == 100.0


def test_confusion_image_shades_each_true_class_by_its_shares():
  from m2vae_jax import figures  # pylint: disable=g-import-not-at-top
  image = figures.confusion_image([[90, 10], [0, 5]], 'test, step 6')
  assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
  # The darkest pixels are the full cells: 90 of 100 and 5 of 5.
  blue = image[..., 2].astype(int) - image[..., 0]
  assert blue.max() > 100
  empty = figures.confusion_image([[0, 0], [0, 0]], 'nothing')
  assert (empty[..., 2].astype(int) - empty[..., 0]).max() < 20


def test_every_evaluation_is_kept_whole_and_its_errors_logged(
    config, tmp_path, caplog):
  caplog.set_level(logging.INFO)
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config(eval_every_steps=2, num_train_steps=4),
                           workdir)
  # A run killed after evaluating step 5, before its checkpoint, left this.
  with open(os.path.join(workdir, 'evals.jsonl'), 'a', encoding='utf-8') as f:
    f.write(json.dumps({'step': 5, 'accuracy': -1.0}) + '\n')
  result = train.train_and_evaluate(config(eval_every_steps=2), workdir)
  records = _read_jsonl(os.path.join(workdir, 'evals.jsonl'))
  assert [r['step'] for r in records] == [2, 4, 6]
  for r in records:
    assert np.sum(r['confusion']) == 60 and len(r['per_class_accuracy']) == 10
  last = {k: v for k, v in records[-1].items() if k not in ('step', 'time')}
  assert last == {k: v for k, v in result.items() if k != 'step'}
  errors = ', '.join(f'{t}->{p} {n}' for n, t, p in
                     metrics_lib.largest_errors(result['confusion'], 3))
  assert any(r.getMessage().startswith('eval at step 6 on test: ')
             and r.getMessage().endswith(
                 f'; largest errors true->predicted: {errors}')
             for r in caplog.records)


def test_baseline_trains_only_the_classifier(config, tmp_path):
  trainer = train.Trainer(config('mnist_baseline'), str(tmp_path / 'b'))
  state = trainer.init_state()
  assert set(state.params['params']) == {'classifier'}
  result = trainer.run()
  assert result['step'] == 6


def test_label_seed_fixes_the_labels_while_seed_varies_the_rest(
    config, tmp_path):
  def trainer(name, **overrides):
    return train.Trainer(config(**overrides), str(tmp_path / name))
  by_seed = {s: trainer(f's{s}', seed=s) for s in (0, 1)}
  pinned = trainer('pinned', seed=1, **{'data.label_seed': 0})
  assert not np.array_equal(by_seed[0].labeled_indices,
                            by_seed[1].labeled_indices)
  np.testing.assert_array_equal(pinned.labeled_indices,
                                by_seed[0].labeled_indices)
  # Batches and initial weights still follow `seed`.
  batch = lambda t: t.unlabeled_stream.global_indices(3)
  np.testing.assert_array_equal(batch(pinned), batch(by_seed[1]))
  assert not np.array_equal(batch(pinned), batch(by_seed[0]))
  weights = lambda t: np.concatenate(
      [np.ravel(w) for w in jax.tree.leaves(t.init_state().params)])
  np.testing.assert_array_equal(weights(pinned), weights(by_seed[1]))
  assert not np.array_equal(weights(pinned), weights(by_seed[0]))


def test_labeled_indices_give_the_labels_outright(config, tmp_path):
  drawn = train.Trainer(config(), str(tmp_path / 'drawn')).labeled_indices
  # The draw with two examples swapped for two it left out, given unsorted.
  left_out = np.setdiff1d(np.arange(drawn.max() + 3), drawn)[:2]
  given = [int(i) for i in left_out] + [int(i) for i in drawn[2:][::-1]]
  trainer = train.Trainer(config(**{'data.labeled_indices': tuple(given)}),
                          str(tmp_path / 'given'))
  np.testing.assert_array_equal(trainer.labeled_indices, np.sort(given))
  # The labeled batches come from the given examples only.
  batch = trainer.labeled_stream.global_indices(4)
  assert set(np.ravel(batch)) <= set(given)


@pytest.mark.parametrize('given, num_labeled, error, message', [
    ((3, 1), None, ConfigError, 'data.labeled_indices holds 2 indices but '
     'data.num_labeled=NUM; set data.num_labeled=2'),
    ((5, 7, 5), 3, ConfigError,
     'data.labeled_indices names index 5 more than once'),
    ((0, 10**6), 2, DataError, 'data.labeled_indices holds 1000000, outside '
     'the training split (indices 0-NUM)'),
])
def test_bad_labeled_indices_are_named(config, tmp_path, given, num_labeled,
                                       error, message):
  overrides = {'data.labeled_indices': given}
  if num_labeled is not None:
    overrides['data.num_labeled'] = num_labeled
  pattern = re.escape(message).replace('NUM', r'\d+')
  with pytest.raises(error, match=f'^{pattern}$'):
    train.Trainer(config(**overrides), str(tmp_path / 'w'))


@pytest.mark.parametrize('field,value',
                         [('labeled_shift', 2), ('labeled_shear', 0.4)])
def test_labeled_augmentation_moves_only_the_labeled_batch(
    config, tmp_path, field, value):
  plain = train.Trainer(config(), str(tmp_path / 'p'))
  moved = train.Trainer(config(**{f'data.{field}': value}),
                        str(tmp_path / 'm'))
  batches = lambda t: t.host_batches(3)
  (l_plain, u_plain), (l_moved, u_moved) = batches(plain), batches(moved)
  np.testing.assert_array_equal(l_moved['label'], l_plain['label'])
  np.testing.assert_array_equal(u_moved['image'], u_plain['image'])
  changed = [not np.array_equal(a, b)
             for a, b in zip(l_moved['image'], l_plain['image'])]
  assert sum(changed) > len(changed) // 2  # 1 in 25 offsets is (0, 0).
  ink = lambda b, rows=slice(None): b['image'][:, rows].astype(float).sum(
      (1, 2, 3))
  if field == 'labeled_shift':
    # Translation keeps the ink that stays inside the frame, and adds none.
    assert np.all(ink(l_moved) <= ink(l_plain))
  else:
    # The two middle rows of a 28-row digit move a fifth of a pixel at
    # most (factor 0.4 times half a row), so their ink stays about the same.
    middle = slice(13, 15)
    assert abs(ink(l_moved, middle).sum() - ink(l_plain, middle).sum()) < (
        0.2 * ink(l_plain, middle).sum())
  assert moved.run()['step'] == 6  # It trains (accuracy: still chance).


@pytest.mark.parametrize('field', ['labeled_shift', 'labeled_shear'])
def test_negative_labeled_augmentation_is_refused(config, tmp_path, field):
  with pytest.raises(ConfigError, match=f'data.{field}=-1'):
    train.Trainer(config(**{f'data.{field}': -1}), str(tmp_path / 'n'))


def test_negative_block_repeats_are_refused(config, tmp_path):
  c = config('digit_scenes_m2', **{'model.max_block_repeats': -1})
  with pytest.raises(ConfigError, match='model.max_block_repeats=-1 must'):
    train.Trainer(c, str(tmp_path / 'n'))


def test_the_step_is_compiled_once(config, tmp_path):
  trainer = train.Trainer(config(), str(tmp_path / 'c'))
  trainer.run()
  assert trainer.train_step._cache_size() == 1


def test_rerun_resumes_and_matches_an_uninterrupted_run(config, tmp_path):
  straight = train.train_and_evaluate(config(), str(tmp_path / 'straight'))
  workdir = str(tmp_path / 'split')
  first = train.train_and_evaluate(config(num_train_steps=4), workdir)
  assert first['step'] == 4
  second = train.train_and_evaluate(config(), workdir)
  assert second == straight
  steps = [r['step'] for r in _read_jsonl(os.path.join(workdir,
                                                       'metrics.jsonl'))
           if 'train_loss' in r]
  assert steps == [2, 4, 6]  # The second run started at step 4.
  # Running the finished experiment again changes nothing.
  assert train.train_and_evaluate(config(), workdir) == straight


def test_resume_drops_what_a_killed_run_logged_after_its_checkpoint(
    config, tmp_path):
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / 'killed')
  train.train_and_evaluate(config(num_train_steps=4), workdir)
  # A run killed after logging step 6 but before checkpointing it leaves
  # step 6 in both logs (the last JSONL line half written).
  stale = metric_writers.TensorBoardWriter(os.path.join(workdir, 'tb'), 4)
  stale.write_scalars(6, {'train_loss': -123.0})
  stale.close()
  with open(os.path.join(workdir, 'metrics.jsonl'), 'a',
            encoding='utf-8') as f:
    f.write(json.dumps({'step': 6, 'train_loss': -123.0}) + '\n')
    f.write('{"step": 7, "train_lo')
  train.train_and_evaluate(config(), workdir)
  records = _read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  losses = {r['step']: r['train_loss'] for r in records if 'train_loss' in r}
  assert [r['step'] for r in records if 'train_loss' in r] == [2, 4, 6]
  assert losses[6] != -123.0
  tb = event_accumulator.EventAccumulator(os.path.join(workdir, 'tb'))
  tb.Reload()
  events = tb.Scalars('train_loss')
  assert [e.step for e in events] == [2, 4, 6]
  assert events[-1].value == pytest.approx(losses[6])


def test_ema_averages_the_iterates_and_is_what_evaluation_reports(
    config, tmp_path):
  trainer = train.Trainer(config(ema_decay=0.5), str(tmp_path / 'ema'))
  state = trainer.init_state()
  expected = jax.device_get(state.params)
  for step in range(3):
    state, _ = trainer.train_step(
        state, *trainer.put_batches(*trainer.host_batches(step)))
    d = min(0.5, (1 + step) / (10 + step))
    expected = jax.tree.map(lambda e, p, d=d: d * e + (1 - d) * p, expected,
                            jax.device_get(state.params))
  jax.tree.map(lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-5,
                                                       atol=1e-7),
               jax.device_get(state.ema_params), expected)
  result = trainer.evaluator.evaluate_state(state)
  assert result['accuracy'] == trainer.evaluator.evaluate(
      state.ema_params)['accuracy']
  assert result['raw_accuracy'] == trainer.evaluator.evaluate(
      state.params)['accuracy']


def test_ema_off_keeps_the_state_without_an_average(config, tmp_path):
  trainer = train.Trainer(config(), str(tmp_path / 'plain'))
  state = trainer.init_state()
  assert state.ema_params is None and state.eval_params is state.params
  assert 'raw_accuracy' not in trainer.evaluator.evaluate_state(state)


def test_rerun_with_ema_resumes_its_average(config, tmp_path):
  straight = train.train_and_evaluate(config(ema_decay=0.9),
                                      str(tmp_path / 'straight'))
  workdir = str(tmp_path / 'split')
  train.train_and_evaluate(config(ema_decay=0.9, num_train_steps=4),
                           workdir)
  assert train.train_and_evaluate(config(ema_decay=0.9), workdir) == straight
  assert 'raw_accuracy' in straight


def test_resume_refuses_a_different_experiment(config, tmp_path):
  workdir = str(tmp_path / 'w')
  train.train_and_evaluate(config(num_train_steps=2), workdir)
  with pytest.raises(ConfigError, match='alpha: 100.0 -> 3.0'):
    train.train_and_evaluate(config(alpha=3.0), workdir)


def test_resume_takes_fields_added_since_the_run_as_their_defaults(
    config, tmp_path):
  workdir = tmp_path / 'w'
  saved_config = workdir / 'config.json'

  def forget_weight_decay():  # As if saved before the field existed.
    saved = json.loads(saved_config.read_text())
    del saved['weight_decay']
    saved_config.write_text(json.dumps(saved))

  train.train_and_evaluate(config(num_train_steps=2), str(workdir))
  forget_weight_decay()
  assert train.train_and_evaluate(config(num_train_steps=4),
                                  str(workdir))['step'] == 4
  forget_weight_decay()  # The resumed run saved the field again.
  with pytest.raises(ConfigError, match='weight_decay: 0.0 -> 0.5'):
    train.train_and_evaluate(config(weight_decay=0.5), str(workdir))


def test_one_step_on_one_device_equals_one_step_on_eight(config, tmp_path):
  assert jax.device_count() == NUM_DEVICES
  c = config()
  outs = []
  for n in (1, NUM_DEVICES):
    mesh = sharding.create_mesh(jax.devices()[:n])
    trainer = train.Trainer(c, str(tmp_path / f'd{n}'), mesh=mesh)
    state = trainer.init_state()
    labeled, unlabeled = trainer.put_batches(*trainer.host_batches(0))
    assert len(labeled['image'].sharding.device_set) == n
    outs.append(jax.device_get(trainer.train_step(state, labeled, unlabeled)))
  assert_same_step(*outs)


def _evaluate_at_init(cfg, workdir):
  """Trainer.evaluate on the initial parameters."""
  trainer = train.Trainer(cfg, str(workdir))
  return trainer.evaluator.evaluate(trainer.init_state().params)


@pytest.mark.parametrize('eval_binarize', [False, True])
def test_eval_does_not_depend_on_the_eval_batch_size(config, tmp_path,
                                                     eval_binarize):
  results = [_evaluate_at_init(config(eval_batch_size=size, **{
      'data.eval_binarize': eval_binarize}), tmp_path / f'e{size}')
             for size in (8, 16, 64)]
  assert results[0] == results[1] == results[2]
  assert results[0]['num_examples'] == 60


@pytest.mark.parametrize('eval_binarize', [False, True])
def test_predict_gives_the_classes_evaluate_counts(config, tmp_path,
                                                   eval_binarize):
  """60 examples in batches of 16: the padding of the last batch is cut,
  a binarized eval sample is the one evaluate draws, and one device
  predicts what eight do."""
  c = config('mnist_sdgm', eval_batch_size=16,
             **{'data.eval_binarize': eval_binarize})
  predicted = {}
  for n in (1, NUM_DEVICES):
    trainer = train.Trainer(c, str(tmp_path / f'd{n}'),
                            mesh=sharding.create_mesh(jax.devices()[:n]))
    params = trainer.init_state().params
    predicted[n] = trainer.evaluator.predict(params)
    labels = trainer.data.eval['label']
    confusion = metrics_lib.confusion_matrix(labels, predicted[n], 10)
    assert np.asarray(confusion).tolist() == trainer.evaluator.evaluate(params)[
        'confusion']
  assert predicted[1].shape == (60,)
  assert len(np.unique(predicted[1])) > 2  # Not one class for everything.
  np.testing.assert_array_equal(predicted[1], predicted[NUM_DEVICES])


def test_auxiliary_eval_reports_whether_a_is_used(config, tmp_path):
  """ADGM / SDGM evaluations add the a statistics; padding (60 examples in
  batches of 16 or 64) does not change the spread or noise of q(a|x)."""
  one, other = [_evaluate_at_init(config('mnist_sdgm', eval_batch_size=size),
                                  tmp_path / f'e{size}') for size in (16, 64)]
  assert one['accuracy'] == other['accuracy']
  for k in ('a_spread', 'a_std'):
    assert one[k] > 0.0
    assert one[k] == pytest.approx(other[k], rel=1e-5)
  # At init q(y|x,a) reads a, so another image's a moves some predictions
  # (a third of them, measured); which image is "another" depends on the
  # batch, so this share, unlike the two above, does.
  assert one['changed_by_a'] > 0.1 and other['changed_by_a'] > 0.1
  assert 'a_spread' not in _evaluate_at_init(config(), tmp_path / 'm2')


def test_the_manager_decides_when_to_save(tmp_path):
  """Multiples of the interval, never the first step of a fresh run (orbax's
  default would save there), never a step already saved."""
  manager = checkpointing.create_manager(str(tmp_path), save_every_steps=3,
                                         async_save=False)
  assert [s for s in range(1, 8) if manager.should_save(s)] == [3, 6]
  checkpointing.save(manager, 3, {'w': np.zeros(2)}, {'step': 3})
  assert not manager.should_save(3)
  assert manager.should_save(6)
  manager.close()


@pytest.fixture(name='nan_from_step_3')
def nan_from_step_3_fixture(monkeypatch):
  """Makes the Gumbel temperature NaN from step 3 on: U(x) goes NaN."""
  real = objectives.temperature
  monkeypatch.setattr(objectives, 'temperature', lambda c, step: jnp.where(
      step >= 3, jnp.nan, real(c, step)))


def test_a_nan_stops_the_run_and_keeps_the_last_good_checkpoint(
    config, tmp_path, nan_from_step_3):
  del nan_from_step_3
  workdir = str(tmp_path / 'nan')
  with pytest.raises(train.TrainingDiverged,
                     match=r'step 4: .*unlabeled_loss.*\(step 2\)'):
    train.train_and_evaluate(config(estimator='gumbel'), workdir)
  manager = checkpointing.create_manager(workdir)
  assert manager.latest_step() == 2
  manager.close()
  assert not os.path.exists(os.path.join(workdir, 'eval.json'))


def test_nonfinite_steps_can_be_skipped(config, tmp_path, nan_from_step_3):
  del nan_from_step_3
  trainer = train.Trainer(config(estimator='gumbel', skip_nonfinite_steps=True),
                          str(tmp_path / 'skip'))
  result = trainer.run()
  assert result['step'] == 6
  manager = checkpointing.create_manager(str(tmp_path / 'skip'))
  state, _ = checkpointing.restore_latest(manager, trainer.init_state())
  manager.close()
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))


def test_mixed_precision_computes_in_bfloat16_keeps_float32_state(
    config, tmp_path):
  trainer = train.Trainer(config(compute_dtype='bfloat16'),
                          str(tmp_path / 'bf16'))
  state = trainer.init_state()
  batches = trainer.put_batches(*trainer.host_batches(0))
  hlo = trainer.train_step.lower(state, *batches).as_text()
  dots = [line for line in hlo.splitlines() if 'dot_general' in line]
  assert dots and all('bf16' in line for line in dots
                      if 'tensor<' in line and 'xf32>' not in line)
  assert any('bf16' in line for line in dots)
  state, metrics = trainer.train_step(state, *batches)
  dtypes = {x.dtype for x in jax.tree.leaves(state.params)}
  assert dtypes == {np.dtype('float32')}
  assert all(np.isfinite(v).all() for v in jax.device_get(metrics).values())


@pytest.mark.parametrize('overrides', [
    {'bound': 'iwae', 'num_samples': 3},
    {'kl_warmup_steps': 4},
    {'likelihood': 'continuous_bernoulli', 'data.binarize': False},
    {'estimator': 'straight_through', 'entropy': 'sample', 'kl': 'sample'},
    {'model.norm': 'layer'},
    {'model.weight_init': 'maaloe'},
    {'marginal_weight': 10.0},
])
def test_objective_variants_take_a_finite_step(config, tmp_path, overrides):
  trainer = train.Trainer(config(**overrides), str(tmp_path / 'v'))
  state = trainer.init_state()
  state, metrics = trainer.train_step(
      state, *trainer.put_batches(*trainer.host_batches(0)))
  metrics = jax.device_get(metrics)
  assert all(np.isfinite(v).all() for v in metrics.values())
  assert metrics['nonfinite'][0] == 0
  if 'kl_warmup_steps' in overrides:
    assert metrics['kl_weight'][0] == 0.0  # Step 0: no z term yet.
  # The temperature is logged only where y is drawn relaxed.
  assert ('temperature' in metrics) == ('estimator' in overrides)
  assert ('marginal_kl' in metrics) == ('marginal_weight' in overrides)


@pytest.mark.parametrize('name', ['mnist_adgm', 'mnist_sdgm', 'mnist_m1m2'])
def test_other_model_configs_train(config, tmp_path, name):
  # With the marginal term, which each model's objective must carry.
  # Six steps leave these models at chance: what must hold is that they
  # train and their terms stay finite.
  result = train.train_and_evaluate(config(name, marginal_weight=10.0),
                                    str(tmp_path / name))
  assert result['step'] == 6
  with open(tmp_path / name / 'metrics.jsonl', encoding='utf-8') as f:
    last = [json.loads(line) for line in f if 'train_loss' in line][-1]
  assert np.isfinite(last['train_unlabeled_loss'])
  assert np.isfinite(last['train_marginal_kl'])


@pytest.mark.parametrize('name', ['mnist_adgm', 'mnist_sdgm'])
def test_maaloe_code_settings_train(idx_dir, tfds_dir, tmp_path, name):
  c = load_config(name, 'maaloe,tiny', **{'data.idx_dir': idx_dir,
                                           'data.tfds_data_dir': tfds_dir})
  # Set for the full config (100 labels, batches of 100), before 'tiny'.
  assert (c.alpha, c.kl_warmup_steps, c.lr_schedule) == (50.0, 0, 'step')
  assert (c.lr_decay_every_steps, c.weight_decay) == (100_000, 2e-5)
  assert c.model.weight_init == 'maaloe'
  full = load_config(name, 'maaloe')
  assert full.num_train_steps == 500_000
  assert train.train_and_evaluate(c, str(tmp_path / name))['step'] == 6


def test_tiny_twins_keep_their_configs_depths():
  # The twin must exercise the same layers: mnist_m1m2's M2 has one.
  for name in ('mnist_m2', 'mnist_sdgm', 'mnist_m1m2'):
    full, tiny = load_config(name, ''), load_config(name)
    for field in ('hidden', 'm1_hidden'):
      assert len(tiny.model[field]) == len(full.model[field]), (name, field)
      assert max(tiny.model[field]) < min(full.model[field]), (name, field)
  assert load_config('mnist_m1m2').model.hidden == (32,)


def test_m1m2_trains_m1_first_then_only_m2(config, tmp_path):
  trainer = train.Trainer(config('mnist_m1m2'), str(tmp_path / 'm1m2'))
  m1_steps = trainer.config.model.m1_steps
  state = trainer.init_state()
  split = lambda p: ({k: v for k, v in p['params'].items()
                      if k.startswith('m1_')},
                     {k: v for k, v in p['params'].items()
                      if not k.startswith('m1_')})
  history = [jax.device_get(split(state.params))]
  for step in range(m1_steps + 2):
    state, _ = trainer.train_step(
        state, *trainer.put_batches(*trainer.host_batches(step)))
    history.append(jax.device_get(split(state.params)))
  same = lambda a, b: all(np.array_equal(x, y) for x, y in
                          zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  m1, m2 = 0, 1
  assert not same(history[0][m1], history[m1_steps][m1])  # M1 learned.
  assert same(history[0][m2], history[m1_steps][m2])      # M2 waited.
  assert same(history[m1_steps][m1], history[-1][m1])     # M1 frozen.
  assert not same(history[m1_steps][m2], history[-1][m2])  # M2 learns.


def test_m1m2_logs_the_terms_of_the_phase_it_is_in(config, tmp_path, caplog):
  # Steps 1-2 are M1's, 3-4 straddle the switch (m1_steps = 3), 5-6 are
  # M2's: a term no step of an interval measured is left out, not NaN.
  caplog.set_level(logging.INFO)
  workdir = str(tmp_path / 'm1m2')
  train.train_and_evaluate(config('mnist_m1m2', log_every_steps=2), workdir)
  logged = {r['step']: r for r in _read_jsonl(
      os.path.join(workdir, 'metrics.jsonl')) if 'train_loss' in r}
  assert sorted(logged) == [2, 4, 6]
  assert all(np.isfinite(v) for r in logged.values() for v in r.values())
  has = lambda step, name: f'train_{name}' in logged[step]
  assert has(2, 'm1_loss') and not has(2, 'labeled_loss')
  assert has(4, 'm1_loss') and has(4, 'labeled_loss')
  assert not has(6, 'm1_loss') and has(6, 'accuracy')
  lines = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith('step ')]
  assert len(lines) == 3 and not any('nan' in line for line in lines)
  assert ' M1 ' in lines[0] and ' L ' not in lines[0]
  assert ' M1 ' not in lines[2] and ' acc ' in lines[2]
