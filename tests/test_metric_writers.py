"""The metric writers' file handling."""

import os
import time

from m2vae_jax import metric_writers


def _event_files(logdir):
  return sorted(n for n in os.listdir(logdir)
                if n.startswith('events.out.tfevents.'))


def test_a_new_event_file_sorts_after_one_made_in_the_same_second(tmp_path):
  # The writer's first import takes seconds; take it before the clock is read.
  metric_writers.TensorBoardWriter(str(tmp_path / 'warm_up')).close()
  # The killed run's file, stamped a second ahead so that a tick between
  # here and the writer cannot make this pass, with a name tail ('~') that
  # sorts after any host, pid and counter.
  killed = f'events.out.tfevents.{int(time.time()) + 1:010d}.~'
  (tmp_path / killed).write_bytes(b'')
  writer = metric_writers.TensorBoardWriter(str(tmp_path), start_step=4)
  writer.close()
  files = _event_files(tmp_path)
  assert len(files) == 2
  assert files[0] == killed


def test_a_file_stamped_far_ahead_does_not_make_the_writer_wait(tmp_path):
  ahead = f'events.out.tfevents.{int(time.time()) + 3600:010d}.host'
  (tmp_path / ahead).write_bytes(b'')
  start = time.time()
  metric_writers.TensorBoardWriter(str(tmp_path)).close()
  assert time.time() - start < 1.0
  assert len(_event_files(tmp_path)) == 2
