"""A small fabricated CamVid folder with the real layout and list format."""

import os

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 360, 480
SPLIT_SIZES = {'train': 8, 'val': 4, 'test': 3}


def frame_name(split: str, i: int) -> str:
  # Video-like stems, as in the real folder (e.g. 0001TP_006690).
  return f'{split[:2].upper()}{i:02d}_{6690 + 30 * i:06d}'


def frame(split: str, i: int) -> tuple[np.ndarray, np.ndarray]:
  """A learnable frame: each class a region with its own colour, labels
  0-10 with a void (11) band, as the label PNGs store them."""
  rng = np.random.default_rng([list(SPLIT_SIZES).index(split), i])
  rows = np.arange(HEIGHT)[:, None] * 11 // HEIGHT
  cols = (np.arange(WIDTH)[None, :] // 40 + i) % 3
  label = ((rows + cols) % 11).astype(np.uint8)
  label[:, :6] = 11                              # unlabelled
  colours = np.random.default_rng(7).integers(0, 256, (12, 3))
  image = colours[label] + rng.integers(-20, 21, (HEIGHT, WIDTH, 3))
  return np.clip(image, 0, 255).astype(np.uint8), label


def make_camvid_tree(folder, *, splits=('train', 'val'), lists=True):
  """Writes split/, splitannot/ and split.txt (SegNet's format) for each
  split; returns the folder."""
  for split in splits:
    os.makedirs(os.path.join(folder, split), exist_ok=True)
    os.makedirs(os.path.join(folder, f'{split}annot'), exist_ok=True)
    lines = []
    for i in range(SPLIT_SIZES[split]):
      name = frame_name(split, i)
      image, label = frame(split, i)
      Image.fromarray(image).save(os.path.join(folder, split, f'{name}.png'))
      Image.fromarray(label).save(
          os.path.join(folder, f'{split}annot', f'{name}.png'))
      lines.append(f'/SegNet/CamVid/{split}/{name}.png '
                   f'/SegNet/CamVid/{split}annot/{name}.png\n')
    if lists:
      with open(os.path.join(folder, f'{split}.txt'), 'w',
                encoding='utf-8') as f:
        f.writelines(lines)
  return str(folder)
