"""Errors raised by the data package."""

from m2vae_jax.errors import UserError


class DataError(UserError):
  """A data problem the user can fix (missing folder, wrong layout, bad file).

  The message is one line that names the offending path and says what was
  expected there; entry points report it as that line, without a traceback.
  """
