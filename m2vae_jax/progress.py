"""What the loop tells the reader: the progress line, means over a logged
interval, and the message of a step that went bad."""

import math

import jax

Metrics = dict[str, jax.Array]  # name -> [sum, count]


def format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def summarize(history: list[Metrics]) -> dict[str, float]:
  """Means over the logged interval from [sum, count] pairs.

  A term counted at no step of the interval (M1+M2's M2 terms while M1
  learns, and the reverse) is left out rather than reported as NaN, which
  would read as a diverged run.
  """
  totals = jax.device_get(jax.tree.map(lambda *xs: sum(xs), *history))
  return {k: float(v[0] / v[1]) for k, v in totals.items() if v[1]}


_SHORT_NAMES = (('loss', 'loss'), ('m1_loss', 'M1'), ('labeled_loss', 'L'),
                ('unlabeled_loss', 'U'), ('classification_loss', 'ce'),
                ('accuracy', 'acc'), ('marginal_kl', 'mkl'),
                ('temperature', 'tau'), ('consistency_loss', 'cons'),
                ('confident_pixels', 'conf'))


def progress_line(step, total, scalars, steps_per_sec) -> str:
  parts = [f'step {step}/{total}']
  for key, short in _SHORT_NAMES:
    if key in scalars:
      parts.append(f'{short} {scalars[key]:.4g}')
  eta = (total - step) / steps_per_sec if steps_per_sec > 0 else 0.0
  parts.append(f'{steps_per_sec:.2f} steps/s')
  parts.append(f'ETA {format_duration(eta)}')
  return ' | '.join(parts)


def nonfinite_message(step: int, metrics: dict[str, float], workdir: str,
                       last_saved: int | None) -> str:
  bad = [k for k, v in metrics.items() if not math.isfinite(v)]
  # Name the terms that went bad, not the totals they feed.
  terms = [k for k in bad if k not in ('loss', 'grad_norm')]
  what = ', '.join(terms or [k for k in bad if k == 'loss'] or
                   ['a gradient'])
  kept = (f'the last good checkpoint (step {last_saved}) is kept in '
          f'{workdir}' if last_saved is not None else 'no checkpoint was saved')
  return (f'step {step}: {what} became NaN or infinite; {kept}. Set '
          '--config.skip_nonfinite_steps=True to skip such steps instead')
