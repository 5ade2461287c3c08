"""Notebooks written the way people write them in JupyterLab: magics, shell escapes, plots, progress bars.

    .venv/bin/python tests/data/habits.py   # rewrites the two notebooks below

- workflow/jupyter-habits.ipynb: correct answers wrapped in everyday notebook lines (`%matplotlib inline`,
  `%config InlineBackend...`, `%%time`, `from tqdm.auto import tqdm` in the training loop, `!nvidia-smi`,
  `%pip install tqdm`, `%load_ext autoreload` / `%autoreload 2`, `x = !ls`, `display()`): full marks.
- tensors/jupyter-stops.ipynb: cells that stop as they stop in Jupyter: `input()` before `describe` is
  defined (no keyboard when a notebook is executed: `describe` is never defined), an exception at the
  end of the `matmul_shape` cell (defined before it), plots, prints, `display()`, `!nvidia-smi` and `%%time`
  around correct answers.
The parity test (tests/test_parity.py) runs both in a real Jupyter kernel with otter's `grader.check_all()`
and through `graders grade`: the public checks' verdicts must be the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fill import fill, solutions_of  # noqa: E402

ROOT = HERE.parents[1]


def workflow_habits() -> None:
    sol = solutions_of(ROOT / "source" / "workflow" / "workflow.ipynb")
    fit = sol["fit"].replace("for _epoch in range(epochs):", "for _epoch in tqdm(range(epochs), desc='training', leave=False):")
    assert fit != sol["fit"], "the solution of fit changed: update the tqdm line here"
    answers = {
        "linear_model": "%matplotlib inline\n%config InlineBackend.figure_format = 'retina'\nimport matplotlib.pyplot as plt\n\n"
                        + sol["linear_model"],
        "fit": "%%time\nfrom tqdm.auto import tqdm\n\n" + fit,
        "predict": "!nvidia-smi\n%pip install tqdm\n\n" + sol["predict"]
                   + "\n\nplt.plot([0, 1], [0.3, 1.0])\nplt.title('a line')\nplt.show()",
        "save_load": "%load_ext autoreload\n%autoreload 2\n\n" + sol["save_load"]
                     + "\n\nfiles = !ls\nprint('files here:', len(files))\ndisplay({'saved': 'linear_model.pt'})",
    }
    fill(ROOT / "release" / "workflow" / "workflow.ipynb", answers, HERE / "workflow" / "jupyter-habits.ipynb")


def tensors_stops() -> None:
    sol = solutions_of(ROOT / "source" / "tensors" / "tensors.ipynb")
    answers = {
        "describe": "name = input('Your name? ')\nprint('hello', name)\n\n" + sol["describe"],
        "matmul_shape": sol["matmul_shape"] + "\n\nprint('matmul_shape is defined')\n"
                        "assert matmul_shape((2, 3), (3, 4)) == (2, 5), 'my own test, wrong on purpose'",
        "matmul": "%%time\n" + sol["matmul"] + "\n\ndisplay(matmul(torch.ones(2, 3), torch.ones(3, 4)))",
        "one_hot": "%matplotlib inline\nimport matplotlib.pyplot as plt\n!nvidia-smi\n\n" + sol["one_hot"]
                   + "\n\nplt.imshow(one_hot(torch.tensor([0, 2, 1]), 3))\nplt.show()\nprint('plotted')",
    }
    fill(ROOT / "release" / "tensors" / "tensors.ipynb", answers, HERE / "tensors" / "jupyter-stops.ipynb")


if __name__ == "__main__":
    workflow_habits()
    tensors_stops()
