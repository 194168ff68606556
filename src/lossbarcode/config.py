"""The workflow's configuration: read, checked before any job runs, and cut into per-job specs.

``check`` rejects every configuration that would otherwise fail inside a job, with all its problems
at once: the schema (``config/schema.yaml``: keys, types, per-method required keys, name patterns),
and what only the registries know (datasets and the sizes they have, model names, their arguments and
the kind of data they read, figure, table and claim kinds, embeddings, the analytic experiments
chosen). Each problem is one line naming its config key. ``job_spec`` gives a job exactly the settings
that determine its output, so that Snakemake reruns a job when, and only when, one of them changes.

Needs no torch, so the workflow calls it while it builds the DAG; but for a model family whose
arguments only its library can judge (``causal-lm``, a transformers configuration), which the check
builds on torch's meta device, importing torch and transformers, only when such a model is configured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .datasets import CHANNEL_STATISTICS, DATASETS, TRAIN_FRACTION, most_tokens

#: The config sections that are a stage's recipe, by the stage (the rule family) that reads them.
STAGES = ("minimum", "curve", "triangle")
#: Experiment keys that every job of a run sees alike (its inputs and how it is measured).
RUN_KEYS = ("normalisation", "measure")
#: The curve keys that say how a curve is measured; a triangle measures its sides the same way.
PROFILE = ("profile_points", "refine")
#: Recipe keys that say how the scheduler runs a job (Snakemake resources), not what it computes.
SCHEDULING = ("mem_mb", "runtime", "jobs_per_gpu")
#: What a model reads and a dataset holds, by the registries' kinds.
HOLDS = {"images": "images", "tokens": "text (token streams)"}
#: The vocabulary a model is built with for the check where the registry does not know the data's (a
#: tokenizer's, an uncapped character vocabulary): no configuration's validity depends on it.
PLACEHOLDER_VOCABULARY = 256
#: ``analytic_experiments`` as a word: every analytic experiment of config/toy.yaml, or none.
ANALYTIC_CHOICES = ("all", "none")


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
    """Raises ``ConfigError`` listing every problem of ``config``, of every kind, one line per config key."""
    problems = schema_problems(config, schema)
    problems += registry_problems(config, malformed=bool(problems))
    if problems:
        problems = list(dict.fromkeys(problems))  # models of one family share their complaints
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def schema_problems(config: dict, schema: str | os.PathLike) -> list[str]:
    """The schema's complaints, one line each: the key's dotted path and what is wrong with it."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_yaml(schema))
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        # jsonschema's message for a value of none of several forms repeats the whole value
        message = "matches none of the forms allowed here" if error.validator in ("anyOf", "oneOf") else error.message
        if error.validator in ("required", "pattern", "propertyNames", "anyOf", "oneOf") and "description" in error.schema:
            message += f" ({error.schema['description']})"
        problems.append(f"config key {key_path(error.absolute_path)}: {message}")
    return problems


def key_path(path) -> str:
    """``experiments.fcn_depth.models[2]`` from a path of keys and indices; ``(top level)`` if empty."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def registry_problems(config: dict, malformed: bool = False) -> list[str]:
    """What the schema cannot know: datasets and what they hold, model names, arguments and the data
    they read, figure, table and claim kinds, embeddings, the analytic experiments chosen.

    ``malformed``: the schema found problems. A part too malformed to check further (a list where a
    mapping belongs, a required key missing) is then left to the schema's line about it, and the
    other parts are still checked; without schema problems, such an error is a bug and is raised."""

    def checked(part, *args) -> list[str]:
        try:
            return part(*args)
        except (LookupError, TypeError, AttributeError, ValueError):
            if not malformed:
                raise
            return []

    experiments = config.get("experiments")
    experiments = experiments if isinstance(experiments, dict) else {}
    problems = checked(mirror_problems, config)
    for name, experiment in experiments.items():
        problems += checked(experiment_problems, name, experiment, experiments)
    for part in ("experiments", "toy"):
        entries = config.get(part)
        for name, entry in (entries.items() if isinstance(entries, dict) else ()):
            problems += checked(output_problems, f"{part}.{name}", entry)
    problems += checked(shared_output_problems, config)
    return problems + checked(analytic_problems, config)


def mirror_problems(config: dict) -> list[str]:
    downloaded = sorted(n for n, d in DATASETS.items() if d.kind == "images" and not d.standin)
    return [f"config key data_mirrors.{dataset}: not a downloaded image dataset ({', '.join(downloaded)})"
            for dataset in config.get("data_mirrors", {}) if getattr(DATASETS.get(dataset), "standin", True)]


def experiment_problems(name: str, experiment: dict, experiments: dict) -> list[str]:
    """One experiment's datasets and what its data options ask of them, its models, their arguments,
    whether they read what its datasets hold, and its embedding."""
    from . import models

    key = f"config key experiments.{name}"
    problems = dataset_problems(key, experiment)
    datasets = [DATASETS[d] for d in experiment["datasets"] if d in DATASETS]
    args = experiment.get("model_args", {})
    for i, model in enumerate(experiment["models"]):
        try:
            family = models.FAMILIES[models.parse(model)[0]]
        except ValueError as error:
            problems.append(f"{key}.models[{i}]: {error}")
            continue
        problems += [f"{key}.models[{i}]: {model!r} reads {HOLDS[family.inputs]}, but dataset {d.name!r} holds "
                     f"{HOLDS[d.kind]}; pair it with datasets of {HOLDS[family.inputs]} ({', '.join(kind_names(family.inputs))})"
                     for d in datasets if d.kind != family.inputs]
        wrong_args = models.argument_problems(model, args)
        problems += [f"{key}.model_args: {p}" for p in wrong_args]
        if wrong_args:
            continue
        problems += [f"{key}.models[{i}]: {model!r}: {p}" for p in models.constraint_problems(model, args)]
        if family.checked_by_building:
            problems += [f"{key}.model_args: {model!r} cannot be built: {p}"
                         for p in build_problems(model, args, experiment.get("data", {}), datasets)]
    if "embed" in experiment:
        problems += embedding_problems(name, experiment, experiments)
    return problems + adaptive_budget_problems(key, experiment)


def adaptive_budget_problems(key: str, experiment: dict) -> list[str]:
    """Curve and triangle recipes whose budget stops when the maximum settles (``until_converged``) but
    whose schedule or method cannot stop early."""
    from .convergence import adaptive_problems

    return [f"{key}.{stage}.until_converged: {problem}"
            for stage, method in (("curve", experiment.get("curve", {}).get("method")), ("triangle", None))
            if (experiment.get(stage) or {}).get("until_converged")
            for problem in adaptive_problems(experiment[stage].get("schedule", "constant"), method)]


def kind_names(kind: str) -> list[str]:
    return [name for name, dataset in DATASETS.items() if dataset.kind == kind]


def build_problems(model: str, args: dict, data: dict, datasets: list) -> list[str]:
    """Whether ``model`` builds and runs on each text dataset's windows (``lossbarcode.models.build_problems``):
    a family whose arguments only its library can judge, such as a transformers configuration."""
    from . import models

    shapes = {(data["block_size"],): d.vocab_size or PLACEHOLDER_VOCABULARY
              for d in datasets if d.kind == "tokens" and "block_size" in data}
    return [p for shape, classes in shapes.items()
            for p in models.build_problems(model, args, input_shape=shape, classes=classes)]


def output_problems(where: str, entry: dict) -> list[str]:
    """An experiment's (or analytic experiment's) figures, tables and claims: their kinds, the models
    they show and a claim's options."""
    from . import claims, tables
    from .figures import KINDS

    problems = []
    for section, kinds in (("figures", KINDS), ("tables", tables.KINDS), ("claims", claims.KINDS)):
        for output, spec in entry.get(section, {}).items():
            key = f"config key {where}.{section}.{output}"
            if spec["kind"] not in kinds:
                problems.append(f"{key}.kind: unknown kind {spec['kind']!r}; choose one of {sorted(kinds)}")
            elif section == "claims":
                problems += claims.option_problems(key, spec)
            problems += [f"{key}.models: {m!r} is not one of {where}.models"
                         for m in spec.get("models", []) if m not in entry.get("models", [])]
    return problems


def shared_output_problems(config: dict) -> list[str]:
    """What figures, tables and claims share across experiments: the runs a claim names, and no name used
    by a figure and a table."""
    from . import claims

    entries = [(part, name, entry) for part in ("experiments", "toy") for name, entry in config.get(part, {}).items()]
    named: dict[str, set[str]] = {}  # claim -> the experiments and models that feed it
    for _, name, entry in entries:
        for claim in entry.get("claims", {}):
            named.setdefault(claim, set()).update([name, *entry.get("models", [])])
    problems = [f"config key {part}.{name}.claims.{claim}: {s!r} is neither an experiment nor a model "
                "of the experiments listing this claim"
                for part, name, entry in entries for claim, spec in entry.get("claims", {}).items()
                for s in claims.selectors(spec) if s not in named[claim]]
    figures = {f for _, _, entry in entries for f in entry.get("figures", {})}
    return problems + [f"config key experiments.{name}.tables.{table}: a figure has this name too (both write "
                       f"{table}.csv)" for part, name, entry in entries if part == "experiments"
                       for table in entry.get("tables", {}) if table in figures]


def analytic_problems(config: dict) -> list[str]:
    chosen = config.get("analytic_experiments", "all")
    names = chosen if isinstance(chosen, list) else []  # all, none, or what the schema refuses
    known = config.get("toy", {})
    return [f"config key analytic_experiments[{i}]: {name!r} is not an analytic experiment of config/toy.yaml "
            f"(they are: {', '.join(known)})" for i, name in enumerate(names) if name not in known]


def analytic_experiments(config: dict) -> dict:
    """The analytic experiments (``toy`` entries) the configuration runs: all of them (the default), none,
    or those ``analytic_experiments`` lists."""
    chosen = config.get("analytic_experiments", "all")
    toy = config.get("toy", {})
    if chosen in ANALYTIC_CHOICES:
        return toy if chosen == "all" else {}
    return {name: toy[name] for name in chosen}


def dataset_problems(key: str, experiment: dict) -> list[str]:
    """Datasets by the registry, the settings each kind needs or cannot use, and the sizes its data
    options ask of each dataset against those the registry knows."""
    problems = []
    for i, dataset in enumerate(experiment["datasets"]):
        if dataset not in DATASETS:
            problems.append(f"{key}.datasets[{i}]: unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
        elif DATASETS[dataset].kind == "tokens":
            problems += text_problems(key, DATASETS[dataset], experiment)
        else:
            problems += image_problems(key, DATASETS[dataset], experiment)
    return problems


def image_problems(key: str, dataset, experiment: dict) -> list[str]:
    """An image dataset against the experiment's shape, normalisation, training subset and measurement sets."""
    data, measure, name = experiment.get("data", {}), experiment.get("measure", {}), dataset.name
    problems = [f"{key}.data.block_size: applies to text, not to image dataset {name!r}"] if "block_size" in data else []
    shape = tuple(data.get("shape", dataset.shape))
    if shape != dataset.shape and not dataset.standin:
        problems.append(f"{key}.data.shape: {name} images are {list(dataset.shape)}, and only stand-ins are resized; "
                        f"give {list(dataset.shape)} or leave shape out")
    elif dataset.shape[0] not in (1, shape[0]):
        problems.append(f"{key}.data.shape: {name} images have {dataset.shape[0]} channels, which cannot become "
                        f"{shape[0]} (only a single channel is repeated)")
    if "normalisation" in experiment:
        channels = len(CHANNEL_STATISTICS[experiment["normalisation"]][0])
        if channels != shape[0]:
            problems.append(f"{key}.normalisation: {experiment['normalisation']} normalises {channels}-channel images, "
                            f"but {name} gives {shape[0]}-channel ones")
    train = min(data.get("train_size", dataset.train_samples), dataset.train_samples)
    if data.get("train_size", 0) > dataset.train_samples:
        problems.append(f"{key}.data.train_size: {data['train_size']} training images asked, but {name} has "
                        f"{dataset.train_samples}")
    return problems + measure_problems(key, measure, {"train": (train, "training images"),
                                                      "test": (dataset.test_samples, "test images")}, name)


def text_problems(key: str, dataset, experiment: dict) -> list[str]:
    """A text dataset against the experiment's settings: a window size, no image settings, and (where the
    registry bounds its text) windows that fit in each split."""
    data, name = experiment.get("data", {}), dataset.name
    problems = [] if "block_size" in data else [f"{key}.data.block_size: text dataset {name!r} needs the tokens per window"]
    image_only = [f"data.{k}" for k in ("shape", "train_size") if k in data] + \
        [k for k in ("normalisation",) if k in experiment] + \
        [f"{s}.{k}" for s in STAGES for k in ("augmentation", "channels_last") if k in experiment.get(s, {})]
    problems += [f"{key}.{k}: applies to images, not to text dataset {name!r}" for k in image_only]
    bound = most_tokens(dataset)
    if bound is None or "block_size" not in data:
        return problems
    block = data["block_size"]
    train = int(TRAIN_FRACTION * bound)
    splits = {"train": (train, "training tokens"), "test": (bound - train, "validation tokens")}
    for split, (tokens, what) in splits.items():
        if tokens <= block:  # a window and the token after it
            problems.append(f"{key}.data.block_size: windows of {block} tokens need more than {block} {what}, but "
                            f"{name} holds at most {tokens} (its languages' character budgets)")
    windows = {split: ((tokens - 1) // block, f"windows of {block} of its {what}") for split, (tokens, what) in splits.items()}
    return problems + measure_problems(key, experiment.get("measure", {}), windows, name, at_most=True)


def measure_problems(key: str, measure: dict, rows: dict[str, tuple[int, str]], name: str,
                     at_most: bool = False) -> list[str]:
    """The measurement sets against the rows of each split: ``rows`` maps ``train`` / ``test`` to their
    number and what they are (``at_most``: an upper bound the registry knows)."""
    bound = "at most " if at_most else ""
    return [f"{key}.measure.{split}: {measure[split]} rows asked, but {name} has {bound}{n} {what}"
            for split, (n, what) in rows.items() if measure.get(split, 0) > n]


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
