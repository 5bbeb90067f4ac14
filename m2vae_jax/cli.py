"""Command-line plumbing shared by `experiments/`: readable logs and a user's
mistake as one line."""

import contextlib
import logging as std_logging
import sys

from absl import logging
import ml_collections

from m2vae_jax.errors import UserError


class QuietLibraries(std_logging.Filter):
  """Keeps the progress lines readable: libraries' INFO chatter (orbax logs
  a dozen lines per checkpoint) is dropped, their warnings are kept."""

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING
            or not any(f'/{lib}/' in record.pathname
                       for lib in ('orbax', 'tensorflow_datasets', 'jax')))


@contextlib.contextmanager
def user_errors_as_one_line():
  """In a command: a problem the user can fix ends the process with one
  line on stderr (exit status 2), without a traceback."""
  try:
    yield
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def run_from_command_line(config: ml_collections.ConfigDict,
                          workdir: str) -> None:
  """`train_and_evaluate` as a command runs it: readable logs and
  `user_errors_as_one_line`."""
  logging.get_absl_handler().addFilter(QuietLibraries())
  from m2vae_jax import train  # pylint: disable=g-import-not-at-top
  with user_errors_as_one_line():
    result = train.train_and_evaluate(config, workdir)
  logging.info('Done: %s', result)
