"""Workflow jobs called directly: recipes in epochs, files written, divergence explained."""

import itertools
from dataclasses import asdict

import numpy as np
import pytest
import torch

from lossbarcode import jobs
from lossbarcode.io import read_json, write_json
from lossbarcode.simplex import load_triangle
from lossbarcode.spec import RunSpec


def spec(**minimum):
    recipe = {"optimizer": "adam", "lr": 1e-2, "epochs": 3, "batch_size": 64}
    return RunSpec.parse({
        "experiment": "fcn_depth", "run": "digits-fcn-2", "device": "cpu",
        "dataset": "digits", "model": "fcn-2", "model_args": {"width": 8}, "data": {"train_size": 300},
        "minimum": {**recipe, **minimum},
        "curve": {**recipe, "optimizer": "sgd", "lr": 0.05, "method": "polychain", "bends": 1, "epochs": 2,
                  "profile_points": 61, "refine": 1, "test_profile": True},
        "triangle": {**recipe, "optimizer": "sgd", "lr": 0.05, "epochs": 2, "grid": 4},
    })


def test_jobs_chain_minima_curves_triangles_barcode(digits, tmp_path):
    for seed in range(3):
        jobs.train_minimum(spec(), digits, seed, str(tmp_path / f"minima/{seed}"))
    record = read_json(tmp_path / "minima/0.json")
    assert record["parameters"] == 64 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10
    assert 0 <= record["test_accuracy"] <= 1 and record["steps"] == 3 * 5
    assert record["kept"] == "last" and record["kept_step"] == 3 * 5
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        jobs.fit_curve(spec(), digits, [str(tmp_path / f"minima/{a}.pt"), str(tmp_path / f"minima/{b}.pt")],
                       str(tmp_path / f"curves/{a}-{b}"))
    curve = read_json(tmp_path / "curves/0-1.json")
    assert len(curve["t"]) >= 61 and len(curve["test_loss"]) == len(curve["t"])
    assert curve["max"] == max(curve["train_loss"]) and curve["t"][0] == 0 and curve["t"][-1] == 1
    # both ends of the curve are the minima, measured the same way
    assert curve["train_loss"][0] == pytest.approx(record["train_loss"], rel=1e-5)
    jobs.fit_triangle(spec(), digits, [str(tmp_path / f"minima/{s}.pt") for s in range(3)],
                      [str(tmp_path / f"curves/{p}.pt") for p in ("0-1", "0-2", "1-2")], str(tmp_path / "triangles/0-1-2"))
    triangle = read_json(tmp_path / "triangles/0-1-2.json")
    assert len(triangle["points"]) == len(triangle["train_loss"]) and triangle["bar"] == [max(triangle["side_max"]), triangle["max"]]
    # the triangle's sides are sampled as the curve jobs sampled the curves: its births are the H0 edges
    assert triangle["side_max"] == [read_json(tmp_path / f"curves/{p}.json")["max"] for p in ("0-1", "0-2", "1-2")]
    saved = load_triangle(torch.load(tmp_path / "triangles/0-1-2.pt"))
    minima = torch.stack([torch.load(tmp_path / f"minima/{s}.pt")["theta"] for s in range(3)])
    assert torch.equal(saved.weights(torch.eye(3)), minima)
    # paper 004 Fig. 1's accuracy at every sample, from the same passes: the losses are the loss-only grid's
    accuracy = triangle["train_accuracy"]
    assert len(accuracy) == len(triangle["points"]) and all(0 <= a <= 1 for a in accuracy)
    landscape, *_ = jobs.landscape_for(spec(), digits, "triangle", 0)
    points, losses = saved.grid(4, landscape, **asdict(spec().side_profile))
    assert points.tolist() == triangle["points"] and losses.tolist() == triangle["train_loss"]
    corners = landscape.metrics(saved.weights(torch.eye(3)), "train")
    assert [accuracy[triangle["points"].index(list(e))] for e in np.eye(3)] == corners["accuracy"].double().tolist()
    assert accuracy[triangle["points"].index([1 / 3] * 3)] == pytest.approx(
        float(landscape.metrics(saved.centre)["accuracy"]), abs=1 / 300)
    jobs.barcode([str(tmp_path / f"minima/{s}.json") for s in range(3)],
                 [str(tmp_path / f"curves/{p}.json") for p in ("0-1", "0-2", "1-2")],
                 [str(tmp_path / "triangles/0-1-2.json")], str(tmp_path / "barcode.json"))
    barcode = read_json(tmp_path / "barcode.json")
    assert barcode["minima"]["parameters"] == [record["parameters"]] * 3
    assert barcode["triangle_lifespans"] == [triangle["bar"]]
    assert barcode["triangle_grids"] == {"0-1-2": {k: triangle[k] for k in ("points", "train_loss", "train_accuracy")}}
    # every estimate's convergence record, written by its job and read back by the barcode's
    for kind, name, record in [("edges", p, read_json(tmp_path / f"curves/{p}.json")) for p in ("0-1", "0-2", "1-2")] + \
            [("triangles", "0-1-2", triangle)]:
        convergence = record["convergence"]
        assert convergence["trace"][-1] == {"step": convergence["used"], "max": record["max"]}
        assert convergence["used"] == convergence["cap"] == 2 * 5 and not convergence["until_converged"]
        assert [c["step"] for c in convergence["trace"]] == [2, 3, 5, 10]
        assert set(convergence["gradient"]) == {"norm", "along", "across"}
        assert barcode["convergence"][kind][name] == convergence
    deciding = {entry["edge"] for entry in barcode["convergence"]["h0"]} - {None}
    assert deciding <= {"0-1", "0-2", "1-2"} and len(deciding) == 2


def test_barcode_reads_triangle_files_from_before_the_accuracy(tmp_path):
    """A triangle file without train_accuracy gives a grid without it; one without samples, no grid."""
    for name in "abcd":
        write_json(tmp_path / f"{name}.json", {"train_loss": 0.1})
    curves = [f"{a}-{b}" for a, b in itertools.combinations("abcd", 2)]
    for curve in curves:
        write_json(tmp_path / f"{curve}.json", {"max": 0.5, "t": [0.0, 1.0], "train_loss": [0.1, 0.1]})
    grid = {"points": [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], "train_loss": [0.1, 0.7]}
    write_json(tmp_path / "a-b-c.json", {"side_max": [0.5] * 3, "max": 0.7, **grid})
    write_json(tmp_path / "a-b-d.json", {"side_max": [0.5] * 3, "max": 0.6})
    jobs.barcode([str(tmp_path / f"{n}.json") for n in "abcd"], [str(tmp_path / f"{c}.json") for c in curves],
                 [str(tmp_path / "a-b-c.json"), str(tmp_path / "a-b-d.json")], str(tmp_path / "barcode.json"))
    barcode = read_json(tmp_path / "barcode.json")
    assert barcode["triangle_grids"] == {"a-b-c": {**grid, "train_accuracy": None}}
    assert barcode["triangle_lifespans"] == [[0.5, 0.7], [0.5, 0.6]]
    # nor did they carry their convergence: every estimate is unconverged, with no record
    block = barcode["convergence"]
    assert set(block["edges"].values()) == set(block["triangles"].values()) == {None}
    assert [bar["converged"] for bar in block["h0"]] == [True, False, False, False]
    assert (block["edges_converged"], block["edges_total"], block["triangles_converged"]) == (0, 6, 0)


def test_barcode_names_the_estimate_behind_each_bar_and_its_convergence(tmp_path):
    """Three minima, the curve a-c still falling, the triangle converged."""
    def convergence(verdict):
        return {"trace": [{"step": 5, "max": 0.6}, {"step": 10, "max": 0.5}], "cap": 10, "used": 10,
                "until_converged": False, "tolerance": 0.02, "height": 0.3, "change": -0.1, "verdict": verdict,
                "converged": verdict == "converged", "gradient": {"norm": 0.1, "along": 0.0, "across": 0.1}}

    for name, loss in zip("abc", (0.1, 0.2, 0.3)):
        write_json(tmp_path / f"{name}.json", {"train_loss": loss})
    maxima = {"a-b": 0.5, "a-c": 0.6, "b-c": 0.7}
    for curve, top in maxima.items():
        write_json(tmp_path / f"{curve}.json", {"max": top, "t": [0.0, 1.0], "train_loss": [0.1, 0.1],
                                                "convergence": convergence("falling" if curve == "a-c" else "converged")})
    write_json(tmp_path / "a-b-c.json", {"side_max": [0.5, 0.6, 0.7], "max": 0.9, "convergence": convergence("converged")})
    jobs.barcode([str(tmp_path / f"{n}.json") for n in "abc"], [str(tmp_path / f"{c}.json") for c in maxima],
                 [str(tmp_path / "a-b-c.json")], str(tmp_path / "barcode.json"))
    block = read_json(tmp_path / "barcode.json")["convergence"]
    assert block["edges"]["a-c"] == convergence("falling") and block["triangles"]["a-b-c"] == convergence("converged")
    assert block["h0"] == [{"edge": None, "converged": True, "zero": False},
                           {"edge": "a-b", "converged": True, "zero": False},
                           {"edge": "a-c", "converged": False, "zero": False}]
    assert block["h1"] == [{"edge": "b-c", "triangle": "a-b-c", "converged": True}]
    assert (block["edges_converged"], block["edges_total"], block["triangles_converged"], block["triangles_total"]) \
        == (2, 3, 1, 1)


def test_a_minimum_that_keeps_its_best_epoch_says_which(digits, tmp_path):
    """Paper 002 §5's type 1 minima keep the epoch with the lowest training loss; here the learning
    rate jumps 40-fold after epoch 2 of 4, and the record names the step the weights are from."""
    late_jump = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 4, "schedule": "piecewise",
                 "schedule_args": {"knots": [[0, 1], [2, 1], [2, 40], [4, 40]]}}
    jobs.train_minimum(spec(**late_jump), digits, 1, str(tmp_path / "last"))
    jobs.train_minimum(spec(**late_jump, keep="best_train_loss"), digits, 1, str(tmp_path / "best"))
    last, best = read_json(tmp_path / "last.json"), read_json(tmp_path / "best.json")
    assert (last["kept"], last["kept_step"]) == ("last", 4 * 5)
    assert (best["kept"], best["kept_step"]) == ("best_train_loss", 2 * 5) and best["recipe"]["keep"] == "best_train_loss"
    assert best["train_loss"] < last["train_loss"]


def test_a_compiled_minimum_is_the_eager_one(digits, tmp_path):
    """A recipe's ``compile`` reaches the job's landscape and optimizer: the same minimum up to
    float rounding, and its record says how it was trained."""
    jobs.train_minimum(spec(), digits, 2, str(tmp_path / "eager"))
    jobs.train_minimum(spec(compile="default"), digits, 2, str(tmp_path / "compiled"))
    eager, compiled = (jobs.read_minimum(str(tmp_path / f"{name}.pt"))["theta"] for name in ("eager", "compiled"))
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    assert read_json(tmp_path / "compiled.json")["recipe"]["compile"] == "default"


def test_divergence_names_experiment_model_seed_and_the_fix(digits, tmp_path):
    with pytest.raises(FloatingPointError) as error:
        jobs.train_minimum(spec(optimizer="sgd", lr=1e30), digits, 4, str(tmp_path / "m"))
    message = str(error.value)
    assert "experiment fcn_depth, model digits-fcn-2, seed 4" in message
    assert "lower experiments.fcn_depth.minimum.lr (now 1e+30)" in message
    assert not list(tmp_path.iterdir())


def test_jobs_on_text_train_a_gpt_and_measure_per_token(tmp_path, monkeypatch):
    """The workflow's jobs on a token dataset: a transformers GPT, windows of block_size tokens,
    losses in nats per token, an iteration budget; curves and triangles as for images."""
    from lossbarcode import datasets
    from lossbarcode.data import prepare

    (tmp_path / "my.txt").write_text("the quick brown fox jumps over the lazy dog. " * 60)
    monkeypatch.setitem(datasets.DATASETS, "mytext", datasets.TokenDataset(
        "mytext", "my text", "text", data_files=(str(tmp_path / "my.txt"),)))
    data = str(prepare("mytext", tmp_path / "data"))
    recipe = {"optimizer": "adamw", "lr": 3e-3, "iterations": 6, "batch_size": 8, "weight_decay": 0.1,
              "decay_mask": "skip_1d", "clip_grad_norm": 1.0, "schedule": "warmup_cosine",
              "schedule_args": {"warmup": 2}}
    spec = RunSpec.parse({
        "experiment": "gpt", "run": "mytext-gpt-1-16", "dataset": "mytext", "model": "gpt-1-16", "device": "cpu",
        "model_args": {"heads": 2}, "data": {"block_size": 16}, "measure": {"train": 40, "test": 10},
        "minimum": recipe, "curve": {**recipe, "method": "bezier", "bends": 1, "profile_points": 61, "refine": 0},
        "triangle": {**recipe, "decay_mask": None, "grid": 4},
    })
    for seed in range(3):
        jobs.train_minimum(spec, data, seed, str(tmp_path / f"minima/{seed}"))
    record = read_json(tmp_path / "minima/0.json")
    assert record["unit"] == "token" and 0 < record["train_loss"] < 5 and record["steps"] == 6
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        jobs.fit_curve(spec, data, [str(tmp_path / f"minima/{a}.pt"), str(tmp_path / f"minima/{b}.pt")],
                       str(tmp_path / f"curves/{a}-{b}"))
    jobs.fit_triangle(spec, data, [str(tmp_path / f"minima/{s}.pt") for s in range(3)],
                      [str(tmp_path / f"curves/{p}.pt") for p in ("0-1", "0-2", "1-2")], str(tmp_path / "triangles/0-1-2"))
    curve = read_json(tmp_path / "curves/0-1.json")
    assert curve["max"] >= max(read_json(tmp_path / f"minima/{s}.json")["train_loss"] for s in (0, 1)) - 1e-6
    assert read_json(tmp_path / "triangles/0-1-2.json")["side_max"][0] == curve["max"]


def test_jobs_train_any_causal_lm_by_name_and_overrides(tmp_path, monkeypatch):
    """§7's path with another architecture: a Llama given as a model type plus config overrides."""
    from lossbarcode import datasets
    from lossbarcode.data import prepare

    (tmp_path / "my.txt").write_text("a stitch in time saves nine. " * 60)
    monkeypatch.setitem(datasets.DATASETS, "mytext", datasets.TokenDataset(
        "mytext", "my text", "text", data_files=(str(tmp_path / "my.txt"),)))
    data = str(prepare("mytext", tmp_path / "data"))
    recipe = {"optimizer": "adamw", "lr": 3e-3, "iterations": 4, "batch_size": 8}
    spec = RunSpec.parse({
        "experiment": "lm", "run": "mytext-causal-lm", "dataset": "mytext", "model": "causal-lm", "device": "cpu",
        "model_args": {"config": "llama", "overrides": {"hidden_size": 16, "intermediate_size": 32,
                                                        "num_hidden_layers": 1, "num_attention_heads": 2}},
        "data": {"block_size": 16}, "measure": {"train": 20, "test": 10},
        "minimum": recipe, "curve": {**recipe, "method": "bezier", "bends": 1, "profile_points": 11, "refine": 0},
    })
    for seed in range(2):
        jobs.train_minimum(spec, data, seed, str(tmp_path / f"minima/{seed}"))
    jobs.fit_curve(spec, data, [str(tmp_path / f"minima/{s}.pt") for s in range(2)], str(tmp_path / "curves/0-1"))
    ends = [read_json(tmp_path / f"minima/{s}.json")["train_loss"] for s in range(2)]
    assert read_json(tmp_path / "minima/0.json")["unit"] == "token"
    assert read_json(tmp_path / "curves/0-1.json")["max"] >= max(ends) - 1e-6
