"""Errors the user can fix: the entry point prints them as one line."""


class UserError(ValueError):
  """A bad input or setting, reported as one line without a traceback."""


class ConfigError(UserError):
  """A config field has a value the trainer cannot use."""
