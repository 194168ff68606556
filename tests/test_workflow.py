"""The Snakemake workflow: its configurations resolve, the linter is happy, bad configurations fail
before any job runs, and the test profile (every rule and every figure, table and claim kind at the
smallest size) really runs end to end, surviving an interruption."""

import base64
import csv
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lossbarcode.io import read_json

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TEST_CONFIG = ROOT / "config/test.yaml"


def snakemake(*args, cwd=ROOT, check=True, env=None, **kwargs):
    env = {**(env or os.environ), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize("how", [["--cores", "all", "--resources", "gpu=4"], ["--profile", "profiles/gpu"]])
def test_paper_dag_has_the_grids_of_every_section(tmp_path, how):
    out = snakemake("-n", *how, "--config", f"results={tmp_path}/r",
                    f"data_root={tmp_path}/d", f"figures_dir={tmp_path}/f").stdout
    experiments = yaml.safe_load((ROOT / "config/config.yaml").read_text())["experiments"]
    fcn, cnn, bn, embedded, gpt = (experiments[k] for k in ("fcn_depth", "cnn_cifar10", "cnn_bn_cifar10",
                                                             "cnn_embedding", "gpt_oscar"))
    assert len(fcn["models"]) == 5 and fcn["datasets"] == ["mnist", "fmnist"]
    assert len(cnn["models"]) + len(bn["models"]) == 12 and cnn["datasets"] == bn["datasets"] == ["cifar10"]
    assert gpt["models"] == ["gpt-6-384"] and gpt["datasets"] == ["oscar"] and gpt["minima"] == 4  # §7: four seeds
    # §5: two datasets x two types x 8 minima; §8: five WRN-16-10 minima on CIFAR-100
    generalization = [experiments[f"resnet9_{d}_type{t}"] for d in ("cifar10", "svhn") for t in (1, 2)]
    assert [(e["datasets"], e["models"], e["minima"]) for e in generalization] == [
        (["cifar10"], ["resnet9"], 8)] * 2 + [(["svhn"], ["resnet9"], 8)] * 2
    wrn = experiments["wrn_cifar100"]
    assert (wrn["datasets"], wrn["models"], wrn["minima"]) == (["cifar100"], ["wrn-16-10"], 5)
    again, curves_only = experiments["resnet9_robustness"], experiments["resnet9_robustness_curves"]
    assert again["datasets"] == curves_only["datasets"] == ["cifar10", "svhn"]
    r, m = again["repeat"]["times"], again["minima"]
    assert curves_only["repeat"]["times"] == r and curves_only["minima"] == m
    # §6 and paper 004: eight Li et al. networks with triangles; Fig 1's LeNet in two regimes x three budgets
    li = experiments["li_resnets"]
    assert set(li["models"]) == {f"resnet{ns}-{d}" for ns in ("", "-ns") for d in (20, 56, 110)} | {
        "resnet-56-2", "resnet-ns-56-2"} and li["triangles"] and li["datasets"] == ["cifar10"]
    lenet = [e for name, e in experiments.items() if name.startswith("lenet_")]
    assert sorted((e["triangle"]["train_sides"], e["triangle"]["epochs"]) for e in lenet) == [
        (False, 10), (False, 25), (False, 50), (True, 10), (True, 25), (True, 50)]
    paper004 = 8 * li["minima"] + 6 * 3  # minima = curves = triangles x 3 at three minima each
    assert li["minima"] == 3 and all(e["minima"] == 3 for e in lenet)

    n = fcn["minima"]
    assert cnn["minima"] == bn["minima"] == embedded["minima"] == n
    fcn_models, cnn_models, embedded_models = 10, 12, len(embedded["models"])
    pairs = lambda k: k * (k - 1) // 2  # noqa: E731
    counts = job_counts(out)
    assert counts["train_minimum"] == (fcn_models + cnn_models) * n + 4 + 4 * 8 + 5 + 2 * r * m + 2 * m + paper004
    assert counts["embed_minimum"] == embedded_models * n
    assert counts["fit_curve"] == ((fcn_models + cnn_models + embedded_models) * pairs(n) + pairs(4) + 4 * pairs(8)
                                   + pairs(5) + 2 * 2 * r * pairs(m) + paper004)
    assert counts["fit_triangle"] == fcn_models * n * (n - 1) * (n - 2) // 6 + 8 + 6
    assert counts["barcode"] == fcn_models + cnn_models + embedded_models + 1 + 4 + 1 + 2 * 2 * r + 8 + 6
    assert counts["figure"] == 18 + 10 and counts["table"] == 5 and counts["toy"] == 6


def test_jobs_per_gpu_reaches_the_job_but_not_its_params(tmp_path):
    out = snakemake("-n", "-p", "--cores", "all", "--resources", "gpu=4", "--config", f"results={tmp_path}/r",
                    f"data_root={tmp_path}/d", f"figures_dir={tmp_path}/f").stdout
    commands = [line for line in out.splitlines() if "lossbarcode fit-curve" in line]
    fcn = [c for c in commands if '"experiment": "fcn_depth"' in c]
    assert fcn and all(c.endswith("--jobs-per-gpu 4 2> " + c.split(" 2> ")[-1]) for c in fcn)
    assert all("--jobs-per-gpu 1 " in c for c in commands if c not in fcn)
    specs = [shlex.split(c)[shlex.split(c).index("--spec") + 1] for c in commands]
    assert not any("jobs_per_gpu" in spec or "mem_mb" in spec for spec in specs)


def test_quick_profile_dry_run(tmp_path):
    out = snakemake("-n", "--profile", "profiles/quick", "--config", f"results={tmp_path}/r",
                    f"data_root={tmp_path}/d", f"figures_dir={tmp_path}/f").stdout
    counts = job_counts(out)
    assert counts["toy"] == 6 and counts["figure"] == 18 + 10 and counts["table"] == 5
    assert counts["fidelity"] == counts["configuration"] == 1  # the report's pages of the run as a whole
    # §4.1, §4.2, §7; §5 (4 x 3 minima), robustness (3 repetitions of 3 minima, and 3 kept), WRN (3);
    # §6 (6 networks x 3 minima) and paper 004 Fig 1 (4 LeNet experiments x 3 minima), a triangle each
    # §4.1: 2 datasets x 3 depths; §4.2: 2 x 4 CNNs, 2 embedded
    assert counts["train_minimum"] == 18 + 24 + 4 + 12 + 9 + 3 + 3 + 18 + 12 and counts["embed_minimum"] == 6
    assert counts["fit_curve"] == 18 + 30 + 6 + 12 + 2 * 9 + 3 + 18 + 12 and counts["fit_triangle"] == 6 + 6 + 4


def workflow_rules() -> set[str]:
    """The name of every rule of the workflow (the Snakefile and rules/*.smk)."""
    return {m[1] for path in [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")]
            for m in re.finditer(r"^rule (\w+):", path.read_text(), re.M)}


def test_test_config_covers_every_kind():
    """config/test.yaml (with config/toy.yaml, which the Snakefile always loads) has every figure, table
    and claim kind of the registries, every curve method, both kinds of data, embedding, both ways
    of repeating an estimate, both triangle regimes and a minimum kept at its best train loss: a new
    kind fails here until the end-to-end run exercises it."""
    from lossbarcode import claims, tables
    from lossbarcode.datasets import DATASETS
    from lossbarcode.figures import KINDS as FIGURE_KINDS

    experiments = yaml.safe_load(TEST_CONFIG.read_text())["experiments"]
    entries = [*experiments.values(), *yaml.safe_load((ROOT / "config/toy.yaml").read_text())["toy"].values()]
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    experiment_schema = schema["properties"]["experiments"]["additionalProperties"]["properties"]

    def kinds(section):
        return {spec["kind"] for entry in entries for spec in entry.get(section, {}).values()}

    assert kinds("figures") == set(FIGURE_KINDS)
    assert kinds("tables") == set(tables.KINDS)
    assert kinds("claims") == set(claims.KINDS)
    assert {e["curve"]["method"] for e in experiments.values()} == set(
        experiment_schema["curve"]["properties"]["method"]["enum"])
    assert {DATASETS[d].kind for e in experiments.values() for d in e["datasets"]} == {
        d.kind for d in DATASETS.values()}
    assert {e["repeat"]["refit"] for e in experiments.values() if "repeat" in e} == set(
        experiment_schema["repeat"]["properties"]["refit"]["enum"])
    assert {e["triangle"].get("train_sides", False) for e in experiments.values() if e["triangles"]} == {False, True}
    assert any("embed" in e for e in experiments.values())
    assert any(e["minimum"].get("keep") == "best_train_loss" for e in experiments.values())


def test_test_profile_dry_run_has_every_rule(tmp_path):
    out = snakemake("-n", "--profile", "profiles/test", "--config", f"results={tmp_path}/r",
                    f"data_root={tmp_path}/d", f"figures_dir={tmp_path}/f").stdout
    counts = job_counts(out)
    assert set(counts) == workflow_rules() | {"total"}, counts
    assert all(counts.values())


def test_repetitions_refit_everything_or_only_the_curves(tmp_path):
    """``repeat``: R runs per dataset and model; refitting everything trains new minima from new seeds
    per repetition, refitting the curves joins the first repetition's minima with new curves (their
    seeds come from the run's name, which the job's spec carries)."""
    config = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    base = config["experiments"]["fcn_depth"]
    base.update(datasets=["digits"], models=["fcn-2"], minima=3, triangles=True, figures={})
    config.update(results=str(tmp_path / "r"), data_root=str(tmp_path / "d"), figures_dir=str(tmp_path / "f"),
                  experiments={"again": {**base, "repeat": {"times": 2, "refit": "all"}},
                               "curves": {**base, "repeat": {"times": 2, "refit": "curves"}}})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out = snakemake("-n", "-p", "--cores", "1", "--configfile", str(tmp_path / "c.yaml")).stdout
    counts = job_counts(out)
    assert counts["train_minimum"] == 2 * 3 + 3 and counts["fit_curve"] == 2 * (2 * 3)
    assert counts["fit_triangle"] == 2 * 2 and counts["barcode"] == 4
    outputs = set(re.findall(r"output: (\S+)/minima/(\d+)\.pt", out))
    assert {(Path(run).name, int(seed)) for run, seed in outputs} == {
        ("digits-fcn-2-r0", 0), ("digits-fcn-2-r0", 1), ("digits-fcn-2-r0", 2),  # both experiments
        ("digits-fcn-2-r1", 3), ("digits-fcn-2-r1", 4), ("digits-fcn-2-r1", 5),  # refit all only
    }
    curves = [shlex.split(c) for c in out.splitlines() if "lossbarcode fit-curve" in c and "/curves/digits" in c]
    ends = {c[c.index("--out") + 1]: (c[c.index("--ends") + 1], c[c.index("--ends") + 2]) for c in curves}
    assert ends[f"{tmp_path}/r/curves/digits-fcn-2-r1/curves/0-1"] == (
        f"{tmp_path}/r/curves/digits-fcn-2-r0/minima/0.pt", f"{tmp_path}/r/curves/digits-fcn-2-r0/minima/1.pt")
    runs = {yaml.safe_load(c[c.index("--spec") + 1])["run"] for c in curves}
    assert runs == {"digits-fcn-2-r0", "digits-fcn-2-r1"}


def test_a_figure_may_show_some_of_its_experiments_models(tmp_path):
    config = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    base = config["experiments"]["fcn_depth"]
    base.update(datasets=["digits"], models=["fcn-2", "fcn-3"], triangles=False,
                figures={"some": {"kind": "barcodes", "title": "t", "models": ["fcn-3"]},
                         "every": {"kind": "barcodes", "title": "t"}})
    config.update(results=str(tmp_path / "r"), data_root=str(tmp_path / "d"), figures_dir=str(tmp_path / "f"),
                  experiments={"fcn_depth": base})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out = snakemake("-n", "-p", "--cores", "1", "--configfile", str(tmp_path / "c.yaml")).stdout
    shown = {}
    for command in (shlex.split(c) for c in out.splitlines() if "lossbarcode figure" in c):
        runs = yaml.safe_load(command[command.index("--runs") + 1])
        shown[Path(command[command.index("--out") + 1]).name] = [r["model"] for r in runs if "model" in r]
    shown = {name: models for name, models in shown.items() if name in ("some", "every")}
    assert shown == {"some": ["fcn-3"], "every": ["fcn-2", "fcn-3"]}


def test_schema_knows_every_toy_experiment():
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    from lossbarcode.toy import EXPERIMENTS

    assert schema["properties"]["toy"]["additionalProperties"]["properties"]["run"]["enum"] == list(EXPERIMENTS)


def test_schema_enums_are_the_registries():
    """Registries that need torch are listed in the schema (the DAG is built without torch); they
    must not drift apart."""
    from lossbarcode.augment import AUGMENTATIONS, NORMALISATIONS
    from lossbarcode.cli import SCALES
    from lossbarcode.train import COMPILE_MODES, DECAY_MASKS, KEEPS, OPTIMIZERS, SCHEDULES

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    recipe = schema["$defs"]["recipe"]["properties"]
    experiment = schema["properties"]["experiments"]["additionalProperties"]["properties"]
    assert recipe["schedule"]["enum"] == list(SCHEDULES)
    assert recipe["optimizer"]["enum"] == list(OPTIMIZERS)
    assert recipe["decay_mask"]["enum"] == list(DECAY_MASKS)
    assert recipe["compile"]["enum"] == list(COMPILE_MODES)
    assert recipe["augmentation"]["enum"] == list(AUGMENTATIONS)
    assert experiment["normalisation"]["enum"] == list(NORMALISATIONS)
    assert experiment["minimum"]["properties"]["keep"]["enum"] == list(KEEPS)
    assert schema["properties"]["scale"]["enum"] == list(SCALES)  # the command's --scale
    assert set(recipe["schedule_args"]["properties"]) == {a for s in SCHEDULES.values() for a in (*s.required, *s.optional)}


def test_lint_is_clean_but_for_the_settings_kept_out_of_params():
    """The linter's one complaint is deliberate: how a job runs (device, checkpoint interval, download
    mirror) reaches its command line from a global, not from params, because Snakemake reruns every
    job whose params change and these settings change no result."""
    lints = snakemake("--lint", check=False)
    text = lints.stdout + lints.stderr
    complaints = re.findall(r"^    \* (.*):$", text, re.M)
    assert complaints and set(complaints) == {"Shell command directly uses variable JOB_SETTINGS from outside of the rule",
                                              "Shell command directly uses variable MIRRORS from outside of the rule"}, text


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["experiments"]["fcn_depth"]["models"].append("vgg-999"),
         r"config key experiments\.fcn_depth\.models\[3\]: unknown model 'vgg-999'"),
        (lambda c: c["experiments"]["fcn_depth"]["minimum"].update(epochs=-3),
         r"config key experiments\.fcn_depth\.minimum\.epochs: -3 is less than the minimum of 1"),
        (lambda c: c["experiments"]["fcn_depth"].update(minmia=c["experiments"]["fcn_depth"].pop("minima")),
         r"config key experiments\.fcn_depth: Additional properties are not allowed \('minmia' was unexpected\)"),
        (lambda c: c["experiments"]["fcn_depth"]["curve"].update(l3=1.0),
         r"config key experiments\.fcn_depth\.curve: .*'l3' was unexpected"),
        (lambda c: c["experiments"]["fcn_depth"]["figures"]["fig2_fcn_barcodes"].update(kind="pie"),
         r"config key experiments\.fcn_depth\.figures\.fig2_fcn_barcodes\.kind: unknown kind 'pie'"),
        (lambda c: c.update(scale="huge"), r"config key scale: 'huge' is not one of \['quick', 'paper'\]"),
        (lambda c: c["experiments"]["cnn_embedding"]["embed"]["models"].update({"cnn-2-64": "cnn-1-16"}),
         r"experiments\.cnn_embedding\.embed\.models\.cnn-2-64: 'cnn-1-16' is not a model of cnn_cifar10"),
        (lambda c: c["experiments"]["fcn_depth"]["curve"].update(method="pointchain"),
         r"config key experiments\.fcn_depth\.curve: 'insert_every' is a required property \(a point chain needs"),
        (lambda c: c["experiments"]["fcn_depth"].update(model_args={"widht": 32}),
         r"config key experiments\.fcn_depth\.model_args: fcn models take no argument 'widht' \(they take: width\)"
         r"\n.*config key experiments\.fcn_depth\.model_args: fcn models need 'width'"),
        (lambda c: c["experiments"]["fcn_depth"].pop("triangle"),
         r"config key experiments\.fcn_depth: 'triangle' is a required property \(triangles: true needs"),
        (lambda c: c["experiments"].update({"fcn-depth": c["experiments"].pop("fcn_depth")}),
         r"config key experiments: 'fcn-depth' does not match .*letters, digits and underscores only"),
        (lambda c: c.update(reslts="r"),
         r"config key \(top level\): Additional properties are not allowed \('reslts' was unexpected\)"),
        (lambda c: c.update(results="r/{experiment}"), r"config key results: 'r/\{experiment\}' does not match"),
        (lambda c: c["experiments"]["cnn_cifar10"].update(repeat={"times": 2, "refit": "all"}),
         r"config key experiments\.cnn_embedding\.embed: embedding and repeat do not combine"),
        (lambda c: c["experiments"]["fcn_depth"].update(repeat={"times": 1, "refit": "curves"}),
         r"config key experiments\.fcn_depth\.repeat\.times: 1 is less than the minimum of 2"),
        (lambda c: c["experiments"]["gpt_text"].update(tables={"fig9_gpt_barcode": {"kind": "minima", "title": "t"}}),
         r"config key experiments\.gpt_text\.tables\.fig9_gpt_barcode: a figure has this name too"),
        (lambda c: c["experiments"]["cnn_cifar10"]["figures"]["fig4_cnn_barcodes"].update(models=["cnn-9-9"]),
         r"config key experiments\.cnn_cifar10\.figures\.fig4_cnn_barcodes\.models: 'cnn-9-9' is not one of"),
        (lambda c: c["experiments"]["gpt_text"]["tables"]["table_gpt_minima"].update(kind="pie"),
         r"config key experiments\.gpt_text\.tables\.table_gpt_minima\.kind: unknown kind 'pie'; choose one of"),
        (lambda c: c["experiments"]["li_resnets"]["claims"]["s6_shortcuts_lower_bars"]["pairs"].append(["resnet-8", "vgg-8"]),
         r"config key experiments\.li_resnets\.claims\.s6_shortcuts_lower_bars: 'vgg-8' is neither an experiment nor a model"),
        (lambda c: c["experiments"]["fcn_depth"]["claims"]["s4_1_bars_fall_with_depth"].update(expect="down"),
         r"config key experiments\.fcn_depth\.claims\.s4_1_bars_fall_with_depth\.expect: 'down' is not one of \['falls', 'rises'\]"),
        (lambda c: c["experiments"]["gpt_text"]["claims"]["s7_two_quality_levels"].update(kind="vibes"),
         r"config key experiments\.gpt_text\.claims\.s7_two_quality_levels\.kind: unknown kind 'vibes'"),
    ],
)
def test_bad_configs_fail_before_any_job_naming_the_key(tmp_path, edit, message):
    config = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    config.update(results=str(tmp_path / "r"), data_root=str(tmp_path / "d"), figures_dir=str(tmp_path / "f"))
    edit(config)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--cores", "1", "--configfile", str(tmp_path / "bad.yaml"), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert re.search(message, output), output
    assert "$schema" not in output and len(output.splitlines()) < 15, output  # the problem, not the schema
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()


def docs_configs() -> tuple[dict, dict]:
    """docs/configuration.md's configuration of one's own and its configuration with several mistakes."""
    own, mistaken = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs/configuration.md").read_text(), re.S)[:2]
    return yaml.safe_load(own), yaml.safe_load(mistaken)


def test_a_config_of_ones_own_runs_only_its_experiments(tmp_path):
    own = {**docs_configs()[0], "results": str(tmp_path / "r"), "data_root": str(tmp_path / "d"),
           "figures_dir": str(tmp_path / "f")}
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(own))
    out = snakemake("-n", "--cores", "2", "--configfile", str(tmp_path / "own.yaml")).stdout
    counts = job_counts(out)
    assert "toy" not in counts and counts["figure"] == 1 and counts["train_minimum"] == 6, counts
    some = {**own, "analytic_experiments": ["insertion"]}
    (tmp_path / "some.yaml").write_text(yaml.safe_dump(some))
    counts = job_counts(snakemake("-n", "--cores", "2", "--configfile", str(tmp_path / "some.yaml")).stdout)
    assert counts["toy"] == 1 and counts["figure"] == 2, counts


def test_every_mistake_is_reported_before_any_job_at_once(tmp_path):
    mistaken = {**docs_configs()[1], "results": str(tmp_path / "r"), "data_root": str(tmp_path / "d"),
                "figures_dir": str(tmp_path / "f")}
    (tmp_path / "mistaken.yaml").write_text(yaml.safe_dump(mistaken))
    result = snakemake("--cores", "1", "--configfile", str(tmp_path / "mistaken.yaml"), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and not any((tmp_path / d).exists() for d in ("r", "d", "f"))
    for key in ("experiments.mine.minimum", "experiments.mine.data.train_size", "experiments.mine.models[0]",
                "experiments.mine.model_args", "experiments.my_llama.model_args",
                "experiments.mine.figures.my_barcodes.kind", "analytic_experiments[1]"):
        assert f"config key {key}: " in output, (key, output)


def test_a_yaml_error_names_the_file_and_line(tmp_path):
    work = tmp_path / "workflow"
    work.mkdir()
    for item in ("Snakefile", "rules", "config"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, work / item)
    text = (work / "config/config.yaml").read_text().splitlines()
    text[4] = "data_root: data: here"  # line 5: a second colon
    (work / "config/config.yaml").write_text("\n".join(text) + "\n")
    result = snakemake("-n", "--cores", "1", cwd=work, check=False)
    assert result.returncode != 0
    assert re.search(r"config/config\.yaml, line 5, column \d+: not valid YAML", result.stdout + result.stderr), \
        result.stdout + result.stderr


def experiment_runs(experiment: dict) -> list[str]:
    """An experiment's run names, as the workflow names their folders: DATASET-MODEL, -rK per repetition."""
    names = [f"{d}-{m}" for d in experiment["datasets"] for m in experiment["models"]]
    if "repeat" in experiment:
        names = [f"{name}-r{k}" for name in names for k in range(experiment["repeat"]["times"])]
    return names


@pytest.mark.slow
def test_test_profile_end_to_end_survives_an_interruption(tmp_path):
    """config/test.yaml, every rule and every figure, table and claim kind at the smallest size, through
    profiles/test: interrupted while minima train, resumed, its files checked and its report rendered."""
    work = tmp_path / "workflow"
    work.mkdir()
    for item in ("Snakefile", "rules", "config", "profiles", "envs", "report", "docs"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, work / item)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    # Interrupt the run while minima are being trained, as a killed job would be.
    # SIGINT as a terminal sends it, whatever the test runs under (a background shell ignores it,
    # and a Python started with SIGINT ignored never turns it into KeyboardInterrupt).
    run = subprocess.Popen([*SNAKEMAKE, "--profile", "profiles/test"], cwd=work, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results, figures = work / "results/test", work / "figures/test"
    minima = results / "fcn_depth"
    deadline = time.monotonic() + 300
    while not list(minima.glob("*/minima/*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGINT)
    try:
        run.wait(timeout=120)
    except subprocess.TimeoutExpired:
        tree = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-g", str(run.pid)], capture_output=True, text=True)
        logs = sorted((work / ".snakemake/log").glob("*.log"))
        raise AssertionError(f"snakemake still runs 120 s after SIGINT:\n{tree.stdout}\n"
                             f"{logs[-1].read_text()[-3000:] if logs else 'no snakemake log'}") from None
    assert not (figures / "claims.csv").exists(), "the run ended before the interruption: nothing was resumed"
    leftovers = [p for p in work.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"partial files left behind: {leftovers}"
    for record in minima.glob("*/minima/*.json"):
        assert read_json(record)["train_loss"] >= 0
        assert torch.load(record.with_suffix(".pt"))["theta"].ndim == 1

    # The rerun resumes the DAG and finishes it.
    result = snakemake("--profile", "profiles/test", cwd=work)
    assert "steps (100%) done" in result.stderr + result.stdout

    experiments = yaml.safe_load(TEST_CONFIG.read_text())["experiments"]
    toy = yaml.safe_load((ROOT / "config/toy.yaml").read_text())["toy"]
    for name, experiment in experiments.items():
        n, curve_spec = experiment["minima"], experiment["curve"]
        for run_name in experiment_runs(experiment):
            barcode = read_json(results / name / run_name / "barcode.json")
            assert {"h0", "h1", "h0_graph_deaths", "h0_direct_deaths", "to_score", "to_score_direct", "w_inf",
                    "minima", "edges", "triangles", "triangle_lifespans"} <= barcode.keys()
            h0 = np.array(barcode["h0"])
            assert h0.shape == (n, 2) and np.isinf(h0[:, 1]).sum() == 1, (name, run_name)
            assert len(barcode["edges"]) == math.comb(n, 2)
            assert len(barcode["triangles"]) == (math.comb(n, 3) if experiment["triangles"] else 0), (name, run_name)
            assert set(barcode["to_score"]) == {"euclidean", "linf"}
            curves = sorted((results / name / run_name / "curves").glob("*.json"))
            assert len(curves) == math.comb(n, 2)
            for curve in map(read_json, curves):
                assert curve["method"] == curve_spec["method"]
                assert len(curve["t"]) >= curve_spec["profile_points"] and max(curve["train_loss"]) == curve["max"]
                assert len(curve.get("test_loss", [])) == (len(curve["t"]) if curve_spec.get("test_profile") else 0)
        # every training job logged and benchmarked itself
        assert list((results / "logs" / name).glob("*/minima/*.benchmark.tsv")), name
    assert not list(results.rglob("*.ckpt")), "a finished job left its checkpoint behind"

    gpt = read_json(results / "gpt_text/mimesis_text-gpt-1-16/barcode.json")
    assert gpt["minima"]["unit"] == ["token"] * 3 and len(gpt["profiles"]) == 3
    for embedded in (results / "cnn_embedding/digits-cnn-1-8/minima").glob("*.json"):
        assert read_json(embedded)["embedded_from"] == "cnn-1-4"
    type1 = read_json(results / "type1/digits-fcn-2/minima/0.json")
    assert type1["kept"] == "best_train_loss" and type1["parameters"] == (64 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 10
    assert read_json(results / "type2/digits-fcn-2/minima/0.json")["kept"] == "last"
    # refit all: new minima from new seeds per repetition; refit curves: the first repetition's minima
    assert sorted(p.name for p in (results / "robustness/digits-fcn-2-r1/minima").glob("*.json")) == ["2.json", "3.json"]
    assert not (results / "robustness_curves/digits-fcn-2-r1/minima").exists()

    entries = {name: spec for entry in (*experiments.values(), *toy.values())
               for section in ("figures", "tables") for name, spec in entry.get(section, {}).items()}
    figure_names = {f for entry in (*experiments.values(), *toy.values()) for f in entry["figures"]}
    for figure in figure_names:
        for suffix in (".png", ".pdf", ".csv"):
            assert (figures / f"{figure}{suffix}").stat().st_size > 0
    for table in entries.keys() - figure_names:
        assert (figures / f"{table}.csv").stat().st_size > 0
        assert (figures / f"{table}.md").read_text().startswith("# ")
        assert "<table>" in (figures / f"{table}.html").read_text()
    # every configured claim has its row, decided or said to be undecidable
    configured = {c for entry in (*experiments.values(), *toy.values()) for c in entry.get("claims", {})}
    with open(figures / "claims.csv") as f:
        rows = {row["claim"]: row for row in csv.DictReader(f)}
    assert set(rows) == configured
    assert {row["verdict"] for row in rows.values()} <= {"holds", "does not hold", "undecided", "not computed yet"}

    # The report embeds every figure and table, listed by title and captioned, and the pages about the run.
    snakemake("--profile", "profiles/test", "--report", "report.html", cwd=work)
    embedded = report_results(work / "report.html")
    titles = {f"{name}{'.png' if name in figure_names else '.html'}": spec["title"] for name, spec in entries.items()}
    captions = {name: "What is plotted." if name.endswith(".png") else "What is tabulated." for name in titles}
    captions |= {"fidelity.html": "How far this workflow follows the papers",
                 "config.html": "The configuration this run used",
                 "claims.html": "checked on these results"}
    assert sorted(Path(path).name for path in embedded) == sorted(captions)
    for path, (data, entry) in embedded.items():
        name = Path(path).name
        assert data == (work / path).read_bytes(), path
        assert captions[name] in entry["caption"], path
        assert name not in titles or entry["labels"] == {"item": titles[name]}, path


def report_results(report: Path) -> dict[str, tuple[bytes, dict]]:
    """The files a Snakemake report embeds, by path: their bytes (decoded from the base64 data URI the
    report holds them in) and the report's entry (caption, labels, ...). Snakemake 9 writes them as one
    JSON object, ``<script id="results"> var results = {...};``, in the page."""
    text = report.read_text()
    start = text.index("var results = ", text.index('<script id="results">')) + len("var results = ")
    results, _ = json.JSONDecoder().raw_decode(text, start)
    return {path: (base64.b64decode(entry["data_uri"].split(";base64,", 1)[1]), entry)
            for path, entry in results.items()}


@pytest.mark.slow
def test_gpu_jobs_lease_their_own_devices(tmp_path):
    """Four GPU jobs, ``--resources gpu=2``, two fake devices: no two jobs on one device at once."""
    config = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    experiment = config["experiments"]["fcn_depth"]
    experiment.update(datasets=["digits"], models=["fcn-2"], minima=4, triangles=False, figures={})
    experiment["minimum"]["epochs"] = 600  # a few seconds per job, so that two jobs overlap
    config.update(device="auto", results=str(tmp_path / "r"), data_root=str(tmp_path / "d"),
                  figures_dir=str(tmp_path / "f"), experiments={"fcn_depth": experiment})
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(config))
    minima = tmp_path / "r/fcn_depth/digits-fcn-2/minima"
    env = {**os.environ, "LOSSBARCODE_FAKE_GPUS": "2", "LOSSBARCODE_LOCK_DIR": str(tmp_path / "locks")}
    snakemake(*(str(minima / f"{seed}.pt") for seed in range(4)), "--cores", "4", "--resources", "gpu=2",
              "--configfile", str(tmp_path / "gpu.yaml"), env=env)

    leases = {}  # device -> [(leased, released)]
    for log in sorted((tmp_path / "r/logs/fcn_depth/digits-fcn-2/minima").glob("*.log")):
        times = {}
        for line in log.read_text().splitlines():
            if match := re.match(r"(\S+ \S+) (leased|released) GPU (\S+)", line):
                times[match[2]] = time.mktime(time.strptime(match[1][:19], "%Y-%m-%d %H:%M:%S")) + \
                    int(match[1][20:]) / 1000
                device = match[3]
        leases.setdefault(device, []).append((times["leased"], times["released"]))
    # a job takes the first free device, so fake1 in use means two jobs ran at once
    assert sorted(leases) == ["fake0", "fake1"], leases
    assert sum(map(len, leases.values())) == 4
    for spans in leases.values():
        spans.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans
