"""What the paper scale costs: for every experiment of the configuration, real jobs (minimum, curve,
triangle) of its largest model (the most parameters: it bounds the others' cost) run for a few epochs
(or a few dozen iterations) on random data of the real datasets' sizes (MNIST and Fashion-MNIST 60k x
1x28x28, CIFAR-10 and -100 50k x 3x32x32, SVHN 73k x 3x32x32, §7's OSCAR as 30M characters of a
512-symbol vocabulary); their seconds per logged period and seconds spent measuring are extrapolated
to the paper's budget and to every job of the experiment (every model, dataset, repetition, minimum,
curve and triangle), and summed per paper section and in total. Models, datasets and recipes timed
once are reused by the experiments that share them. An estimate for planning a run, not a speed
target. ``--jobs-only`` times nothing: it lists the work (jobs, their budgets, the largest model's
parameters), what a machine without the GPU can say.

A curve or triangle recipe with ``until_converged`` has a cap, not a budget: it is costed at
``--used-share`` of its cap (default: the share the quick profile's adaptive curves used, see
docs/scaling.md), which is a guess until it is measured at paper scale. Its checks (a profile
after 1/8, 1/4, 1/2 and all of the budget) are in the measured seconds outside training.

    python benchmarks/paper_scale_cost.py SCRATCH_DIR [EXPERIMENT ...]   (on the GPU you plan to use)
    python benchmarks/paper_scale_cost.py --jobs-only SCRATCH_DIR        (the work, on any machine)
    python benchmarks/paper_scale_cost.py --config config/quick.yaml SCRATCH_DIR gpt_text   (a smoke run)
"""

import argparse
import copy
import json
import logging
import math
import re
import time
from pathlib import Path

import torch
import yaml

from lossbarcode import jobs
from lossbarcode.config import RUN_KEYS, SCHEDULING
from lossbarcode.io import save_torch
from lossbarcode.spec import RunSpec

CONFIG = Path(__file__).resolve().parents[1] / "config/config.yaml"

SIZES = {"mnist": (60000, 10000, (1, 28, 28), 10, "MNIST"), "fmnist": (60000, 10000, (1, 28, 28), 10, "Fashion-MNIST"),
         "cifar10": (50000, 10000, (3, 32, 32), 10, "CIFAR-10"),
         "svhn": (73257, 26032, (3, 32, 32), 10, "SVHN"), "cifar100": (50000, 10000, (3, 32, 32), 100, "CIFAR-100")}
#: §7's assumed OSCAR: six languages of 5M characters, 512 symbols (lossbarcode.datasets)
TOKENS = {"oscar": (30_000_000, 512, "OSCAR 23.01"), "mimesis_text": (107_000, 256, "mimesis")}
#: the quick profile's stand-ins, for smoke runs with --config config/quick.yaml
SIZES |= {"mnist5k": (5000, 1000, (1, 28, 28), 10, "MNIST-5k"), "digits": (1437, 360, (1, 8, 8), 10, "digits")}
#: the share of an adaptive cap a paper-scale job is expected to use: the quick profile's median over its adaptive
#: curves and triangles (docs/scaling.md); a guess until it is measured at paper scale
USED_SHARE = 0.5
#: the short runs: epochs, or iterations (twenty logged periods of a twentieth each)
SHORT = {"minimum": 3, "curve": 4, "triangle": 2}
SHORT_ITERATIONS = 40


class Epochs(logging.Handler):
    """Collects the seconds of every epoch line the training loop logs."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def emit(self, record):
        if m := re.search(r"epoch (\d+) loss \S+ lr \S+ ([\d.]+)s", record.getMessage()):
            self.seconds.append(float(m[2]))


def fake(name, root):
    if name in TOKENS:
        n, vocab, title = TOKENS[name]
        ids = torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
        cut = int(0.9 * n)
        return str(save_torch(f"{root}/{name}.pt", {
            "kind": "tokens", "name": name, "title": title, "source": "random tokens of the assumed size",
            "tokenizer": "char", "vocab": [chr(32 + i) for i in range(vocab)], "vocab_size": vocab,
            "train": ids[:cut].to(torch.uint16), "validation": ids[cut:].to(torch.uint16)}))
    n_train, n_test, shape, classes, title = SIZES[name]
    g = torch.Generator().manual_seed(0)
    blob = {"name": name, "title": title, "classes": classes, "source": "random bytes of the real sizes",
            "x_train": torch.randint(0, 256, (n_train, *shape), generator=g, dtype=torch.uint8),
            "y_train": torch.randint(0, classes, (n_train,), generator=g),
            "x_test": torch.randint(0, 256, (n_test, *shape), generator=g, dtype=torch.uint8),
            "y_test": torch.randint(0, classes, (n_test,), generator=g)}
    return str(save_torch(f"{root}/{name}.pt", blob))


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(job, handler):
    """Seconds per training epoch (the first, warm-up, left out) and seconds outside training."""
    handler.seconds = []
    sync()
    start = time.perf_counter()
    job()
    sync()
    total = time.perf_counter() - start
    epochs = handler.seconds[1:] or handler.seconds  # the first epoch pays for warm-up
    per_epoch = sum(epochs) / len(epochs)
    return per_epoch, total - sum(handler.seconds)


def short(recipe):
    """The recipe cut to a few epochs or iterations, and how many of its logged periods the paper's budget holds."""
    if "iterations" in recipe:
        return {**recipe, "iterations": SHORT_ITERATIONS}, recipe["iterations"] / (SHORT_ITERATIONS // 20)
    return recipe, recipe["epochs"]


def largest(experiment: dict, dataset: str) -> tuple[str, int]:
    """The experiment's model with the most parameters on this dataset, and how many, counted on the
    meta device."""
    from lossbarcode import models

    if dataset in TOKENS:
        shape, classes = (experiment["data"]["block_size"],), TOKENS[dataset][1]
    else:
        shape, classes = tuple(experiment.get("data", {}).get("shape", SIZES[dataset][2])), SIZES[dataset][3]
    with torch.device("meta"):
        counts = {m: models.parameter_count(models.build(m, input_shape=shape, classes=classes,
                                                         **experiment.get("model_args", {})))
                  for m in experiment["models"]}
    model = max(counts, key=counts.get)
    return model, counts[model]


def job_counts(experiment: dict) -> dict[str, int]:
    """How many jobs of each kind one (dataset, model) of the experiment runs, over its repetitions."""
    n, repeat = experiment["minima"], experiment.get("repeat", {"times": 1, "refit": "all"})
    trained = repeat["times"] if repeat["refit"] == "all" else 1
    counts = {"minimum": n * trained, "curve": math.comb(n, 2) * repeat["times"]}
    if experiment["triangles"]:
        counts["triangle"] = math.comb(n, 3) * repeat["times"]
    return counts


def cost_of_jobs(name, experiment, model, dataset, out, device, handler) -> dict[str, tuple[float, float]]:
    """Seconds per logged period and seconds outside training of the last job of each kind (its
    caches warm), from short real jobs of the experiment's recipes."""
    spec = {"experiment": name, "run": f"{dataset}-{model}", "device": device,
            "checkpoint_every": 1, "dataset": dataset, "model": model,
            "model_args": experiment.get("model_args", {}), "data": experiment.get("data", {}),
            **{k: experiment[k] for k in RUN_KEYS if k in experiment}}
    for section in ("minimum", "curve", "triangle"):
        if section in experiment:
            recipe = {k: v for k, v in experiment[section].items() if k not in SCHEDULING}
            spec[section] = copy.deepcopy(recipe) if "iterations" in recipe else {**recipe, "epochs": SHORT[section]}
            spec[section] = short(spec[section])[0]
    if "curve" in spec and spec["curve"]["method"] == "pointchain":
        spec["curve"]["insert_every"] = 2
    spec = RunSpec.parse(spec)
    data = fake(dataset, out)
    run = f"{out}/{name}-{dataset}"
    cost = {}
    for seed in range(3):
        cost["minimum"] = timed(lambda: jobs.train_minimum(spec, data, seed, f"{run}/m{seed}"), handler)
    for a, b in [(0, 1), (0, 2), (1, 2)] if experiment["triangles"] else [(0, 1)]:
        ends = [f"{run}/m{a}.pt", f"{run}/m{b}.pt"]
        cost["curve"] = timed(lambda: jobs.fit_curve(spec, data, ends, f"{run}/{a}-{b}"), handler)
    if experiment["triangles"]:
        vertices = [f"{run}/m{s}.pt" for s in range(3)]
        sides = [f"{run}/{p}.pt" for p in ("0-1", "0-2", "1-2")]
        cost["triangle"] = timed(lambda: jobs.fit_triangle(spec, data, vertices, sides, f"{run}/t"), handler)
    return cost


def budget_of(stage: dict, used_share: float) -> tuple[str, float]:
    """How the stage's budget reads, and the share of it a job is expected to run (1 for a fixed budget)."""
    budget = f"{stage['iterations']} iterations" if "iterations" in stage else f"{stage['epochs']} epochs"
    if stage.get("until_converged"):
        return f"a cap of {budget}, {used_share:.0%} expected (a guess until measured at paper scale)", used_share
    return budget, 1.0


def main(out, only=(), config_path=CONFIG, jobs_only=False, used_share=USED_SHARE):
    config = yaml.safe_load(Path(config_path).read_text())
    handler = Epochs()
    logging.getLogger("lossbarcode").addHandler(handler)
    logging.getLogger("lossbarcode").setLevel(logging.INFO)
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if not jobs_only:
        print(f"{torch.cuda.get_device_name() if device != 'cpu' else 'CPU'}, torch {torch.__version__}")
    timed_before: dict[str, dict] = {}  # the same model, data and recipes: timed once
    sections: dict[str, float] = {}
    for name, experiment in config["experiments"].items():
        if only and name not in only:
            continue
        hours = 0.0
        for dataset in experiment["datasets"]:
            model, parameters = largest(experiment, dataset)
            counts = job_counts(experiment)
            if jobs_only:
                for section, count in counts.items():
                    budget = budget_of(experiment[section], used_share)[0]
                    print(f"{name:26} {dataset:9} {section:8} {count * len(experiment['models']):5d} jobs of "
                          f"{budget}, largest model {model} ({parameters:,} parameters)")
                continue
            # What a period costs: the recipes without their budgets and job resources (each experiment
            # multiplies by its own number of periods).
            stages = {k: {o: v for o, v in experiment[k].items() if o not in {"epochs", "iterations", *SCHEDULING}}
                      for k in ("minimum", "curve", "triangle") if k in experiment}
            setting = {k: experiment.get(k) for k in ("model_args", "data", "measure", "normalisation")}
            key = json.dumps([model, dataset, stages, setting], sort_keys=True, default=str)
            if key not in timed_before:
                timed_before[key] = cost_of_jobs(name, experiment, model, dataset, out, device, handler)
            for section, (per_period, measuring) in timed_before[key].items():
                budget, share = budget_of(experiment[section], used_share)
                periods = short(experiment[section])[1] * share
                job = periods * per_period + measuring
                jobs_here = counts[section] * len(experiment["models"])
                hours += jobs_here * job / 3600
                print(f"{name:26} {dataset:9} {model:14} {section:8} {per_period:6.2f} s/period x {periods:6.0f} "
                      f"periods ({budget}) + {measuring:5.1f} s measuring = {job / 60:6.1f} min per job, "
                      f"{jobs_here} jobs (bounded by the largest model)")
        if jobs_only:
            continue
        print(f"{name:26} all jobs: {hours:.2f} GPU-hours")
        sections[experiment["section"]] = sections.get(experiment["section"], 0.0) + hours
    if jobs_only:
        return
    print("\nGPU-hours per paper section (each job on one device, the largest model's cost for every model)")
    for section, hours in sections.items():
        print(f"  {f'paper {section}' if '§' in section else f'§{section}':16} {hours:8.2f}")
    print(f"  {'total':16} {sum(sections.values()):8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG, help="the configuration whose recipes are costed")
    parser.add_argument("scratch", help="a folder for the fake data and the jobs' files")
    parser.add_argument("experiments", nargs="*", help="only these experiments")
    parser.add_argument("--jobs-only", action="store_true", help="list the jobs and their budgets; time nothing")
    parser.add_argument("--used-share", type=float, default=USED_SHARE,
                        help="the share of an adaptive (until_converged) cap a job is expected to use")
    args = parser.parse_args()
    main(args.scratch, args.experiments, args.config, args.jobs_only, args.used_share)
