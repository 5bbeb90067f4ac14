r"""Accuracy of a trained ADGM / SDGM with a at q(a|x)'s mean (what the
trainer reports) against q(y|a,x) averaged over K samples of a (how Maaloe
et al. evaluate), and whether the model uses a at all (`a_spread` near 0:
q(a|x) is the same for every image; `changed_by_a` near 0: the classifier
ignores a):

  python -m tools.aux_eval_samples --workdir=WORKDIR \
      --idx_dir=../shared/data/mnist-dev --samples=1,10,100

Reads the workdir's config.json and newest checkpoint; writes nothing.
"""

import functools

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from m2vae_jax import cli
from m2vae_jax import metrics
from m2vae_jax import objectives
from m2vae_jax.errors import ConfigError
from m2vae_jax.models import registry
from tools import saved_run

_WORKDIR = flags.DEFINE_string('workdir', None, 'A trained ADGM/SDGM run.')
_IDX_DIR = flags.DEFINE_string('idx_dir', '', 'data.idx_dir, if moved.')
_SAMPLES = flags.DEFINE_list('samples', ['1', '10', '100'],
                             'Numbers of samples of a to average over.')
flags.mark_flag_as_required('workdir')


def sampled_accuracy(nets, images: np.ndarray, labels: np.ndarray,
                     num_samples: int, batch: int = 1000) -> float:
  """Accuracy of `metrics.sampled_auxiliary_probs` over a split.

  Args:
    nets: the model's networks (`objectives.networks`).
    images: uint8 [n, 28, 28, 1], seen as intensities like the trainer's
      evaluation; labels: int [n].
  """
  probs = jax.jit(functools.partial(
      metrics.sampled_auxiliary_probs, infer_a=nets.infer_a,
      classify_given_a=nets.classify_given_a, num_samples=num_samples))
  key = jax.random.PRNGKey(0)
  correct = 0
  for start in range(0, len(images), batch):
    x = objectives.prepare_inputs(key, jnp.asarray(images[start:start + batch]),
                             False)
    p = probs(jax.random.fold_in(key, start), x)
    correct += int(np.sum(np.argmax(p, -1) == labels[start:start + batch]))
  return correct / len(images)


def main(argv):
  del argv
  with cli.user_errors_as_one_line():
    run = saved_run.restore(_WORKDIR.value, _IDX_DIR.value)
    config = run.config
    if registry.spec(config).eval_sums is None:
      raise ConfigError(f'{_WORKDIR.value} holds a {config.model.name!r} '
                        'run, not adgm or sdgm')
  # The model the run reports: the moving average if it kept one.
  nets = objectives.networks(run.model, run.params, config)
  data = run.data.eval
  print(f'step {run.step}, {run.data.eval_split} split, '
        f'{len(data["label"])} examples')
  result = run.evaluator.evaluate(run.params)
  print(f'| a at the mean of q(a|x) | {100 * result["accuracy"]:.2f} |')
  for k in _SAMPLES.value:
    acc = sampled_accuracy(nets, data['image'], data['label'], int(k))
    print(f'| q(y|a,x) averaged over {k} samples of a | {100 * acc:.2f} |')
  print(f"a_spread {result['a_spread']:.4f} (std of q(a|x)'s mean across "
        f"images), a_std {result['a_std']:.4f}, changed_by_a "
        f"{100 * result['changed_by_a']:.2f}% (predictions changed by another "
        "image's a)")


if __name__ == '__main__':
  app.run(main)
