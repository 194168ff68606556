"""The workflow's configuration: read, checked before any job runs, and cut into per-job specs.

``check`` rejects every configuration that would otherwise fail inside a job: the schema
(``config/schema.yaml``: keys, types, per-method required keys, name patterns), then what only the
registries know (model names and their arguments, figure kinds, embeddings). Each problem is one
line naming its config key. ``job_spec`` gives a job exactly the settings that determine its
output, so that Snakemake reruns a job when, and only when, one of them changes.

Needs no torch: the workflow calls it while it builds the DAG.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .datasets import DATASETS

#: The config sections that are a stage's recipe, by the stage (the rule family) that reads them.
STAGES = ("minimum", "curve", "triangle")
#: Experiment keys that every job of a run sees alike (its inputs and how it is measured).
RUN_KEYS = ("normalisation", "measure")
#: The curve keys that say how a curve is measured; a triangle measures its sides the same way.
PROFILE = ("profile_points", "refine")
#: Recipe keys that say how the scheduler runs a job (Snakemake resources), not what it computes.
SCHEDULING = ("mem_mb", "runtime", "jobs_per_gpu")


class ConfigError(ValueError):
    """A configuration that no job should start with; the message names the config key."""


def load_yaml(path: str | os.PathLike) -> dict:
    """The mapping in the YAML file ``path``; a syntax error names the file, line and column."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to settings")
    return loaded


def check(config: dict, schema: str | os.PathLike) -> None:
    """Raises ``ConfigError`` listing every problem of ``config``, one line per config key."""
    problems = schema_problems(config, schema)
    if not problems:
        problems = registry_problems(config)
    if problems:
        problems = list(dict.fromkeys(problems))  # models of one family share their complaints
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def schema_problems(config: dict, schema: str | os.PathLike) -> list[str]:
    """The schema's complaints, one line each: the key's dotted path and what is wrong with it."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_yaml(schema))
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        message = error.message
        if error.validator in ("required", "pattern", "propertyNames") and "description" in error.schema:
            message += f" ({error.schema['description']})"
        problems.append(f"config key {key_path(error.absolute_path)}: {message}")
    return problems


def key_path(path) -> str:
    """``experiments.fcn_depth.models[2]`` from a path of keys and indices; ``(top level)`` if empty."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def registry_problems(config: dict) -> list[str]:
    """What the schema cannot know: datasets, model names and arguments, figure and table kinds, embeddings."""
    from . import models

    problems = []
    experiments = config["experiments"]
    for dataset in config.get("data_mirrors", {}):
        if getattr(DATASETS.get(dataset), "standin", True):
            downloaded = sorted(n for n, d in DATASETS.items() if d.kind == "images" and not d.standin)
            problems.append(f"config key data_mirrors.{dataset}: not a downloaded image dataset ({', '.join(downloaded)})")
    for name, experiment in experiments.items():
        key = f"config key experiments.{name}"
        problems += dataset_problems(key, experiment)
        for i, model in enumerate(experiment["models"]):
            try:
                models.parse(model)
            except ValueError as error:
                problems.append(f"{key}.models[{i}]: {error}")
                continue
            problems += [f"{key}.model_args: {p}" for p in models.argument_problems(model, experiment.get("model_args", {}))]
        if "embed" in experiment:
            problems += embedding_problems(name, experiment, experiments)
    return problems + output_problems(config)


def output_problems(config: dict) -> list[str]:
    """Figures, tables and claims: their kinds, the models they show, a claim's options and the runs it
    names, and no name used by a figure and a table."""
    from . import claims, tables
    from .figures import KINDS

    problems = []
    sections = {"figures": KINDS, "tables": tables.KINDS, "claims": claims.KINDS}
    named: dict[str, set[str]] = {}  # claim -> the experiments and models that feed it
    for part in ("experiments", "toy"):
        for name, entry in config.get(part, {}).items():
            for section, kinds in sections.items():
                for output, spec in entry.get(section, {}).items():
                    key = f"config key {part}.{name}.{section}.{output}"
                    if spec["kind"] not in kinds:
                        problems.append(f"{key}.kind: unknown kind {spec['kind']!r}; choose one of {sorted(kinds)}")
                    elif section == "claims":
                        problems += claims.option_problems(key, spec)
                    problems += [f"{key}.models: {m!r} is not one of {part}.{name}.models"
                                 for m in spec.get("models", []) if m not in entry.get("models", [])]
            for claim in entry.get("claims", {}):
                named.setdefault(claim, set()).update([name, *entry.get("models", [])])
    for part in ("experiments", "toy"):
        for name, entry in config.get(part, {}).items():
            for claim, spec in entry.get("claims", {}).items():
                problems += [f"config key {part}.{name}.claims.{claim}: {s!r} is neither an experiment nor a model "
                             "of the experiments listing this claim" for s in claims.selectors(spec) if s not in named[claim]]
    figures = {f for part in ("experiments", "toy") for e in config.get(part, {}).values() for f in e["figures"]}
    for name, experiment in config["experiments"].items():
        problems += [f"config key experiments.{name}.tables.{table}: a figure has this name too (both write {table}.csv)"
                     for table in experiment.get("tables", {}) if table in figures]
    return problems


def dataset_problems(key: str, experiment: dict) -> list[str]:
    """Datasets by the registry, and the settings each kind needs or cannot use."""
    problems = []
    for i, dataset in enumerate(experiment["datasets"]):
        if dataset not in DATASETS:
            problems.append(f"{key}.datasets[{i}]: unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
            continue
        data = experiment.get("data", {})
        if DATASETS[dataset].kind == "tokens":
            if "block_size" not in data:
                problems.append(f"{key}.data.block_size: text dataset {dataset!r} needs the tokens per window")
            image_only = [k for k in ("shape", "train_size") if k in data] + \
                [k for k in ("normalisation",) if k in experiment] + \
                [f"{s}.{k}" for s in STAGES for k in ("augmentation", "channels_last") if k in experiment.get(s, {})]
            problems += [f"{key}.{k}: applies to images, not to text dataset {dataset!r}" for k in image_only]
        elif "block_size" in data:
            problems.append(f"{key}.data.block_size: applies to text, not to image dataset {dataset!r}")
    return problems


def embedding_problems(name: str, experiment: dict, experiments: dict) -> list[str]:
    embed = experiment["embed"]
    source = experiments.get(embed["from_experiment"])
    key = f"config key experiments.{name}.embed"
    if source is None or "embed" in source:
        return [f"{key}.from_experiment: {embed['from_experiment']!r} is not an experiment that trains minima"]
    if "repeat" in experiment or "repeat" in source:
        return [f"{key}: embedding and repeat do not combine (which repetition's minima would be embedded?)"]
    problems = []
    for target, small in embed["models"].items():
        if target not in experiment["models"]:
            problems.append(f"{key}.models.{target}: not one of experiments.{name}.models")
        elif small not in source["models"]:
            problems.append(f"{key}.models.{target}: {small!r} is not a model of {embed['from_experiment']}")
    if missing := [m for m in experiment["models"] if m not in embed["models"]]:
        problems.append(f"{key}.models: says nothing of {', '.join(missing)}")
    if extra := set(experiment["datasets"]) - set(source["datasets"]):
        problems.append(f"config key experiments.{name}.datasets: {sorted(extra)} not in {embed['from_experiment']}")
    if experiment["minima"] > source["minima"]:
        problems.append(f"config key experiments.{name}.minima: more than {embed['from_experiment']} trains")
    return problems


def job_spec(experiment_name: str, experiment: dict, dataset: str, model: str, stage: str,
             run: str | None = None) -> dict[str, Any]:
    """What a job of ``stage`` (minimum, curve or triangle) of one run needs, and nothing else: its
    model, data and its own stage's recipe. Not the other stages' recipes (their results reach it
    as input files), not the device, the checkpoint interval, the recipe's memory and time limits
    or how many jobs share a GPU (they do not change results). ``run``: the run's name where it is not
    ``{dataset}-{model}`` (a repetition's), which seeds its curves and triangles."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
    spec = {
        "experiment": experiment_name,
        "run": run or f"{dataset}-{model}",
        "dataset": dataset,
        "model": model,
        "model_args": experiment.get("model_args", {}),
        "data": experiment.get("data", {}),
        **{k: experiment[k] for k in RUN_KEYS if k in experiment},
        stage: {k: v for k, v in experiment[stage].items() if k not in SCHEDULING},
    }
    if stage == "triangle":  # its sides are the curves, measured as the curve jobs measured them
        spec["curve_profile"] = {k: experiment["curve"][k] for k in PROFILE if k in experiment["curve"]}
    return spec
