# Helpers shared by the rules: the experiment grid, run specs and input functions.
import json
import os
import re
import shlex
import tempfile
from itertools import combinations
from pathlib import Path

from lossbarcode.config import job_spec

DATA = config["data_root"]
RESULTS = config["results"]
FIGURES = config["figures_dir"]
EXPERIMENTS = config["experiments"]
TOY = config.get("toy", {})
RUN = f"{RESULTS}/{{experiment}}/{{run}}"
LOGS = f"{RESULTS}/logs/{{experiment}}/{{run}}"
# How training jobs run, not what they compute: passed on the command line, never as params, so
# that changing them reruns nothing (Snakemake reruns a job whose params changed).
JOB_SETTINGS = f"--device {shlex.quote(config['device'])} --checkpoint-every {config['checkpoint_every']}"
# Where datasets are downloaded from does not change them either.
MIRRORS = json.dumps(config.get("data_mirrors", {}), sort_keys=True)


# Minima are trained, or embedded from a smaller network's: each experiment's minima come from one rule.
EMBEDDED = [name for name, experiment in EXPERIMENTS.items() if "embed" in experiment]
TRAINED = [name for name in EXPERIMENTS if name not in EMBEDDED]


def start_warm_server():
    """Starts ``lossbarcode serve`` for this run and points every job's command at it."""
    from lossbarcode.warm import WARM, start

    socket = os.path.join(tempfile.gettempdir(), f"lossbarcode-warm-{os.getpid()}.sock")
    start(socket, f"{RESULTS}/logs/warm-server.log")
    os.environ[WARM] = socket


def alternatives(names):
    """A regex matching exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def source_minimum(wildcards):
    """The smaller network's minimum that an embedded minimum starts from."""
    embed = EXPERIMENTS[wildcards.experiment]["embed"]
    dataset, model = split_run(wildcards.experiment, wildcards.run)
    run = f"{dataset}-{embed['models'][model]}"
    return f"{RESULTS}/{embed['from_experiment']}/{run}/minima/{wildcards.seed}.pt"


def runs(experiment):
    """Run names of an experiment: one per dataset and model, e.g. 'mnist-fcn-4', and with ``repeat``
    one per repetition of the whole estimate, e.g. 'svhn-resnet9-r2'."""
    spec = EXPERIMENTS[experiment]
    names = [f"{d}-{m}" for d in spec["datasets"] for m in spec["models"]]
    if "repeat" in spec:
        names = [f"{name}-r{k}" for name in names for k in range(spec["repeat"]["times"])]
    return names


def parse_run(experiment, run):
    """``(dataset, model, repetition)`` of a run name (repetition None where the experiment does not repeat)."""
    repetition = None
    if "repeat" in EXPERIMENTS[experiment]:
        match = re.fullmatch(r"(.+)-r(\d+)", run)
        if match is None:
            raise ValueError(f"{run!r} is not a run of experiment {experiment!r}")
        run, repetition = match[1], int(match[2])
    for dataset in EXPERIMENTS[experiment]["datasets"]:
        model = run.removeprefix(f"{dataset}-")
        if model != run and model in EXPERIMENTS[experiment]["models"]:
            return dataset, model, repetition
    raise ValueError(f"{run!r} is not a run of experiment {experiment!r}")


def split_run(experiment, run):
    return parse_run(experiment, run)[:2]


def minima_run(experiment, run):
    """The run whose minima this run's curves join: its own, or, where a repetition refits only the
    curves, the first repetition's."""
    dataset, model, repetition = parse_run(experiment, run)
    if repetition is not None and EXPERIMENTS[experiment]["repeat"]["refit"] == "curves":
        return f"{dataset}-{model}-r0"
    return run


def seeds(experiment, run=None):
    """The minima of a run, by seed: repetition k of an experiment that refits everything trains
    seeds k*n ... k*n + n - 1, so that no two repetitions share an initialisation."""
    n = EXPERIMENTS[experiment]["minima"]
    repetition = parse_run(experiment, run)[2] if run is not None else None
    if repetition is not None and EXPERIMENTS[experiment]["repeat"]["refit"] == "all":
        return list(range(repetition * n, (repetition + 1) * n))
    return list(range(n))


def pairs(experiment, run=None):
    return [f"{a}-{b}" for a, b in combinations(seeds(experiment, run), 2)]


def triples(experiment, run=None):
    if not EXPERIMENTS[experiment]["triangles"]:
        return []
    return [f"{a}-{b}-{c}" for a, b, c in combinations(seeds(experiment, run), 3)]


def minimum_file(wildcards, seed, suffix=".pt"):
    return f"{RESULTS}/{wildcards.experiment}/{minima_run(wildcards.experiment, wildcards.run)}/minima/{seed}{suffix}"


def minimum_files(*names):
    """Input function: the minima files of the seeds in these wildcards (``a``, ``b``, ``c``)."""
    return lambda wildcards: [minimum_file(wildcards, wildcards[name]) for name in names]


def stage_spec(stage):
    """The params of a job of ``stage``: the JSON spec holding exactly what determines its output."""

    def spec(wildcards):
        dataset, model = split_run(wildcards.experiment, wildcards.run)
        experiment = EXPERIMENTS[wildcards.experiment]
        spec = job_spec(wildcards.experiment, experiment, dataset, model, stage, run=wildcards.run)
        return json.dumps(spec, sort_keys=True)

    return spec


def dataset_file(wildcards):
    return f"{DATA}/{split_run(wildcards.experiment, wildcards.run)[0]}.pt"


def output_prefix(wildcards, output):
    """The common stem of a rule's outputs (jobs write STEM.pt, STEM.json, ...)."""
    return os.path.splitext(output[0])[0]


def section_resources(section, key, default):
    return lambda wildcards: EXPERIMENTS[wildcards.experiment][section].get(key, default)


def outputs(entry, section):
    """An experiment's (or analytic experiment's) figures or tables: name -> kind and title."""
    return entry.get(section, {})


def figure_runs(name, section="figures"):
    """The run records a figure or table is drawn from: every run of every experiment listing it (a
    trained model's record names its barcode, an analytic experiment's its result)."""
    records = [{"experiment": toy, "result": f"{RESULTS}/toy/{toy}.json"}
               for toy, entry in TOY.items() if name in outputs(entry, section)]
    for experiment_name, experiment in EXPERIMENTS.items():
        if name in outputs(experiment, section):
            shown = outputs(experiment, section)[name].get("models")
            for run in runs(experiment_name):
                dataset, model, repetition = parse_run(experiment_name, run)
                if shown is not None and model not in shown:
                    continue
                record = {"experiment": experiment_name, "experiment_label": experiment.get("label", experiment_name),
                          "run": run, "dataset": dataset, "model": model,
                          "barcode": f"{RESULTS}/{experiment_name}/{run}/barcode.json"}
                if repetition is not None:
                    record["repetition"] = repetition
                if "embed" in experiment:
                    record.update(source_experiment=experiment["embed"]["from_experiment"],
                                  source_model=experiment["embed"]["models"][model])
                records.append(record)
    return records


def output_spec(name, section="figures"):
    for entry in [*EXPERIMENTS.values(), *TOY.values()]:
        if name in outputs(entry, section):
            return outputs(entry, section)[name]
    raise ValueError(f"no experiment feeds {section[:-1]} {name!r}")


def all_outputs(section):
    return sorted({name for entry in [*EXPERIMENTS.values(), *TOY.values()] for name in outputs(entry, section)})


def figure_inputs(wildcards):
    return [r.get("barcode") or r["result"] for r in figure_runs(wildcards.figure)]


def table_inputs(wildcards):
    return [r["barcode"] for r in figure_runs(wildcards.table, "tables")]


# The report's category of what describes the run as a whole rather than one paper section.
ABOUT_THIS_RUN = "about this run"


def reported(path, caption, *, category, title, subcategory=None):
    """``path`` marked for ``snakemake --report``: captioned by report/captions/CAPTION.rst, listed under
    ``category`` (and ``subcategory``) by its ``title``. Category, subcategory and title may be
    functions of the wildcards."""
    # Snakemake takes labels as a dict of strings, or as a function of the wildcards giving one.
    labels = (lambda wildcards: {"item": title(wildcards)}) if callable(title) else {"item": title}
    return report(path, caption=f"../report/captions/{caption}.rst", category=category, subcategory=subcategory,
                  labels=labels)


def paper_sections(name, section):
    """Where the report files a figure or table: the paper sections of the experiments it draws on
    ("§4.1"; paper 004's are written "004 §5" in the config, "paper 004 §5" here), or "analytic" for
    the analytic experiments."""
    if any(name in outputs(entry, section) for entry in TOY.values()):
        return "analytic"
    sections = sorted({e["section"] for e in EXPERIMENTS.values() if name in outputs(e, section)})
    return " and ".join(f"paper {s}" if "§" in s else f"§{s}" for s in sections)


def reported_output(path, section):
    """A figure's or table's file (``section``: "figures" or "tables") marked for the report, filed
    under its paper section and captioned by its kind (report/captions/output.rst includes
    report/captions/SECTION/KIND.rst)."""
    wildcard = section[:-1]
    return reported(path, "output", category=lambda wc: paper_sections(wc[wildcard], section), subcategory=section,
                    title=lambda wc: output_spec(wc[wildcard], section)["title"])


def log_written(log, paths):
    """The log of a job that runs inside the workflow's process (``run:``): the files it wrote."""
    Path(log).write_text(f"wrote {', '.join(map(str, paths))}\n")


def claim_specs():
    """Every configured claim, in the order the config first lists it: its spec, name and run records."""
    return [{**output_spec(name, "claims"), "name": name, "runs": figure_runs(name, "claims")}
            for name in dict.fromkeys(c for entry in [*EXPERIMENTS.values(), *TOY.values()] for c in outputs(entry, "claims"))]


def claim_inputs(wildcards):
    return sorted({r.get("barcode") or r["result"] for claim in claim_specs() for r in claim["runs"]})


def all_targets():
    barcodes = [f"{RESULTS}/{e}/{r}/barcode.json" for e in EXPERIMENTS for r in runs(e)]
    figures = [f"{FIGURES}/{f}.png" for f in all_outputs("figures")]
    tables = [f"{FIGURES}/{t}.html" for t in all_outputs("tables")]
    claims = [f"{FIGURES}/claims.html"] if all_outputs("claims") else []
    return barcodes + figures + tables + claims + [f"{FIGURES}/fidelity.html", f"{FIGURES}/config.html"]


wildcard_constraints:
    figure=alternatives(all_outputs("figures")),
    table=alternatives(all_outputs("tables")),
    seed=r"\d+",
    a=r"\d+",
    b=r"\d+",
    c=r"\d+",
    experiment=r"[A-Za-z0-9_]+",
    run=r"[A-Za-z0-9_.-]+",
    dataset=r"[A-Za-z0-9_]+",
    name=r"[A-Za-z0-9_]+",
