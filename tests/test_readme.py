"""The README's example must run as printed."""

import os
import re

from tests.conftest import REPO


def _section_code(title: str) -> str:
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    text = f.read()
  section = text.split(f'## {title}', 1)[1].split('\n## ', 1)[0]
  blocks = re.findall(r'```python\n(.*?)```', section, re.S)
  assert len(blocks) == 1
  return blocks[0]


def test_losses_example_runs(capsys):
  code = _section_code('Using the losses in your own code')
  exec(compile(code, 'README.md', 'exec'), {'__name__': 'readme'})  # noqa: S102
  printed = capsys.readouterr().out.splitlines()
  assert [line.split(':')[0] for line in printed] == [
      'step 0', 'step 1', 'step 2']
  values = [float(line.split('= ')[1]) for line in printed]
  assert values[2] < values[0]  # The objective goes down.
