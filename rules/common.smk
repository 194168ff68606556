# Helpers shared by the rules: the experiment grid, run specs and input functions.
import json
import os
from itertools import combinations

from lossbarcode import models as model_registry
from lossbarcode.figures import KINDS as FIGURE_KINDS

DATA = config["data_root"]
RESULTS = config["results"]
FIGURES = config["figures_dir"]
EXPERIMENTS = config["experiments"]
RUN = f"{RESULTS}/{{experiment}}/{{run}}"
LOGS = f"{RESULTS}/logs/{{experiment}}/{{run}}"


def check_config():
    """What the schema cannot know: model names and figure kinds, named by their config key."""
    for name, experiment in EXPERIMENTS.items():
        for i, model in enumerate(experiment["models"]):
            try:
                model_registry.parse(model)
            except ValueError as error:
                raise ValueError(f"config key experiments.{name}.models[{i}]: {error}") from None
        for figure, spec in experiment["figures"].items():
            if spec["kind"] not in FIGURE_KINDS:
                raise ValueError(
                    f"config key experiments.{name}.figures.{figure}.kind: unknown kind {spec['kind']!r}; "
                    f"choose one of {sorted(FIGURE_KINDS)}"
                )


check_config()


def runs(experiment):
    """Run names of an experiment: one per dataset and model, e.g. 'mnist-fcn-4'."""
    spec = EXPERIMENTS[experiment]
    return [f"{d}-{m}" for d in spec["datasets"] for m in spec["models"]]


def split_run(experiment, run):
    for dataset in EXPERIMENTS[experiment]["datasets"]:
        model = run.removeprefix(f"{dataset}-")
        if model != run and model in EXPERIMENTS[experiment]["models"]:
            return dataset, model
    raise ValueError(f"{run!r} is not a run of experiment {experiment!r}")


def seeds(experiment):
    return list(range(EXPERIMENTS[experiment]["minima"]))


def pairs(experiment):
    return [f"{a}-{b}" for a, b in combinations(seeds(experiment), 2)]


def triples(experiment):
    if not EXPERIMENTS[experiment]["triangles"]:
        return []
    return [f"{a}-{b}-{c}" for a, b, c in combinations(seeds(experiment), 3)]


def run_spec(wildcards):
    """The JSON spec a job of this run receives: its experiment's settings, resolved."""
    experiment = EXPERIMENTS[wildcards.experiment]
    dataset, model = split_run(wildcards.experiment, wildcards.run)
    spec = {
        "experiment": wildcards.experiment,
        "run": wildcards.run,
        "scale": config["scale"],
        "device": config["device"],
        "dataset": dataset,
        "model": model,
        "model_args": experiment.get("model_args", {}),
        "data": experiment.get("data", {}),
        **{k: experiment[k] for k in ("minimum", "curve", "triangle") if k in experiment},
    }
    return json.dumps(spec, sort_keys=True)


def dataset_file(wildcards):
    return f"{DATA}/{split_run(wildcards.experiment, wildcards.run)[0]}.pt"


def output_prefix(wildcards, output):
    """The common stem of a rule's outputs (jobs write STEM.pt, STEM.json, ...)."""
    return os.path.splitext(output[0])[0]


def section_resources(section, key, default):
    return lambda wildcards: EXPERIMENTS[wildcards.experiment][section].get(key, default)


def figure_runs(figure):
    """The run records a figure is drawn from: every run of every experiment listing it."""
    records = []
    for name, experiment in EXPERIMENTS.items():
        if figure in experiment["figures"]:
            for run in runs(name):
                dataset, model = split_run(name, run)
                records.append({"experiment": name, "run": run, "dataset": dataset, "model": model,
                                "barcode": f"{RESULTS}/{name}/{run}/barcode.json"})
    return records


def figure_spec(figure):
    for experiment in EXPERIMENTS.values():
        if figure in experiment["figures"]:
            return experiment["figures"][figure]
    raise ValueError(f"no experiment feeds figure {figure!r}")


def all_figures():
    return sorted({f for experiment in EXPERIMENTS.values() for f in experiment["figures"]})


def all_targets():
    barcodes = [f"{RESULTS}/{e}/{r}/barcode.json" for e in EXPERIMENTS for r in runs(e)]
    figures = [f"{FIGURES}/{f}.png" for f in all_figures()]
    return barcodes + figures


wildcard_constraints:
    seed=r"\d+",
    a=r"\d+",
    b=r"\d+",
    c=r"\d+",
    experiment=r"[A-Za-z0-9_]+",
    run=r"[A-Za-z0-9_.-]+",
    dataset=r"[a-z0-9]+",
