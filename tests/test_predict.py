"""experiments.predict on trained tiny workdirs: odd sizes, corrupt files."""

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from m2vae_jax import objectives
from m2vae_jax import palettes
from m2vae_jax import predict
from m2vae_jax import sharding
from m2vae_jax import train
from m2vae_jax import workdir as workdir_lib
from m2vae_jax.errors import UserError
from tests.camvid_tree import frame_name
from tests.conftest import REPO
from tests.conftest import fake_digits
from tests.conftest import load_config
from tests.conftest import subprocess_env
from tests.test_segmentation_train import check_tiny_run


def _images_folder(path, camvid_folder):
  """A real 480x360 val frame, odd-sized and grayscale images, a corrupt PNG
  and a text file."""
  os.makedirs(path)
  val0 = os.path.join(camvid_folder, 'val', f'{frame_name("val", 0)}.png')
  shutil.copy(val0, os.path.join(path, 'a_frame.png'))
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (77, 101, 3), np.uint8)).save(
      os.path.join(path, 'b_odd.jpg'))
  Image.fromarray(rng.integers(0, 256, (50, 40), np.uint8)).save(
      os.path.join(path, 'c_gray.png'))
  with open(os.path.join(path, 'd_corrupt.png'), 'wb') as f:
    f.write(b'\x89PNG\r\n\x1a\n truncated')
  with open(os.path.join(path, 'e_notes.txt'), 'w', encoding='utf-8') as f:
    f.write('not an image')
  return str(path)


def test_a_camvid_run_predicts_every_image_and_names_skipped_ones(
    camvid_baseline_run, tmp_path):
  """One training (the slow part) serves the tiny run's own checks, the
  library call and the command."""
  workdir, folder, config, result = camvid_baseline_run
  check_tiny_run('camvid_baseline', workdir, result)
  images = _images_folder(tmp_path / 'in', folder)
  out = str(tmp_path / 'out')
  assert predict.write_predictions(workdir, images, out) == 3
  assert sorted(os.listdir(out)) == [
      'a_frame.png', 'a_frame_overlay.png', 'b_odd.png', 'b_odd_overlay.png',
      'c_gray.png', 'c_gray_overlay.png']
  for name, hw in (('a_frame', (360, 480)), ('b_odd', (77, 101)),
                   ('c_gray', (50, 40))):
    with Image.open(os.path.join(out, f'{name}.png')) as im:
      assert im.mode == 'L'
      classes = np.asarray(im)
    assert classes.shape == hw and classes.max() < 11
    with Image.open(os.path.join(out, f'{name}_overlay.png')) as im:
      assert im.size == hw[::-1] and im.mode == 'RGB'
  # The real frame gets the classes evaluation scores for it.
  trainer = train.Trainer(config, workdir)
  run = workdir_lib.load_run(workdir)
  with Image.open(os.path.join(out, 'a_frame.png')) as im:
    np.testing.assert_array_equal(np.asarray(im), trainer.evaluator.predict(
        sharding.put_replicated(run.params, trainer.mesh))[0])
  np.testing.assert_array_equal(run.palette, palettes.camvid())
  # The command: the same files, the skipped ones named.
  out = tmp_path / 'out_cli'
  env = subprocess_env()
  command = subprocess.run(
      [sys.executable, '-m', 'experiments.predict', f'--workdir={workdir}',
       f'--images={images}', f'--out={out}'], cwd=REPO, env=env,
      capture_output=True, text=True, timeout=300, check=False)
  assert command.returncode == 0, command.stderr[-2000:]
  assert 'Skipped' in command.stderr and 'd_corrupt.png' in command.stderr
  assert 'e_notes.txt' in command.stderr
  assert len(os.listdir(out)) == 6
  bad = subprocess.run(
      [sys.executable, '-m', 'experiments.predict',
       f'--workdir={tmp_path / "nowhere"}', f'--images={images}',
       f'--out={out}'], cwd=REPO, env=env, capture_output=True, text=True,
      timeout=300, check=False)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1].startswith('error: ')
  assert 'holds no config.json' in bad.stderr


def test_overlay_blends_the_label_colours():
  image = np.full((2, 3, 3), 100, np.uint8)
  classes = np.array([[0, 3, 3], [8, 8, 0]], np.uint8)
  out = predict.overlay(image, classes, palettes.camvid())
  np.testing.assert_array_equal(out[0, 1], [114, 82, 114])  # road half-way


def test_classification_writes_one_csv_line_per_image(idx_dir, tfds_dir,
                                                      tmp_path):
  config = load_config('mnist_m2', **{'data.idx_dir': idx_dir,
                                      'data.tfds_data_dir': tfds_dir})
  workdir = str(tmp_path / 'mnist')
  train.train_and_evaluate(config, workdir)
  images = tmp_path / 'digits'
  images.mkdir()
  digits, _ = fake_digits(3, 5)
  for i, digit in enumerate(digits):
    Image.fromarray(digit).save(images / f'{i}.png')
  Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(images / 'rgb.png')
  (images / 'broken.png').write_bytes(b'no')
  out = str(tmp_path / 'out')
  assert predict.write_predictions(workdir, str(images), out) == 4
  with open(os.path.join(out, 'predictions.csv'), encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  assert [r['file'] for r in rows] == ['0.png', '1.png', '2.png', 'rgb.png']
  run = workdir_lib.load_run(workdir)
  nets = objectives.networks(run.model, run.params, run.config)
  want = np.asarray(nets.classify(digits[..., None] / 255.0)).argmax(-1)
  assert [int(r['class']) for r in rows[:3]] == want.tolist()
  assert all(0.0 < float(r['probability']) <= 1.0 for r in rows)


def test_missing_images_folder_is_a_user_error(tmp_path):
  with pytest.raises(UserError, match='is not a folder'):
    predict.image_files(str(tmp_path / 'none'))
