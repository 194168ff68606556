"""Workflow jobs: files in, files out, one function per CLI verb.

Each job gets a ``RunSpec`` (``lossbarcode.spec``: one experiment's settings for one dataset and
model, as the workflow resolved them for this job's stage), the files of earlier steps, and writes
its own files atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from dataclasses import asdict
from pathlib import Path

from .io import LIST, NUMBER, NUMBERS, OBJECT, WRITERS, Field, read_json, read_record, read_torch, save_torch, unusable, write_json
from .spec import RunSpec

log = logging.getLogger("lossbarcode")


def device_of(spec: RunSpec):
    import torch

    wanted = spec.device
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wanted)


def job_seed(spec: RunSpec, name: str) -> int:
    """A stable seed for one job of a run (a curve, a triangle), independent of job order."""
    return zlib.crc32(f"{spec.experiment}/{spec.run}/{name}".encode())


def landscape_for(spec: RunSpec, data_path: str, stage: str, seed: int):
    """The network landscape of a run, with the minibatch size and augmentation of ``stage``'s
    recipe, and the shape its model was built for: ``(landscape, input_shape, classes)`` (for text,
    ``(block_size,)`` and the vocabulary size)."""
    import torch

    from . import models
    from .augment import input_pipeline
    from .data import load, load_tokens
    from .datasets import DATASETS
    from .landscape import NetworkLandscape

    device = device_of(spec)
    recipe = spec.stage(stage)
    dataset = DATASETS[spec.dataset]
    if dataset.kind == "tokens":
        text = load_tokens(data_path, block_size=spec.data.block_size, device=device)
        train, test, input_shape, classes = text.train(), text.test(), (spec.data.block_size,), text.vocab_size
        augment = None
    else:
        images = load(data_path, shape=spec.data.shape, train_size=spec.data.train_size, device=device)
        inputs = input_pipeline(spec.normalisation, recipe.augmentation)
        train = (inputs.normalise(images.x_train), images.y_train)
        test = (inputs.normalise(images.x_test), images.y_test)
        input_shape, classes, augment = tuple(images.x_train.shape[1:]), images.classes, inputs.augment
    torch.manual_seed(seed)
    model = models.build(spec.model, input_shape=input_shape, classes=classes, **spec.model_args)
    landscape = NetworkLandscape(
        model, train, test, task=dataset.task, batch_size=recipe.batch_size, augment=augment, seed=seed,
        device=device, precision=recipe.precision, channels_last=recipe.channels_last, compile=recipe.compile,
        measure_train=spec.measure.train, measure_test=spec.measure.test, measure_seed=spec.measure.seed,
    )
    if device.type != "cuda" and recipe.precision != "fp32":
        log.info("precision %s applies on a GPU only; training on the CPU in float32", recipe.precision)
    return landscape, input_shape, classes


def checkpoint_for(spec: RunSpec, out: str, landscape, inputs: list[str] = (), **extra):
    """The checkpoint of the job writing ``out`` (None when ``checkpoint_every`` is 0): ``out``.ckpt,
    keyed by the spec (and ``extra``, e.g. the seed) and the bytes of ``inputs``, so a changed
    config or input starts afresh."""
    from .checkpoint import Checkpoint

    if not spec.checkpoint_every:
        return None
    key = hashlib.sha256(json.dumps({**spec.key(), **extra}, sort_keys=True).encode())
    for path in inputs:
        key.update(Path(path).read_bytes())
    return Checkpoint(f"{out}.ckpt", spec.checkpoint_every, key.hexdigest()).track(
        "data order", landscape.data_state, landscape.load_data_state)


def read_minimum(path: str, device="cpu", parameters: int | None = None) -> dict:
    """A minimum file (weights and what rebuilds their model), checked: a bad file is named. ``parameters``:
    how many weights the job's model has, which the file's must match."""
    import torch

    saved = read_torch(path, map_location=device)
    missing = [k for k in ("theta", "model", "model_args", "input_shape", "classes")
               if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise unusable(path, f"not a minimum file (no {', '.join(missing)})")
    if not torch.is_tensor(saved["theta"]) or saved["theta"].ndim != 1:
        raise unusable(path, "its weights 'theta' are not a flat vector")
    if not torch.isfinite(saved["theta"]).all():
        raise unusable(path, "its weights contain NaN or infinite values")
    if parameters is not None:
        check_length(path, len(saved["theta"]), parameters, f"a minimum of {saved['model']}")
    return saved


def check_length(path: str, found: int, parameters: int, what: str, model: str = "this job's model") -> None:
    """``ResultFileError`` naming ``path`` when the parameter vectors it holds (``found`` values, ``what``
    it is) do not fit the ``parameters`` of ``model``: a file of another model or dataset."""
    if found != parameters:
        raise unusable(path, f"it holds {what} with {found} weights, but {model} has {parameters}: a file of another "
                             "model, model_args or dataset")


#: What the barcode job reads of each record of an earlier step (lossbarcode.io.read_record).
MINIMUM_FIELDS = {"train_loss": NUMBER}
CURVE_FIELDS = {"max": NUMBER, "t": NUMBERS, "train_loss": NUMBERS}
TRIANGLE_FIELDS = {"side_max": Field("three numbers", lambda v: NUMBERS.valid(v) and len(v) == 3), "max": NUMBER}
#: What figures, tables and claims read of every barcode.json (files from before ``profiles`` and
#: ``triangle_grids`` were kept lack those, and the figures that need them say so).
BARCODE_FIELDS = {
    "minima": Field("an object with the minima's train_loss",
                    lambda v: OBJECT.valid(v) and NUMBERS.valid(v.get("train_loss"))),
    **dict.fromkeys(("h0", "h1", "h0_graph_deaths", "h0_direct_deaths"), LIST),
    **dict.fromkeys(("edges", "triangles", "to_score", "to_score_direct", "w_inf"), OBJECT),
}


def _what(spec: RunSpec, thing: str) -> str:
    return f"experiment {spec.experiment}, model {spec.run}, {thing}"


def _advice(spec: RunSpec, stage: str) -> str:
    return (f"; to change it, lower experiments.{spec.experiment}.{stage}.lr "
            f"(now {spec.stage(stage).lr}) in the config")


def train_minimum(spec: RunSpec, data_path: str, seed: int, out: str) -> None:
    """Trains one minimum from the seed's initialisation: ``out``.pt (weights) and ``out``.json."""
    from .minima import descend
    from .train import BestPeriod

    landscape, input_shape, classes = landscape_for(spec, data_path, "minimum", seed)
    recipe = spec.stage("minimum").recipe(landscape.steps_per_epoch)
    checkpoint = checkpoint_for(spec, out, landscape, seed=seed)
    best = BestPeriod()
    start = time.perf_counter()
    try:
        theta = descend(landscape, landscape.flatten(), recipe,
                        steps_per_epoch=spec.minimum.steps_per_log(landscape.steps_per_epoch),
                        what=_what(spec, f"seed {seed}"), checkpoint=checkpoint, best=best)
    except FloatingPointError as error:
        raise FloatingPointError(f"{error}{_advice(spec, 'minimum')}") from error
    _write_minimum(spec, landscape, input_shape, classes, theta, seed, out, time.perf_counter() - start,
                   recipe.steps, **_kept(recipe, best))
    if checkpoint is not None:
        checkpoint.remove()


def embed_minimum(spec: RunSpec, data_path: str, source: str, seed: int, out: str) -> None:
    """A minimum of a smaller network embedded into this run's architecture (paper 002 §3.5), then
    settled by the run's minimum recipe, as the anti-gradient flow of Theorem 2's proof."""
    import torch

    from . import models
    from .minima import descend
    from .models.embed import embed
    from .train import BestPeriod

    landscape, input_shape, classes = landscape_for(spec, data_path, "minimum", seed)
    saved = read_minimum(source)
    small = models.build(saved["model"], input_shape=saved["input_shape"], classes=saved["classes"],
                         **saved["model_args"])
    check_length(source, len(saved["theta"]), models.parameter_count(small), f"a minimum of {saved['model']}",
                 f"{saved['model']} with {saved['model_args']} on inputs {saved['input_shape']}, as the file says,")
    torch.nn.utils.vector_to_parameters(saved["theta"], small.parameters())
    embedded = landscape.flatten(embed(small, saved["model"], spec.model))
    recipe = spec.stage("minimum").recipe(landscape.steps_per_epoch)
    checkpoint = checkpoint_for(spec, out, landscape, [source], seed=seed)
    best = BestPeriod()
    start = time.perf_counter()
    try:
        theta = descend(landscape, embedded, recipe,
                        steps_per_epoch=spec.minimum.steps_per_log(landscape.steps_per_epoch),
                        what=_what(spec, f"embedded seed {seed}"), checkpoint=checkpoint, best=best)
    except FloatingPointError as error:
        raise FloatingPointError(f"{error}{_advice(spec, 'minimum')}") from error
    _write_minimum(spec, landscape, input_shape, classes, theta, seed, out, time.perf_counter() - start, recipe.steps,
                   **_kept(recipe, best), embedded_from=saved["model"],
                   embedded_train_loss=landscape.evaluate(embedded).item())
    if checkpoint is not None:
        checkpoint.remove()


def _kept(recipe, best) -> dict:
    """What a minimum's record says of its weights: the recipe's ``keep`` rule, and ``kept_step``, the
    steps done when they were reached (the end of the best epoch, or of the recipe)."""
    return {"kept": recipe.keep, "kept_step": recipe.steps if best.step is None else int(best.step)}


def _write_minimum(spec, landscape, input_shape, classes, theta, seed, out, seconds, steps, **extra) -> None:
    """``out``.pt: the weights and what rebuilds their model; ``out``.json: the minimum's record."""
    train, test = landscape.metrics(theta, "train"), landscape.metrics(theta, "test")
    save_torch(f"{out}.pt", {"theta": theta.cpu(), "model": spec.model, "model_args": spec.model_args,
                             "input_shape": list(input_shape), "classes": classes})
    write_json(f"{out}.json", {
        "seed": seed, "train_loss": train["loss"].item(), "train_accuracy": train["accuracy"].item(),
        "test_loss": test["loss"].item(), "test_accuracy": test["accuracy"].item(),
        "unit": train["unit"], "parameters": landscape.dim, "steps": steps,
        "recipe": spec.minimum.to_dict(), **extra,
    })
    log.info("minimum seed %d: train loss %.4g, test accuracy %.4f, %.1fs", seed, train["loss"].item(),
             test["accuracy"].item(), seconds)


def fit_curve(spec: RunSpec, data_path: str, ends: list[str], out: str) -> None:
    """Fits the curve between two minima files: ``out``.pt (the curve) and ``out``.json (its profile)."""
    import torch

    from .curves import curve_state, fit_curve as fit

    name = Path(out).name
    section = spec.stage("curve")
    landscape, *_ = landscape_for(spec, data_path, "curve", job_seed(spec, name))
    a, b = (read_minimum(p, landscape.device, landscape.dim)["theta"] for p in ends)
    recipe = section.recipe(landscape.steps_per_epoch)
    checkpoint = checkpoint_for(spec, out, landscape, ends)
    if section.method == "pointchain":
        extra = {"insert_every": section.insert_every * landscape.steps_per_epoch, "l2": section.l2,
                 "freeze_borders": section.freeze_borders, "interval_points": section.interval_points,
                 "ridge_tolerance": section.ridge_tolerance}
    elif section.method == "climbing":
        extra = {"climb_from": section.climb_from}
    else:
        extra = {"weight_decay": section.weight_decay, "points_per_step": section.points_per_step}
    start = time.perf_counter()
    try:
        curve = fit(landscape, a, b, section.method, bends=section.bends, recipe=recipe,
                    convergence=section.convergence, profile_points=section.profile_points, refine=section.refine,
                    seed=job_seed(spec, name), steps_per_epoch=section.steps_per_log(landscape.steps_per_epoch),
                    what=_what(spec, f"curve {name}"), checkpoint=checkpoint, **extra)
    except FloatingPointError as error:
        raise FloatingPointError(f"{error}{_advice(spec, 'curve')}") from error
    seconds = time.perf_counter() - start
    t, loss = curve.measured  # the profile of the last check, after the last step
    record = {"method": section.method, "t": t.tolist(), "train_loss": loss.tolist(),
              "max": float(loss.max()), "argmax": float(t[loss.argmax()]), "recipe": section.to_dict(),
              "convergence": curve.convergence}
    if section.test_profile:
        with torch.no_grad():
            weights = curve.weights(torch.from_numpy(t))
            record["test_loss"] = landscape.metrics(weights, "test")["loss"].double().cpu().tolist()
    save_torch(f"{out}.pt", curve_state(curve))
    write_json(f"{out}.json", record)
    if checkpoint is not None:
        checkpoint.remove()
    log.info("curve %s: max train loss %.4g at t=%.3f, %s after %d of %d steps, %.1fs", name, record["max"],
             record["argmax"], curve.convergence["verdict"], curve.convergence["used"], curve.convergence["cap"], seconds)


def read_curve(path: str, device="cpu", parameters: int | None = None):
    """A curve file, rebuilt as its ``Curve``: a bad file is named. ``parameters``: how many weights the
    job's model has, which the curve's points must match."""
    from .curves import load_curve

    saved = read_torch(path)
    try:
        curve = load_curve(saved).to(device)
    except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as error:
        raise unusable(path, f"not a curve file ({type(error).__name__}: {error})") from None
    if parameters is not None:
        check_length(path, curve.start.numel(), parameters, f"a {curve.method} curve")
    return curve


def fit_triangle(spec: RunSpec, data_path: str, vertices: list[str], curves: list[str], out: str) -> None:
    """Fits the triangle on three minima and their curves: ``out``.pt and ``out``.json (Alg. 2)."""
    from .simplex import fit_triangle as fit, triangle_state

    name = Path(out).name
    section = spec.stage("triangle")
    landscape, *_ = landscape_for(spec, data_path, "triangle", job_seed(spec, name))
    thetas = [read_minimum(p, landscape.device, landscape.dim)["theta"] for p in vertices]
    sides = [read_curve(p, landscape.device, landscape.dim) for p in curves]
    recipe = section.recipe(landscape.steps_per_epoch)
    checkpoint = checkpoint_for(spec, out, landscape, [*vertices, *curves])
    start = time.perf_counter()
    try:
        # the sides are sampled as the curve jobs sampled the curves, so side maxima are the H0 edge values;
        # each sample's training accuracy comes from the pass that measures its loss (paper 004 Fig. 1)
        triangle = fit(landscape, tuple(thetas), sides, train_sides=section.train_sides,
                       recipe=recipe, weight_decay=section.weight_decay, convergence=section.convergence,
                       grid=section.grid, **asdict(spec.side_profile), seed=job_seed(spec, name),
                       steps_per_epoch=section.steps_per_log(landscape.steps_per_epoch),
                       what=_what(spec, f"triangle {name}"),
                       checkpoint=checkpoint)
    except FloatingPointError as error:
        raise FloatingPointError(f"{error}{_advice(spec, 'triangle')}") from error
    seconds = time.perf_counter() - start
    points, losses, accuracy = triangle.measured  # the last check's, after the last step
    lifespan = triangle.measured_lifespan
    save_torch(f"{out}.pt", triangle_state(triangle))
    write_json(f"{out}.json", {**lifespan, "points": points.tolist(), "train_loss": losses.tolist(),
                               "train_accuracy": accuracy.tolist(), "recipe": section.to_dict(),
                               "convergence": triangle.convergence})
    if checkpoint is not None:
        checkpoint.remove()
    log.info("triangle %s: bar [%.4g, %.4g], %s after %d of %d steps, %.1fs", name, *lifespan["bar"],
             triangle.convergence["verdict"], triangle.convergence["used"], triangle.convergence["cap"], seconds)


def barcode(minima: list[str], curves: list[str], triangles: list[str], out: str) -> None:
    """Barcodes of one model from its minima, curves and triangles files (named by seeds)."""
    import numpy as np

    from . import barcode as bc

    names = [Path(p).stem for p in minima]
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise ValueError("two minima files share a name")

    def key(path: str, arity: int) -> tuple[int, ...]:
        parts = Path(path).stem.split("-")
        if len(parts) != arity or any(p not in index for p in parts):
            raise ValueError(f"{path} must be named after {arity} minima ({', '.join(names)}) joined by '-'")
        return tuple(index[p] for p in parts)

    records = [read_record(p, MINIMUM_FIELDS, WRITERS["minima"]) for p in minima]
    losses = [r["train_loss"] for r in records]
    paths = {key(p, 2): read_record(p, CURVE_FIELDS, WRITERS["curves"]) for p in curves}
    edges = {k: curve["max"] for k, curve in paths.items()}
    faces = {key(p, 3): read_record(p, TRIANGLE_FIELDS, WRITERS["triangles"]) for p in triangles}
    maxima = {k: t["max"] for k, t in faces.items()}
    result = bc.summary(losses, edges, maxima)
    result.update(
        minima={"names": names, **{field: [r.get(field) for r in records] for field in
                ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "parameters", "unit")}},
        edges={"-".join(names[i] for i in k): w for k, w in edges.items()},
        profiles={"-".join(names[i] for i in k): {"t": c["t"], "train_loss": c["train_loss"]} for k, c in paths.items()},
        triangles={"-".join(names[i] for i in k): {"side_max": t["side_max"], "max": t["max"]} for k, t in faces.items()},
        triangle_lifespans=bc.triangle_lifespans(
            np.array([t["side_max"] for t in faces.values()]).reshape(-1, 3),
            np.array([t["max"] for t in faces.values()]),
        ).tolist(),
        # the measured samples inside each triangle; train_accuracy is None in files written before it was kept
        triangle_grids={"-".join(names[i] for i in k): {"points": t["points"], "train_loss": t["train_loss"],
                                                        "train_accuracy": t.get("train_accuracy")}
                        for k, t in faces.items() if "points" in t},
        # which curve or triangle decides each bar, and whether it converged; files written before the
        # records carried their convergence give None ("no record")
        convergence=bc.convergence_summary(losses, edges, maxima,
                                           {k: r.get("convergence") for k, r in [*paths.items(), *faces.items()]},
                                           names),
    )
    write_json(out, result)
    log.info("barcode of %d minima, %d curves, %d triangles: TO-score %.4g, W_inf %.4g", len(losses), len(edges),
             len(faces), result["to_score"]["euclidean"], result["w_inf"]["euclidean"])


def toy(experiment: str, params: dict, out: str) -> None:
    """Runs one analytic experiment of ``lossbarcode.toy`` and writes its result."""
    from . import toy as toys

    start = time.perf_counter()
    write_json(out, toys.run(experiment, **params))
    log.info("toy experiment %s: %.1fs", experiment, time.perf_counter() - start)


def _records(runs: list[dict]) -> list[dict]:
    """Run records as figures and tables read them: a trained model's with its barcode loaded and the
    labels of its dataset, model and held-out split; an analytic experiment's result as it is."""
    from . import models
    from .datasets import DATASETS

    records = []
    for run in runs:
        if "result" in run:
            records.append({**read_json(run["result"]), "experiment": run["experiment"]})
            continue
        barcode = read_record(run["barcode"], BARCODE_FIELDS)
        parameters = (barcode["minima"].get("parameters") or [None])[0]
        label, order = models.describe(run["model"], parameters)
        dataset = DATASETS[run["dataset"]]
        records.append({**run, "dataset_title": dataset.title, "held_out": dataset.held_out, "model_label": label,
                        "order": order, "parameters": parameters, "barcode": barcode})
    return records


def figure(kind: str, title: str, scale: str, runs: list[dict], out: str) -> None:
    """Draws one figure from its runs: records naming a ``barcode`` file (trained models) or a
    ``result`` file (analytic experiments)."""
    from . import figures

    paths = figures.render(kind, _records(runs), scale=scale, title=title, out=out)
    log.info("figure %s: %s", kind, ", ".join(map(str, paths)))


def table(kind: str, title: str, scale: str, runs: list[dict], out: str, paper: dict | None = None) -> None:
    """Writes one table (CSV, Markdown and HTML) from its runs' barcode files, with the paper's values by
    model (``paper``) where its kind shows them."""
    from . import tables

    paths = tables.render(kind, _records(runs), scale=scale, title=title, out=out, paper=paper)
    log.info("table %s: %s", kind, ", ".join(map(str, paths)))


def claims(claims: list[dict], scale: str, out: str) -> None:
    """Checks the papers' findings (``claims``: each a configured claim with its ``name`` and ``runs``)
    and writes out.csv, out.md and out.html, one row per claim."""
    from . import claims as checked

    cache: dict[str, dict] = {}

    def records(runs: list[dict]) -> list[dict]:
        # Claims share runs: each barcode is read once.
        return [cache.setdefault(json.dumps(run, sort_keys=True), _records([run])[0]) for run in runs]

    paths = checked.render(claims, records, scale=scale, out=out)
    log.info("claims: %s", ", ".join(map(str, paths)))
