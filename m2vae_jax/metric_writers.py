"""Metrics to a JSON-lines file and TensorBoard, written by process 0 only.

TensorBoard event files are written with the `tensorboard` package's own
writer, so the trainer never imports TensorFlow.
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

  def flush(self):
    pass

  def close(self):
    pass


class JsonlWriter:
  """One JSON object per line: {"step": ..., "time": ..., name: value}."""

  def __init__(self, path: str):
    self._file = open(path, 'a', encoding='utf-8')  # noqa: SIM115

  def write_scalars(self, step, scalars):
    record = {'step': int(step), 'time': time.time()}
    record.update({k: float(v) for k, v in scalars.items()})
    self._file.write(json.dumps(record) + '\n')

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


class TensorBoardWriter:
  """Scalars and images as TensorBoard summaries."""

  def __init__(self, logdir: str):
    # pylint: disable=g-import-not-at-top
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
    self._writer = EventFileWriter(logdir)

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


def create_default_writer(workdir: str, *, is_main: bool) -> MetricWriter:
  """JSONL (workdir/metrics.jsonl) plus TensorBoard (workdir/tb/)."""
  if not is_main:
    return NullWriter()
  return MultiWriter([
      JsonlWriter(os.path.join(workdir, 'metrics.jsonl')),
      TensorBoardWriter(os.path.join(workdir, 'tb')),
  ])
