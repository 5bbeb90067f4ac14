"""What the data tell the model: the static facts that shape its networks."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Task:
  """Static facts about the data that shape the model."""

  num_classes: int
  image_shape: tuple[int, ...]   # [height, width, channels]
  segmentation: bool
