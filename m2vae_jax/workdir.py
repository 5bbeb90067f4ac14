"""A trained run back from its workdir, without its training data.

The trainer writes `task.json` beside `config.json`: what the networks were
built for (classes, input shape, whether they segment, the label colours).
With both, `load_run(workdir)` rebuilds the model and restores the newest
checkpoint's parameters, so a run can be used on new images
(`experiments/predict.py`) on a machine that has only the workdir.
"""

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from m2vae_jax import checkpointing
from m2vae_jax import default_config
from m2vae_jax.errors import ConfigError

CONFIG_FILE = 'config.json'
TASK_FILE = 'task.json'


@dataclasses.dataclass(frozen=True)
class Run:
  """A trained run: its config, task, model and evaluation parameters."""

  config: ml_collections.ConfigDict
  task: Any                 # m2vae_jax.task.Task
  model: Any                # the Flax module of registry.create_model
  params: Any               # the moving average's if the run kept one
  step: int
  palette: np.ndarray | None = None


def write_task(workdir: str, task, palette: np.ndarray | None) -> None:
  """Writes task.json (atomically) for `load_run`."""
  record = {'num_classes': task.num_classes,
            'image_shape': list(task.image_shape),
            'segmentation': task.segmentation,
            'palette': None if palette is None else palette.tolist()}
  write_json_atomic(os.path.join(workdir, TASK_FILE), record)


def _saved_fields(path: str, defaults: dict[str, Any]) -> dict[str, Any]:
  """The flat fields of a saved config.json, those it lacks (added to the
  library since) taken from the flat `defaults`."""
  with open(path, encoding='utf-8') as f:
    saved = default_config.flatten(ml_collections.ConfigDict(json.load(f)))
  return default_config.saved_with_defaults(saved, defaults)


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's config.json, with fields added to the library since filled
  in from their defaults.

  Raises:
    ConfigError: if the folder holds no config.json.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise ConfigError(f'{workdir} holds no config.json: is it a workdir of '
                      'experiments.train?')
  flat = _saved_fields(
      path, default_config.flatten(default_config.get_default_config()))
  config = ml_collections.ConfigDict()
  for dotted, value in flat.items():
    node = config
    *parents, leaf = dotted.split('.')
    for p in parents:
      if p not in node:
        node[p] = ml_collections.ConfigDict()
      node = node[p]
    node[leaf] = tuple(value) if isinstance(value, list) else value
  return config


def load_run(workdir: str) -> Run:
  """The model and newest parameters of the run in `workdir`.

  Raises:
    ConfigError: the folder is not a workdir, was made before task.json
      existed, or holds no checkpoint.
  """
  from m2vae_jax import optim  # pylint: disable=g-import-not-at-top
  from m2vae_jax import train  # pylint: disable=g-import-not-at-top
  from m2vae_jax.models import registry  # pylint: disable=g-import-not-at-top
  from m2vae_jax.task import Task  # pylint: disable=g-import-not-at-top
  config = read_config(workdir)
  path = os.path.join(workdir, TASK_FILE)
  if not os.path.exists(path):
    raise ConfigError(f'{workdir} holds no {TASK_FILE} (the run predates '
                      'it): run its training command once more, which '
                      'resumes at the last step and writes it')
  with open(path, encoding='utf-8') as f:
    record = json.load(f)
  task = Task(num_classes=record['num_classes'],
              image_shape=tuple(record['image_shape']),
              segmentation=record['segmentation'])
  model = registry.create_model(config, task)
  tx = optim.create_optimizer(config, max(int(config.num_train_steps), 1))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(
      lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
      jax.eval_shape(lambda: train.create_train_state(config, model, tx,
                                                      task)))
  manager = checkpointing.create_manager(workdir, async_save=False)
  try:
    restored = checkpointing.restore_latest(manager, abstract)
  finally:
    manager.close()
  if restored is None:
    raise ConfigError(f'{workdir} holds no checkpoint')
  state, data_state = restored
  palette = record.get('palette')
  return Run(config=config, task=task, model=model, params=state.eval_params,
             step=int(data_state['step']),
             palette=None if palette is None else np.asarray(palette,
                                                             np.uint8))


def check_resumable(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Refuses to resume a workdir made with a different experiment.

  A field the saved config lacks counts as its default
  (`default_config.saved_with_defaults`), so old workdirs still resume.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return
  # Both sides through JSON, as config.json was written: tuples as lists.
  flat = lambda c: default_config.flatten(ml_collections.ConfigDict(
      json.loads(c.to_json_best_effort())))
  new = flat(config)
  old = _saved_fields(path, flat(default_config.get_default_config()))
  changed = default_config.changed_fields(old, new)
  if changed:
    diffs = ', '.join(f'{k}: {old.get(k)!r} -> {new.get(k)!r}'
                      for k in changed[:4])
    raise ConfigError(f'workdir {workdir} holds a run with a different '
                      f'config ({diffs}); use a new --workdir')


def write_json_atomic(path: str, obj: Any) -> None:
  """Writes obj as JSON so that a reader never sees half a file."""
  tmp = f'{path}.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)
