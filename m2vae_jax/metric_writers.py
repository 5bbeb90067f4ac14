"""Metrics to a JSON-lines file and TensorBoard, written by process 0 only.

TensorBoard event files are written with the `tensorboard` package's own
writer, so the trainer never imports TensorFlow.

A resumed run recomputes the steps after its checkpoint, so both writers
take the step it resumes from and drop what a killed run logged after it:
the JSONL file is rewritten without those records, and TensorBoard gets a
SessionLog START event, on which it discards the events at later steps.
"""

import io
import json
import os
import time
from typing import Protocol

import numpy as np


class MetricWriter(Protocol):

  def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
    ...

  def write_images(self, step: int, images: dict[str, np.ndarray]) -> None:
    ...

  def flush(self) -> None:
    ...

  def close(self) -> None:
    ...


class NullWriter:
  """What processes other than 0 get."""

  def write_scalars(self, step, scalars):
    del step, scalars

  def write_images(self, step, images):
    del step, images

  def write_record(self, step, record):
    del step, record

  def flush(self):
    pass

  def close(self):
    pass


def _records_up_to(path: str, last_step: int) -> list[str]:
  """The lines of a JSONL metrics file whose step is <= last_step; a line
  cut short by a kill is dropped."""
  kept = []
  with open(path, encoding='utf-8') as f:
    for line in f:
      try:
        step = json.loads(line)['step']
      except (json.JSONDecodeError, KeyError, TypeError):
        continue
      if step <= last_step:
        kept.append(line if line.endswith('\n') else line + '\n')
  return kept


class JsonlWriter:
  """One JSON object per line: {"step": ..., "time": ..., name: value}.

  Records after `start_step` already in the file (from a run killed after
  its last checkpoint) are removed first.
  """

  def __init__(self, path: str, start_step: int = 0):
    if os.path.exists(path):
      kept = _records_up_to(path, start_step)
      tmp = f'{path}.tmp'
      with open(tmp, 'w', encoding='utf-8') as f:
        f.writelines(kept)
      os.replace(tmp, path)
    self._file = open(path, 'a', encoding='utf-8')  # noqa: SIM115

  def write_scalars(self, step, scalars):
    self.write_record(step, {k: float(v) for k, v in scalars.items()})

  def write_record(self, step: int, record: dict) -> None:
    """Any JSON values (e.g. a whole evaluation with its confusion
    matrix), on one line after "step" and "time"."""
    self._file.write(json.dumps(
        {'step': int(step), 'time': time.time(), **record}) + '\n')

  def write_images(self, step, images):
    del step, images  # Images go to TensorBoard and PNG files.

  def flush(self):
    self._file.flush()

  def close(self):
    self._file.close()


def _png_bytes(image: np.ndarray) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = np.asarray(image)
  if image.dtype != np.uint8:
    image = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format='PNG')
  return buf.getvalue()


_EVENT_FILE_PREFIX = 'events.out.tfevents.'
# A file stamped later than this many seconds ahead comes from a clock that
# was set back; waiting for it would hang the run.
_MAX_WAIT_SECONDS = 2.0


def _wait_to_sort_after_existing_event_files(logdir: str) -> None:
  """Waits until a new event file's name sorts after every one in `logdir`.

  TensorBoard reads a run's event files in name order, and a name is
  `events.out.tfevents.<second>.<host>.<pid>.<counter>`: two files made in
  the same second are ordered by pid and counter compared as text, so "10"
  comes before "9". A resumed run's file read before the killed run's would
  have its START event purge nothing, and the killed run's steps would stay.
  """
  if not os.path.isdir(logdir):
    return
  stamps = []
  for name in os.listdir(logdir):
    if name.startswith(_EVENT_FILE_PREFIX):
      stamp = name[len(_EVENT_FILE_PREFIX):].split('.', 1)[0]
      if stamp.isdigit():
        stamps.append(int(stamp))
  if not stamps:
    return
  latest = max(stamps)
  if latest + 1 - time.time() > _MAX_WAIT_SECONDS:
    return
  while int(time.time()) <= latest:
    time.sleep(0.01)


class TensorBoardWriter:
  """Scalars and images as TensorBoard summaries. Starts with a SessionLog
  START event at start_step + 1: TensorBoard then purges the events of a
  killed earlier run from that step on. Its event file is named to be read
  after any already in `logdir`, which the purge relies on."""

  def __init__(self, logdir: str, start_step: int = 0):
    # pylint: disable=g-import-not-at-top
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
    _wait_to_sort_after_existing_event_files(logdir)
    self._writer = EventFileWriter(logdir)
    self._writer.add_event(event_pb2.Event(
        wall_time=time.time(), step=int(start_step) + 1,
        session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))

  def _write(self, step, values):
    summary = self._summary_pb2.Summary(value=values)
    self._writer.add_event(self._event_pb2.Event(
        wall_time=time.time(), step=int(step), summary=summary))

  def write_scalars(self, step, scalars):
    value = self._summary_pb2.Summary.Value
    self._write(step, [value(tag=k, simple_value=float(v))
                       for k, v in scalars.items()])

  def write_images(self, step, images):
    summary = self._summary_pb2.Summary
    values = []
    for name, image in images.items():
      h, w = np.asarray(image).shape[:2]
      c = 1 if np.asarray(image).ndim == 2 else np.asarray(image).shape[-1]
      values.append(summary.Value(tag=name, image=summary.Image(
          height=h, width=w, colorspace=c,
          encoded_image_string=_png_bytes(image))))
    self._write(step, values)

  def flush(self):
    self._writer.flush()

  def close(self):
    self._writer.close()


class MultiWriter:
  """Fans out to several writers."""

  def __init__(self, writers):
    self._writers = list(writers)

  def write_scalars(self, step, scalars):
    for w in self._writers:
      w.write_scalars(step, scalars)

  def write_images(self, step, images):
    for w in self._writers:
      w.write_images(step, images)

  def flush(self):
    for w in self._writers:
      w.flush()

  def close(self):
    for w in self._writers:
      w.close()


def create_default_writer(workdir: str, *, is_main: bool,
                          start_step: int = 0) -> MetricWriter:
  """JSONL (workdir/metrics.jsonl) plus TensorBoard (workdir/tb/), for a run
  that starts (or resumes) at start_step."""
  if not is_main:
    return NullWriter()
  return MultiWriter([
      JsonlWriter(os.path.join(workdir, 'metrics.jsonl'), start_step),
      TensorBoardWriter(os.path.join(workdir, 'tb'), start_step),
  ])
