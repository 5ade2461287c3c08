"""vision: fair trained-model and device checks.

The instructor's notebook and CNNs written differently get full marks under several hidden seeds
(the accuracies are printed: `pytest -s` shows their spread), the stubs get zero, and each typical
mistake loses points on its own question with a message naming what was expected and what came back.
A train_digits that ignores `device` can only be caught on a GPU: that test skips without CUDA.
Scenario notebooks: tests/data/vision/ (rebuilt by its make.py). One worker per notebook, checks run
per seed. The judge's data helper is tested directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graders.checks.model import digits_control, digits_holdout, digits_split, same_device
from graders.course import course_root, get_assignment
from graders.grade import grade_notebook, run_checks
from graders.judge.session import Submission, WorkerSession
from graders.notebook import read_notebook

NAME = "vision"
DATA = Path(__file__).resolve().parents[1] / "data" / NAME
SEEDS = (0, 1, 7, 1234, 20261125)
CORRECT = ["correct", "correct-batchnorm", "correct-functional"]
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def graded(launcher):  # type: ignore[no-untyped-def]
    """(scenario, device) -> {seed: check results}: one worker per notebook, closed once its seeds are done."""
    spec = get_assignment(NAME)
    cache: dict[tuple[str, str], dict[int, list]] = {}

    def get(scenario: str, seeds: tuple[int, ...] = (SEEDS[1],), device: str = "cpu") -> dict[int, list]:
        if (scenario, device) not in cache:
            nb = read_notebook(DATA / f"{scenario}.ipynb")
            with WorkerSession(launcher=launcher, limits=spec.limits, cells=[src for _i, src in nb.code_to_run()]) as session:
                outcomes = session.start()
                assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.status != "ok"]
                cache[scenario, device] = {s: run_checks(assignment=spec, submission=Submission(session), device=device, hidden_seed=s)
                                           for s in seeds}
        return cache[scenario, device]

    return get


def _failures(results: list) -> dict[str, str]:
    return {c.id: f"[{c.status}] {c.message}" for c in results if c.status != "passed"}


def _per_question(results: list) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in results:
        out[c.grade_id] = out.get(c.grade_id, 0.0) + c.points
    return out


def _accuracy(results: list) -> float:
    (acc,) = {c.metrics["accuracy"] for c in results if c.grade_id == "train_digits" and "accuracy" in c.metrics}
    return acc


def test_source_notebook_gets_full_marks(launcher) -> None:  # type: ignore[no-untyped-def]
    """The teaching notebook itself, with its plots and demo training: every cell runs, 10/10."""
    r = grade_notebook(path=course_root() / "source" / NAME / f"{NAME}.ipynb", assignment=NAME, device="cpu", launcher=launcher)
    assert r.status == "graded" and r.score == r.max_score == 10.0, r.summary()
    assert all(c.status == "ok" for c in r.cells), [c.error for c in r.cells if c.status != "ok"]
    assert _accuracy(r.checks) >= 0.95


@pytest.mark.parametrize("scenario", CORRECT)
def test_correct_answers_get_full_marks_under_hidden_seeds(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    accuracies = []
    for seed, results in graded(scenario, SEEDS).items():
        assert sum(c.points for c in results) == 10.0, (seed, _failures(results))
        assert len(results) == 10
        accuracies.append(_accuracy(results))
    print(f"\n{NAME}/{scenario}: digits test accuracy over seeds {SEEDS}: {[round(a, 3) for a in accuracies]} "
          f"(min {min(accuracies):.3f}, max {max(accuracies):.3f})")


def test_stubs_score_zero(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("stubs").values()
    assert sum(c.points for c in results) == 0.0
    assert all(c.status == "error" and "is not implemented yet" in c.message for c in results), _failures(results)


def test_a_cnn_without_convolutions_loses_the_convolution_check(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("no-conv").values()
    failures = _failures(results)
    assert failures["digits_cnn::digits_cnn_convolution"] == (
        "[failed] `DigitsCNN()` has no nn.Conv2d layer, expected at least one convolution: "
        "a CNN learns small filters that slide over the image")
    # an MLP learns digits too, about as well as the 0.95 tier: only the structure check is certain to fail
    assert set(failures) - {"train_digits::train_digits_accuracy_095"} == {"digits_cnn::digits_cnn_convolution"}, failures
    scores = _per_question(results)
    assert scores["digits_cnn"] == 2.0 and scores["device_agnostic"] == 2.0 and scores["train_digits"] >= 3.0


def test_too_many_parameters_loses_the_parameter_check(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("too-many-parameters").values()
    failures = _failures(results)
    assert failures == {"digits_cnn::digits_cnn_parameters": "[failed] `DigitsCNN()` has 136,586 parameters, expected at most "
                        "100,000: use fewer channels or pool before the linear layer"}, failures
    assert _per_question(results) == {"digits_cnn": 2.5, "train_digits": 5.0, "device_agnostic": 2.0}


def test_cuda_written_into_train_digits_loses_training_and_device_points(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("hardcoded-cuda").values()
    failures = _failures(results)
    scores = _per_question(results)
    assert scores["digits_cnn"] == 3.0 and scores["device_agnostic"] == 0.0
    if HAS_CUDA:  # graded on the CPU, the model sits on the GPU
        assert "has parameters or buffers on cuda:0, expected all on 'cpu'" in failures["device_agnostic::device_agnostic_parameters"]
    else:  # no GPU at all: the student's code raises
        assert scores["train_digits"] == 0.0
        assert failures["train_digits::train_digits_interface"] == (
            "[error] `train_digits` raised AssertionError: Torch not compiled with CUDA enabled")
        for check_id in ("train_digits::train_digits_accuracy_090", "device_agnostic::device_agnostic_parameters"):
            # hidden checks never repeat the message of the student's error (it could carry hidden inputs out)
            assert failures[check_id] == ("[error] `train_digits` raised AssertionError (in a hidden check the error's message is "
                                          "not shown: the public checks, or a call on data like the exercise's, show it)")


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU: on the CPU a train_digits that ignores `device` is right")
def test_on_a_gpu_ignoring_device_loses_the_device_points(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("ignores-device", device="cuda").values()
    failures = _failures(results)
    assert "expected all on 'cuda'" in failures["device_agnostic::device_agnostic_parameters"], failures
    assert _per_question(results)["device_agnostic"] < 2.0 and _per_question(results)["train_digits"] == 5.0


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_on_a_gpu_the_correct_answers_get_full_marks(graded) -> None:  # type: ignore[no-untyped-def]
    for scenario in CORRECT:
        (results,) = graded(scenario, device="cuda").values()
        assert sum(c.points for c in results) == 10.0, (scenario, _failures(results))


# ------------------------------------------------------------------ the judge's helper
def test_digits_split_tests_on_a_noisy_held_out_fifth() -> None:
    from sklearn.datasets import load_digits

    a, b, c = digits_split(3), digits_split(3), digits_split(4)
    assert a is b  # cached per seed
    assert a.X_train.shape == (1438, 1, 8, 8) and a.X_test.shape == (359, 1, 8, 8)
    assert a.X_train.dtype == torch.float32 and a.y_train.dtype == torch.int64 and a.y_test.shape == (359,)
    assert float(a.X_train.min()) == 0.0 and float(a.X_train.max()) == 1.0
    assert float(a.X_test.min()) >= 0.0 and float(a.X_test.max()) <= 1.0
    assert not torch.equal(a.y_test, c.y_test) and not torch.equal(a.y_train, c.y_train)  # order and noise by seed
    # every test image is a held-out digit plus a little noise, not a training image
    clean = torch.tensor(load_digits().images / 16.0, dtype=torch.float32).reshape(-1, 64)
    nearest = torch.cdist(a.X_test.reshape(-1, 64), clean).argmin(dim=1)
    noise = a.X_test.reshape(-1, 64) - clean[nearest]
    assert 0.005 < float(noise.std()) < 0.03
    train_rows = {tuple(r) for r in a.X_train.reshape(-1, 64).tolist()}
    held_out = [tuple(clean[i].tolist()) for i in nearest.tolist()]
    assert sum(r in train_rows for r in held_out) < 10  # the digits data holds a few duplicate images
    # the held-out fifth is the same for every seed: the sandbox's copy of the digits leaves it out
    held, public = digits_holdout(1797)
    assert set(nearest.tolist()) <= set(held.tolist()) | {i for i in range(1797) if tuple(clean[i].tolist()) in set(held_out)}
    assert sorted(held.tolist() + public.tolist()) == list(range(1797))


def test_the_learning_control_transposes_the_digits_and_renames_every_class() -> None:
    base, control = digits_split(5 + 7919), digits_control(5)
    assert torch.equal(control.X_train, base.X_train.transpose(-1, -2))
    rename = {int(a): int(b) for a, b in zip(base.y_train, control.y_train)}
    assert sorted(rename) == sorted(rename.values()) == list(range(10)) and all(a != b for a, b in rename.items())
    assert all(rename[int(a)] == int(b) for a, b in zip(base.y_test, control.y_test))
    assert digits_control(5) is control and not torch.equal(digits_control(6).y_train[:50], control.y_train[:50])


def test_devices_compare_by_type_and_index() -> None:
    assert same_device("cuda:0", "cuda") and same_device("cpu", "cpu") and same_device("cuda:1", "cuda:1")
    assert not same_device("cpu", "cuda") and not same_device("cuda:0", "cpu") and not same_device("cuda:0", "cuda:1")
