"""Hardening: paths and URLs cannot break out of their rule, a job reruns only when its results would
change, every bad file is named with what to do, files are written as the umask says."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lossbarcode import jobs
from lossbarcode.config import job_spec
from lossbarcode.io import ResultFileError, read_json, read_torch, save_torch, write_json
from lossbarcode.landscape import NetworkLandscape

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = yaml.safe_load((ROOT / "tests/slurm/tiny.yaml").read_text())


def snakemake(*args, cwd, check=True):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def copy_workflow(to: Path) -> Path:
    to.mkdir(parents=True)
    for item in ("Snakefile", "rules", "config", "profiles", "envs"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, to / item)
    return to


def tiny_config(folder: str, **changes) -> dict:
    config = json.loads(json.dumps(TINY))
    config.update(device="cpu", checkpoint_every=0, results=f"{folder}/results", data_root=f"{folder}/data",
                  figures_dir=f"{folder}/figures", **changes)
    return config


def targets(config: dict) -> list[str]:
    return [f"{config['results']}/tiny_fcn/digits-fcn-2/barcode.json", f"{config['figures_dir']}/tiny_barcodes.png"]


def planned(work: Path, config: dict) -> dict[str, int]:
    """Jobs a dry run of ``config`` would run, by rule (empty when everything is up to date)."""
    (work / "changed.yaml").write_text(yaml.safe_dump(config))
    out = snakemake(*targets(config), "-n", "--cores", "1", "--configfile", "changed.yaml", cwd=work).stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].strip().split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


# The folder of every output has a space and a quote; next to it lies an unrelated file that an
# unquoted "2> {log}" would overwrite ("notes backup" splits into "notes" and "backup").
AWKWARD = "scratch/proj/notes backup/it's"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("hardening") / "work")
    (work / "scratch/proj").mkdir(parents=True)
    (work / "scratch/proj/notes").write_text("my notes\n")
    config = tiny_config(AWKWARD)
    (work / "tiny.yaml").write_text(yaml.safe_dump(config))
    before = {p for p in work.rglob("*")}
    snakemake(*targets(config), "--cores", "2", "--configfile", "tiny.yaml", cwd=work)
    return work, config, before


@pytest.mark.slow
def test_outputs_in_a_folder_with_a_space_and_a_quote_stay_inside_it(tiny_run):
    work, config, before = tiny_run
    assert (work / "scratch/proj/notes").read_text() == "my notes\n"
    created = {p for p in work.rglob("*")} - before
    folder = work / AWKWARD
    outside = [p for p in created if not (p.is_relative_to(folder) or p.is_relative_to(work / ".snakemake")
                                          or p in folder.parents)]
    assert outside == [], outside
    barcode = read_json(work / AWKWARD / "results/tiny_fcn/digits-fcn-2/barcode.json")
    assert len(barcode["edges"]) == 3 and len(barcode["triangles"]) == 1
    assert (work / AWKWARD / "figures/tiny_barcodes.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("change, reruns", [
    (lambda c: c.update(checkpoint_every=5), {}),
    (lambda c: c.update(device="auto"), {}),
    (lambda c: c["experiments"]["tiny_fcn"]["minimum"].update(runtime=20, mem_mb=2000), {}),
    (lambda c: c["experiments"]["tiny_fcn"]["triangle"].update(epochs=3),
     {"fit_triangle": 1, "barcode": 1, "figure": 1}),
    (lambda c: c["experiments"]["tiny_fcn"]["curve"].update(lr=0.04),
     {"fit_curve": 3, "fit_triangle": 1, "barcode": 1, "figure": 1}),
    (lambda c: c["experiments"]["tiny_fcn"]["minimum"].update(lr=0.02),
     {"train_minimum": 3, "fit_curve": 3, "fit_triangle": 1, "barcode": 1, "figure": 1}),
], ids=["checkpoint_every", "device", "time and memory limits", "triangle recipe", "curve recipe", "minimum recipe"])
def test_a_changed_setting_reruns_only_what_it_changes(tiny_run, change, reruns):
    work, config, _ = tiny_run
    changed = json.loads(json.dumps(config))
    change(changed)
    assert {k: v for k, v in planned(work, changed).items() if k != "all"} == reruns


def test_a_job_spec_holds_its_own_stage_and_nothing_of_the_others():
    experiment = TINY["experiments"]["tiny_fcn"]
    for stage in ("minimum", "curve", "triangle"):
        spec = job_spec("tiny_fcn", experiment, "digits", "fcn-2", stage)
        assert spec[stage] == {k: v for k, v in experiment[stage].items() if k not in ("mem_mb", "runtime")}
        others = {"minimum", "curve", "triangle", "device", "checkpoint_every", "scale"} - {stage}
        if stage == "triangle":  # but for how its sides, the curves, are measured
            assert spec.pop("curve_profile") == {k: experiment["curve"][k] for k in ("profile_points", "refine")}
        assert not others & spec.keys()


@pytest.mark.slow
def test_a_mirror_url_with_shell_characters_reaches_the_downloader_as_one_argument(tmp_path):
    work = copy_workflow(tmp_path / "work")
    url = f"http://127.0.0.1:9/x?token=a&b;touch {tmp_path}/injected"
    config = tiny_config("out", data_mirrors={"mnist": url})
    (work / "mirror.yaml").write_text(yaml.safe_dump(config))
    printed = snakemake("out/data/digits.pt", "-n", "-p", "--cores", "1", "--configfile", "mirror.yaml", cwd=work)
    command = next(line for line in printed.stdout.splitlines() if "lossbarcode prepare-data" in line)
    words = shlex.split(command.split("Shell command: ")[-1])
    assert json.loads(words[words.index("--mirrors") + 1]) == {"mnist": url}
    snakemake("out/data/digits.pt", "--cores", "1", "--configfile", "mirror.yaml", cwd=work)
    assert (work / "out/data/digits.pt").exists() and not (tmp_path / "injected").exists()


# ----- bad files are named, with what to do -------------------------------------------------------
def minimum_file(path: Path, theta=None) -> Path:
    save_torch(path, {"theta": torch.zeros(5) if theta is None else theta, "model": "fcn-2",
                      "model_args": {"width": 4}, "input_shape": [1, 8, 8], "classes": 10})
    return path


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch ran-code",))


@pytest.mark.parametrize("damage, problem", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated or corrupted"),
    (lambda p: p.write_text("not a tensor file\n"), "not a PyTorch file"),
    (lambda p: torch.save({"theta": RunsCode()}, p), "it holds Python objects other than tensors"),
    (lambda p: minimum_file(p, torch.tensor([0.0, float("nan")])), "its weights contain NaN"),
    (lambda p: torch.save({"theta": torch.zeros(3)}, p), "not a minimum file (no model, model_args"),
    (lambda p: p.unlink(), "the file is missing"),
], ids=["truncated", "text", "pickled code", "NaN weights", "other content", "missing"])
def test_a_bad_minimum_file_is_named_with_what_to_do(tmp_path, monkeypatch, damage, problem):
    monkeypatch.chdir(tmp_path)
    path = minimum_file(tmp_path / "results/e/r/minima/2.pt")
    damage(path)
    with pytest.raises(ResultFileError) as error:
        jobs.read_minimum(str(path))
    message = str(error.value)
    assert message.startswith(f"{path}: {problem}")
    assert "train_minimum" in message and f"--forcerun {path}" in message
    assert "weights_only" not in message
    assert not (tmp_path / "ran-code").exists()


def test_a_truncated_json_result_is_named(tmp_path):
    path = write_json(tmp_path / "curves/0-1.json", {"max": 1.0, "t": [0.0, 1.0]})
    path.write_text(path.read_text()[:10])
    with pytest.raises(ResultFileError, match=rf"^{path}: not valid JSON, truncated or edited .*fit_curve"):
        read_json(path)


def test_a_bad_curve_file_is_named(tmp_path):
    curve = tmp_path / "curves/0-1.pt"
    save_torch(curve, {"method": "polychain"})
    with pytest.raises(ResultFileError, match=rf"^{curve}: not a curve file"):
        jobs.read_curve(str(curve))


# fcn-2 of width 8 (test_jobs.spec) on 8x8 digits: 64 * 8 + 8, 8 * 8 + 8, 8 * 10 + 10 parameters
FCN_2_PARAMETERS = 682


def test_a_curve_job_names_the_truncated_minimum_it_was_given(digits, tmp_path):
    from test_jobs import spec

    good = minimum_file(tmp_path / "minima/0.pt", torch.zeros(FCN_2_PARAMETERS))
    bad = minimum_file(tmp_path / "minima/1.pt", torch.zeros(FCN_2_PARAMETERS))
    bad.write_bytes(bad.read_bytes()[:100])
    run = spec()
    with pytest.raises(ResultFileError, match=rf"^{bad}: truncated or corrupted"):
        jobs.fit_curve(run, digits, [str(good), str(bad)], str(tmp_path / "curves/0-1"))


def test_weights_of_another_model_are_named_by_the_curve_triangle_and_embedding_jobs(digits, tmp_path):
    from lossbarcode.curves import curve_state, make_curve
    from test_jobs import spec

    good = minimum_file(tmp_path / "minima/0.pt", torch.zeros(FCN_2_PARAMETERS))
    other = minimum_file(tmp_path / "minima/1.pt", torch.zeros(FCN_2_PARAMETERS + 1))
    with pytest.raises(ResultFileError, match=rf"^{other}: it holds a minimum of fcn-2 with 683 weights, but this "
                                              rf"job's model has 682: a file of another model.*--forcerun {other}"):
        jobs.fit_curve(spec(), digits, [str(good), str(other)], str(tmp_path / "curves/0-1"))
    curve = save_torch(tmp_path / "curves/0-1.pt", curve_state(make_curve("polychain", torch.zeros(9), torch.ones(9))))
    sides = [str(curve)] * 3
    with pytest.raises(ResultFileError, match=rf"^{curve}: it holds a polychain curve with 9 weights, but this job's "
                                              r"model has 682.*fit_curve"):
        jobs.fit_triangle(spec(), digits, [str(good)] * 3, sides, str(tmp_path / "triangles/0-1-2"))
    # the smaller network's minimum an embedding starts from: its weights against its own model
    with pytest.raises(ResultFileError, match=rf"^{other}: it holds a minimum of fcn-2 with 683 weights, but fcn-2 "
                                              r"with \{'width': 4\} on inputs \[1, 8, 8\], as the file says, has 330"):
        jobs.embed_minimum(spec(), digits, str(other), 0, str(tmp_path / "embedded/0"))


@pytest.mark.parametrize("folder, record, problem", [
    ("minima", {"train_accuracy": 0.9}, r"it has no 'train_loss' \(it has: train_accuracy\)"),
    ("minima", {"train_loss": "0.1"}, r"its 'train_loss' is not a number: '0\.1'"),
    ("minima", {"train_loss": None}, r"its 'train_loss' is not a number: None"),
    ("minima", [0.1], r"not a record \(a JSON object\) but a JSON list"),
    ("curves", {"max": 1.0, "t": [0.0, 1.0]}, r"it has no 'train_loss'"),
    ("curves", {"max": [1.0], "t": [0.0, 1.0], "train_loss": [0.1, 0.2]}, r"its 'max' is not a number"),
    ("triangles", {"side_max": [0.5, 0.7], "max": 1.0}, r"its 'side_max' is not three numbers: \[0\.5, 0\.7\]"),
], ids=["no loss", "loss as text", "null loss", "a list", "curve without losses", "curve max a list",
        "two sides"])
def test_a_record_without_what_the_barcode_job_reads_is_named(tmp_path, folder, record, problem):
    good = {"minima": {"train_loss": 0.1}, "curves": {"max": 1.0, "t": [0.0, 1.0], "train_loss": [0.1, 0.2]},
            "triangles": {"side_max": [1.0, 1.0, 1.0], "max": 1.2}}
    files = {"minima": [tmp_path / "minima/0.json", tmp_path / "minima/1.json", tmp_path / "minima/2.json"],
             "curves": [tmp_path / "curves/0-1.json"], "triangles": [tmp_path / "triangles/0-1-2.json"]}
    for kind, paths in files.items():
        for path in paths:
            write_json(path, good[kind])
    bad = files[folder][0]
    bad.write_text(json.dumps(record))
    writer = {"minima": "train_minimum", "curves": "fit_curve", "triangles": "fit_triangle"}[folder]
    with pytest.raises(ResultFileError, match=rf"^{bad}: {problem}.*the workflow's {writer}.*--forcerun {bad}"):
        jobs.barcode(*([str(p) for p in files[kind]] for kind in files), str(tmp_path / "barcode.json"))


def test_a_barcode_without_what_figures_read_is_named(tmp_path):
    barcode = tmp_path / "results/e/digits-fcn-2/barcode.json"
    write_json(barcode, {"minima": {"train_loss": [0.1, 0.2]}, "h0": [], "h1": []})
    run = {"experiment": "e", "run": "digits-fcn-2", "dataset": "digits", "model": "fcn-2", "barcode": str(barcode)}
    with pytest.raises(ResultFileError, match=rf"^{barcode}: it has no 'h0_graph_deaths'.*the workflow's barcode job"):
        jobs.figure("barcodes", "t", "quick", [run], str(tmp_path / "figure"))


def test_a_data_file_that_is_not_one_is_named(tmp_path):
    from lossbarcode.data import load

    path = save_torch(tmp_path / "digits.pt", {"x": torch.zeros(2)})
    with pytest.raises(ResultFileError, match=rf"^{path}: not a dataset file.*prepare_data"):
        load(path)


def test_read_torch_reads_what_lossbarcode_writes(tmp_path):
    saved = {"theta": torch.arange(4.0), "model": "fcn-2", "model_args": {"width": 3}, "shape": [1, 2], "n": 10}
    assert str(read_torch(save_torch(tmp_path / "a.pt", saved))) == str(saved)


# ----- everything else of the hardening issue ----------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_writers_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        paths = [write_json(tmp_path / "a.json", {}), save_torch(tmp_path / "b.pt", {"x": torch.ones(1)})]
    finally:
        os.umask(old)
    assert [p.stat().st_mode & 0o777 for p in paths] == [mode, mode]


def test_nan_data_is_refused_by_the_landscape():
    x, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)
    x[2, 1] = float("nan")
    with pytest.raises(ValueError, match="training inputs contain NaN"):
        NetworkLandscape(torch.nn.Linear(3, 2), (x, y))
    with pytest.raises(ValueError, match="test inputs contain NaN"):
        NetworkLandscape(torch.nn.Linear(3, 2), (torch.zeros(4, 3), y), (x, y))


def test_the_command_says_its_version_and_its_help_has_no_markup():
    from importlib.metadata import version

    run = [str(Path(sys.executable).parent / "lossbarcode")]
    assert subprocess.run([*run, "--version"], capture_output=True, text=True, check=True).stdout.strip() == \
        f"lossbarcode {version('lossbarcode')}"
    for verb in ([], ["train-minimum"], ["prepare-data"], ["figure"]):
        text = subprocess.run([*run, *verb, "--help"], capture_output=True, text=True, check=True).stdout
        assert "``" not in text and ":func:" not in text
