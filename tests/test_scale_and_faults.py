"""Two processes on this machine train like one process with the same
global batch, and SIGTERM saves a checkpoint that a rerun resumes from."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import REPO
from tests.conftest import subprocess_env


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _command(workdir, flags):
  return [sys.executable, '-m', 'experiments.train',
          '--config=configs/mnist_m2.py:tiny', f'--workdir={workdir}', *flags]


def _eval(workdir):
  with open(os.path.join(workdir, 'eval.json'), encoding='utf-8') as f:
    return json.load(f)


def test_two_processes_match_one(idx_dir, tfds_dir, tmp_path):
  flags = [f'--config.data.idx_dir={idx_dir}',
           f'--config.data.tfds_data_dir={tfds_dir}',
           '--config.num_train_steps=8', '--config.figures=False']
  single = tmp_path / 'single'
  out = subprocess.run(_command(single, flags), cwd=REPO, env=subprocess_env(4),
                       capture_output=True, text=True, timeout=300,
                       check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  multi = tmp_path / 'multi'
  port = _free_port()
  procs = [subprocess.Popen(
      _command(multi, flags + [
          '--distributed', f'--coordinator_address=localhost:{port}',
          '--num_processes=2', f'--process_id={i}']),
      cwd=REPO, env=subprocess_env(2), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert 'process 1 of 2' in outs[1][1]
  assert _eval(multi) == _eval(single)
  # Logs and metrics are written once, by process 0.
  with open(multi / 'metrics.jsonl', encoding='utf-8') as f:
    steps = [json.loads(line)['step'] for line in f
             if 'train_loss' in line]
  assert steps == [2, 4, 6, 8]


def test_sigterm_saves_and_the_rerun_resumes(idx_dir, tfds_dir, tmp_path):
  flags = [f'--config.data.idx_dir={idx_dir}',
           f'--config.data.tfds_data_dir={tfds_dir}',
           '--config.num_train_steps=100000',
           '--config.checkpoint_every_steps=100000',
           '--config.log_every_steps=1', '--config.figures=False']
  workdir = tmp_path / 'w'
  proc = subprocess.Popen(_command(workdir, flags), cwd=REPO,
                          env=subprocess_env(1), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  metrics = workdir / 'metrics.jsonl'
  deadline = time.time() + 240
  while time.time() < deadline and not (
      metrics.exists() and metrics.stat().st_size > 0):
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-3000:]
  assert 'SIGTERM: saved the checkpoint of step' in err
  saved = [int(d) for d in os.listdir(workdir / 'checkpoints') if d.isdigit()]
  assert len(saved) == 1 and saved[0] > 0
  # Resume with a finite budget just past the saved step.
  out = subprocess.run(
      _command(workdir, flags[:2] + [
          f'--config.num_train_steps={saved[0] + 2}',
          '--config.checkpoint_every_steps=100000',
          '--config.log_every_steps=1', '--config.figures=False']),
      cwd=REPO, env=subprocess_env(1), capture_output=True, text=True,
      timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert f'Resuming from the checkpoint at step {saved[0]}' in out.stderr
  assert _eval(workdir)['step'] == saved[0] + 2


def test_sigkill_during_saves_never_leaves_a_bad_checkpoint(
    idx_dir, tfds_dir, tmp_path):
  """Saving every step, a kill almost surely lands inside a save; the
  rerun must restore the last complete checkpoint and finish as a run
  never killed does (the data streams resume at the step)."""
  flags = [f'--config.data.idx_dir={idx_dir}',
           f'--config.data.tfds_data_dir={tfds_dir}',
           '--config.num_train_steps=40', '--config.checkpoint_every_steps=1',
           '--config.keep_checkpoints=3', '--config.async_checkpointing=True',
           '--config.log_every_steps=1', '--config.figures=False']
  workdir = tmp_path / 'w'
  checkpoints = workdir / 'checkpoints'
  interrupted_saves = 0
  for attempt in range(3):
    proc = subprocess.Popen(_command(workdir, flags), cwd=REPO,
                            env=subprocess_env(1), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    seen = set(os.listdir(checkpoints)) if checkpoints.exists() else set()
    while time.time() < deadline and proc.poll() is None:
      now = set(os.listdir(checkpoints)) if checkpoints.exists() else set()
      if {d for d in now - seen if d.isdigit()}:
        break  # A new checkpoint completed: the next save is under way.
      time.sleep(0.01)
    time.sleep(0.05 * attempt)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if any('tmp' in d for d in os.listdir(checkpoints)):
      interrupted_saves += 1
  assert interrupted_saves > 0, 'no kill landed inside a save'
  out = subprocess.run(_command(workdir, flags), cwd=REPO,
                       env=subprocess_env(1), capture_output=True, text=True,
                       timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert 'Resuming from the checkpoint at step' in out.stderr
  assert _eval(workdir)['step'] == 40
  straight = tmp_path / 'straight'
  out = subprocess.run(
      _command(straight, flags + ['--config.checkpoint_every_steps=40']),
      cwd=REPO, env=subprocess_env(1), capture_output=True, text=True,
      timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  assert _eval(workdir) == _eval(straight)
