"""`jaxmnist evaluate` and `jaxmnist predict` on a finished tiny run and on imported checkpoints."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from jaxmnist import config as config_lib
from jaxmnist import models, torch_port, train
from jaxmnist.cli import main
from jaxmnist.data import pipeline
from jaxmnist.inference.load import load_trained
from jaxmnist.report.runs import epoch_rows

CONFIG = Path(__file__).resolve().parent / "configs" / "tiny_lenet_bn.py"


@pytest.fixture(scope="module")
def run(fixture_data_dir, tmp_path_factory):
    """The tiny run, finished: checkpoints at steps 15 (mid-epoch) and 18 (the last epoch's end)."""
    config = config_lib.load_experiment(str(CONFIG))
    with config.unlocked():
        config.data_dir = str(fixture_data_dir)
        config.data_source = None
        config.shortened = False
    workdir = tmp_path_factory.mktemp("tiny_run")
    train.train_and_evaluate(config, str(workdir))
    return workdir


@pytest.fixture(scope="module")
def imported(run, tmp_path_factory):
    """The run's final variables as `jaxmnist import-torch` writes them."""
    _, _, variables = load_trained(str(run))
    directory = torch_port.save_variables(tmp_path_factory.mktemp("imported") / "lenet_bn",
                                          jax.tree.map(np.asarray, variables))
    (directory / torch_port.MODEL_FILE).write_text(json.dumps({"model": "lenet_bn"}))
    return directory


def _json_output(capsys, *argv) -> dict:
    assert main([*map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _error(capsys, *argv) -> str:
    """The one `error:` line of a command that must fail with exit code 2."""
    assert main(list(map(str, argv))) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def _test_split(data_dir) -> pipeline.Split:
    return pipeline.load("mnist", "test", str(data_dir))


def test_evaluate_gives_the_run_s_last_epoch_metrics(run, capsys):
    result = _json_output(capsys, "evaluate", run)
    reported = epoch_rows(run)[-1]

    assert result["step"] == reported["step"] == 18
    for key in ("loss", "accuracy", "correct", "total"):
        assert result[key] == reported["test"][key], key


def test_per_class_accuracy_and_confusion_matrix_agree_with_the_accuracy(run, fixture_data_dir, capsys,
                                                                         tmp_path):
    picture = tmp_path / "confusion.png"
    result = _json_output(capsys, "evaluate", run, "--confusion", picture)
    matrix = np.array(result["confusion"])
    labels = _test_split(fixture_data_dir).labels

    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(labels, minlength=10))
    assert np.trace(matrix) == result["correct"] and matrix.sum() == result["total"]
    assert result["accuracy"] == 100.0 * result["correct"] / result["total"]
    for entry in result["per_class"]:
        assert entry["correct"] == matrix[entry["class"], entry["class"]]
        assert entry["total"] == matrix[entry["class"]].sum()
        assert entry["accuracy"] == pytest.approx(100.0 * entry["correct"] / entry["total"])
    assert picture.read_bytes().startswith(b"\x89PNG")

    assert main(["evaluate", str(run)]) == 0
    text = capsys.readouterr().out
    assert f"accuracy {result['accuracy']:.2f}% ({result['correct']}/{result['total']})" in text
    assert "confusion matrix" in text


def test_step_picks_an_older_checkpoint(run, capsys):
    latest = _json_output(capsys, "evaluate", run)
    older = _json_output(capsys, "evaluate", run, "--step", 15)
    by_folder = _json_output(capsys, "evaluate", run / "checkpoints" / "15")

    assert older["step"] == by_folder["step"] == 15
    assert (older["loss"], older["correct"]) != (latest["loss"], latest["correct"])
    assert (by_folder["loss"], by_folder["correct"]) == (older["loss"], older["correct"])

    error = _error(capsys, "evaluate", run, "--step", 9)
    assert "no checkpoint at step 9" in error and "saved steps: 15, 18" in error


def test_split_option_takes_eval_names_and_dataset_slices(run, capsys):
    result = _json_output(capsys, "evaluate", run, "--split", "train[:100]")
    assert (result["total"], result["dataset_split"]) == (100, "train[:100]")
    assert result["preprocessing"] == "to_tensor|normalize(mean=0.1307, std=0.3081)"  # the 'test' eval's
    assert _json_output(capsys, "evaluate", run, "--split", "test[:250]")["total"] == 250

    assert "has no split 'test[:x]'" in _error(capsys, "evaluate", run, "--split", "test[:x]")


def test_predict_on_npy_png_and_a_split_slice(run, fixture_data_dir, capsys, tmp_path):
    images = _test_split(fixture_data_dir).images[:5]
    np.save(tmp_path / "uint8.npy", images[..., 0])
    np.save(tmp_path / "float.npy", images.astype(np.float32) / 255)
    Image.fromarray(images[2, :, :, 0]).save(tmp_path / "third.png")
    config, module, variables = load_trained(str(run))
    expected = np.asarray(module.apply(variables, (images / 255.0 - 0.1307) / 0.3081, train=False))
    expected_probabilities = np.exp(expected) / np.exp(expected).sum(axis=1, keepdims=True)  # lenet_bn: logits

    result = _json_output(capsys, "predict", run, "test[:5]", tmp_path / "uint8.npy", tmp_path / "float.npy",
                          tmp_path / "third.png")
    rows = result["predictions"]

    assert [row["index"] for row in rows] == list(range(16))
    assert [row["source"] for row in rows[:5]] == [f"test[{index}]" for index in range(5)]
    assert rows[-1]["source"] == str(tmp_path / "third.png") and "label" not in rows[-1]
    assert [row["label"] for row in rows[:5]] == list(_test_split(fixture_data_dir).labels[:5])
    predicted = [row["predicted"] for row in rows]
    assert predicted == list(expected.argmax(axis=1)) * 3 + [expected[2].argmax()]
    for row, probabilities in zip(rows, [*expected_probabilities] * 3 + [expected_probabilities[2]]):
        np.testing.assert_allclose(row["probabilities"], probabilities, rtol=1e-4)
        assert row["probability"] == max(row["probabilities"])

    assert main(["predict", str(run), "test[3:5]"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["index", "source", "predicted", "probability", "label"]
    assert [line.split()[:3] for line in lines[1:]] == [["0", "test[3]", str(predicted[3])],
                                                         ["1", "test[4]", str(predicted[4])]]


def test_an_imported_checkpoint_needs_an_experiment_of_its_model(run, imported, fixture_data_dir, capsys):
    workdir_result = _json_output(capsys, "evaluate", run)
    result = _json_output(capsys, "evaluate", imported, "--experiment", CONFIG, "--data-dir", fixture_data_dir)

    assert result["imported"] and result["step"] is None
    assert (result["loss"], result["correct"], result["confusion"]) == \
        (workdir_result["loss"], workdir_result["correct"], workdir_result["confusion"])

    assert "pass --experiment" in _error(capsys, "evaluate", imported)
    assert "pass --experiment" in _error(capsys, "predict", imported, "test[:2]")
    mismatch = _error(capsys, "evaluate", imported, "--experiment", "net8k/net_bn")
    assert "holds a 'lenet_bn' model" in mismatch and "'net'" in mismatch
    assert "no steps" in _error(capsys, "evaluate", imported, "--experiment", CONFIG, "--step", 15)
    assert "holds a 'lenet_bn' model" in _error(capsys, "evaluate", run, "--experiment", "net8k/net_bn")


def test_an_imported_checkpoint_without_its_model_name_is_checked_by_shape(imported, tmp_path, capsys):
    unnamed = torch_port.save_variables(tmp_path / "unnamed", torch_port.load_variables(imported))

    error = _error(capsys, "evaluate", unnamed, "--experiment", "net8k/net_bn")
    assert "do not fit model 'net'" in error


def test_imported_torch_model_evaluates_and_predicts_as_torch(run, fixture_data_dir, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    from jaxmnist.torch_reference import TORCH_MODELS

    _, _, variables = load_trained(str(run))
    torch_model = TORCH_MODELS["lenet_bn"]()
    torch_model.load_state_dict(torch_port.to_torch("lenet_bn", jax.tree.map(np.asarray, variables)))
    torch.save(torch_model.state_dict(), tmp_path / "lenet_bn.pt")
    assert main(["import-torch", "lenet_bn", str(tmp_path / "lenet_bn.pt"), "--out", str(tmp_path / "ckpt")]) == 0
    capsys.readouterr()
    test = _test_split(fixture_data_dir)
    with torch.no_grad():
        inputs = torch.from_numpy((test.images.transpose(0, 3, 1, 2) / 255.0 - 0.1307) / 0.3081).float()
        logits = torch_model.eval()(inputs)
        torch_loss = float(torch.nn.functional.cross_entropy(logits, torch.tensor(test.labels).long()))
        torch_predictions = logits.argmax(dim=1).numpy()

    options = ["--experiment", CONFIG, "--data-dir", fixture_data_dir]
    result = _json_output(capsys, "evaluate", tmp_path / "ckpt", *options)
    predictions = _json_output(capsys, "predict", tmp_path / "ckpt", "test[:32]", *options)

    np.testing.assert_array_equal(np.array(result["confusion"]),
                                  np.histogram2d(test.labels, torch_predictions, bins=10, range=[[0, 10]] * 2)[0])
    assert result["loss"] == pytest.approx(torch_loss, rel=1e-5)
    assert [row["predicted"] for row in predictions["predictions"]] == list(torch_predictions[:32])
    np.testing.assert_allclose([row["probabilities"] for row in predictions["predictions"]],
                               torch.softmax(logits[:32], dim=1).numpy(), rtol=1e-4, atol=1e-6)


def test_bad_images_are_one_error_line(run, capsys, tmp_path):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "big.png")
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    np.save(tmp_path / "shape.npy", np.zeros((3, 27, 28), np.uint8))
    np.save(tmp_path / "range.npy", np.full((2, 28, 28), 1.5, np.float32))
    np.save(tmp_path / "negative.npy", np.full((2, 28, 28), -1, np.int64))
    (tmp_path / "digits.jpg").write_bytes(b"")

    assert "is 32x32" in _error(capsys, "predict", run, tmp_path / "big.png")
    assert "cannot read" in _error(capsys, "predict", run, tmp_path / "broken.png")
    assert "has shape (3, 27, 28)" in _error(capsys, "predict", run, tmp_path / "shape.npy")
    assert "outside [0, 1]" in _error(capsys, "predict", run, tmp_path / "range.npy")
    assert "outside 0..255" in _error(capsys, "predict", run, tmp_path / "negative.npy")
    assert "does not exist" in _error(capsys, "predict", run, tmp_path / "missing.npy")
    assert "reads .png and .npy" in _error(capsys, "predict", run, tmp_path / "digits.jpg")
    assert "has no split 'valid'" in _error(capsys, "predict", run, "valid[:3]")
    assert "does not exist" in _error(capsys, "evaluate", tmp_path / "nowhere")
    assert "neither a training workdir" in _error(capsys, "evaluate", tmp_path)


def test_predict_says_what_is_wrong_with_a_split_slice(run, capsys):
    # The fixture's test split has 500 examples.
    assert _error(capsys, "predict", run, "test[:501]") == (
        "error: split 'test[:501]' is out of range: its stop 501 lies outside 'test', which has 500 examples "
        "(bounds -500 to 500)")
    assert _error(capsys, "predict", run, "test[5:3]") == (
        "error: split 'test[5:3]' selects no examples: it is empty, as its start 5 is not below its stop 3")


@pytest.mark.fast
def test_probabilities_follow_the_model_s_output():
    outputs = np.log(np.array([[0.7, 0.2, 0.1]]))
    from jaxmnist.inference.predict import probabilities

    np.testing.assert_allclose(probabilities(outputs, "def_net"), [[0.7, 0.2, 0.1]])  # log_softmax
    np.testing.assert_allclose(probabilities(np.exp(outputs), "network_cnn"), [[0.7, 0.2, 0.1]])  # softmax
    np.testing.assert_allclose(probabilities(outputs + 3.0, "lenet_bn"), [[0.7, 0.2, 0.1]])  # logits
    assert [models.info(name)["output"] for name in ("def_net", "network_cnn", "lenet_bn")] == \
        ["log_softmax", "softmax", "logits"]
