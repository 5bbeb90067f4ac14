r"""Applies a trained run to every image of a folder.

  python -m experiments.predict --workdir=workdirs/camvid_m2 \
      --images=my_frames/ --out=predictions/

Segmentation runs write, for each image NAME, NAME.png (the class index of
every pixel, at the image's own size) and NAME_overlay.png (the classes'
colours over the image); classification runs write predictions.csv (file,
class, probability). Images of any size are resized as training resized
its eval images. Files that are not readable images are named and skipped.
"""

from absl import app
from absl import flags
from absl import logging

from m2vae_jax import cli
from m2vae_jax import predict

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Workdir of a run of experiments.train.')
_IMAGES = flags.DEFINE_string('images', None, 'Folder of images to predict.')
_OUT = flags.DEFINE_string('out', None, 'Folder for the predictions.')
flags.mark_flags_as_required(['workdir', 'images', 'out'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  with cli.user_errors_as_one_line():
    predict.write_predictions(_WORKDIR.value, _IMAGES.value, _OUT.value)


if __name__ == '__main__':
  logging.set_verbosity(logging.INFO)
  app.run(main)
