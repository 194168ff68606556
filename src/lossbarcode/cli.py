"""The lossbarcode command: one verb per workflow step, each a thin shell around lossbarcode.jobs.

Heavy modules (torch, gudhi, matplotlib) are imported inside the verbs, so ``lossbarcode --help``
starts in a fraction of a second. A mistake in what the command was given (a bad file, a setting no
job can run, data that cannot be had) is one line naming it, not a traceback (``-v`` shows that too).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from importlib.metadata import version

from .datasets import DATASETS, DataUnavailable
from .devices import JOBS_PER_GPU
from .io import ResultFileError
from .warm import WARM, run_warm

#: What a mistake in the command's input raises, reported in one line: wrong values and settings
#: (SpecError, ConfigError), files that cannot be used or written, data that cannot be had, and a
#: training run that diverged (its message says which setting to change).
USER_ERRORS = (ValueError, OSError, ResultFileError, DataUnavailable, FloatingPointError)
#: Libraries that print through a handler of their own: passed on to the command's too, each of their
#: messages would show twice.
OWN_HANDLERS = ("huggingface_hub", "datasets")
#: The scales a figure, table or claims title names (the config's scale).
SCALES = ("quick", "paper")


def _json(flag: str, what: str, kind: type = dict):
    """An argparse type: a JSON value of ``kind`` (an object, or a list) given to ``flag``."""

    def parse(text: str):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise argparse.ArgumentTypeError(f"{flag} is not valid JSON: {error}") from None
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError(f"{flag} must be a JSON {'object' if kind is dict else 'list'} ({what})")
        return value

    return parse


class Names(Sequence):
    """The names of a registry in a module that is slow to import (it needs numpy or torch), as an
    argument's choices: imported only when they are listed (the verb's ``--help``) or a value is checked."""

    def __init__(self, module: str, registry: str):
        self.module, self.registry = module, registry

    def names(self) -> list[str]:
        return list(getattr(importlib.import_module(self.module, __package__), self.registry))

    def __getitem__(self, index):
        return self.names()[index]

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name) -> bool:
        return name in self.names()


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def main(argv: list[str] | None = None) -> None:
    if argv is None and os.environ.get(WARM) and sys.argv[1:2] != ["serve"]:
        # A job of a workflow that keeps a warm server: it runs there, or here if there is none.
        code = run_warm(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    parser = argparse.ArgumentParser(prog="lossbarcode", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('lossbarcode')}")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("prepare-data", help="download (or build a stand-in) and store a dataset as tensors")
    p.add_argument("--dataset", required=True, choices=list(DATASETS), metavar="NAME",
                   help="a dataset of the registry (lossbarcode.datasets): %(choices)s")
    p.add_argument("--root", required=True, help="data folder; the tensors go to ROOT/DATASET.pt")
    p.add_argument("--mirrors", type=_json("--mirrors", "dataset name -> base URL"), default={},
                   help="JSON object: dataset name -> base URL replacing its download location")

    for verb, help_ in (("train-minimum", "train one minimum"),
                        ("embed-minimum", "embed a smaller network's minimum into this architecture"),
                        ("fit-curve", "fit the curve between two minima"),
                        ("fit-triangle", "fit the triangle on three minima")):
        p = verbs.add_parser(verb, help=help_)
        p.add_argument("--spec", type=_json("--spec", "a run spec"), required=True,
                       help="the run spec, JSON (lossbarcode.config.job_spec writes it from the workflow's config)")
        p.add_argument("--data", required=True, help="the dataset's tensor file (lossbarcode prepare-data)")
        p.add_argument("--out", required=True, help="output path without suffix (.pt and .json are written)")
        p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
        p.add_argument("--device", default="auto",
                       help="auto (lease a free GPU, else the CPU), cuda (lease a GPU), cuda:K or cpu")
        p.add_argument("--jobs-per-gpu", type=int, default=1, choices=JOBS_PER_GPU, metavar="K",
                       help="how many jobs like this one may share a GPU: %(choices)s")
        p.add_argument("--checkpoint-every", type=int, default=0,
                       help="save a resumable checkpoint every this many epochs (0: never)")
        if verb in ("train-minimum", "embed-minimum"):
            p.add_argument("--seed", type=int, required=True, help="the minimum's seed (its initialisation)")
        if verb == "embed-minimum":
            p.add_argument("--source", required=True, help="the smaller network's minimum .pt")
        if verb == "fit-curve":
            p.add_argument("--ends", nargs=2, required=True, help="the two minima .pt files")
        if verb == "fit-triangle":
            p.add_argument("--vertices", nargs=3, required=True, help="three minima .pt files")
            p.add_argument("--curves", nargs=3, required=True, help="curve .pt files for sides (0,1), (0,2), (1,2)")

    p = verbs.add_parser("barcode", help="barcodes of one model from its minima, curves and triangles")
    p.add_argument("--minima", nargs="+", required=True, help="minima/{seed}.json files (key train_loss)")
    p.add_argument("--curves", nargs="*", default=[], help="curves/{a}-{b}.json files (keys max, t, train_loss)")
    p.add_argument("--triangles", nargs="*", default=[], help="triangles/{a}-{b}-{c}.json files (keys side_max, max)")
    p.add_argument("--out", required=True, help="barcode.json to write")

    p = verbs.add_parser("toy", help="run one analytic experiment (paper 002 §9, Appendices C, D, H, Fig 1)")
    p.add_argument("--experiment", required=True, choices=Names(".toy", "EXPERIMENTS"), metavar="NAME",
                   help="one of lossbarcode.toy's experiments: %(choices)s")
    p.add_argument("--params", type=_json("--params", "the experiment's keyword arguments"), default={},
                   help="JSON object of the experiment's parameters")
    p.add_argument("--out", required=True, help="result .json to write")

    for verb, help_, suffixes, kinds in (
            ("figure", "draw one figure from barcodes or toy results", ".png, .pdf, .csv", Names(".figures", "KINDS")),
            ("table", "write one table (CSV, Markdown, HTML) from barcodes", ".csv, .md, .html", Names(".tables", "KINDS"))):
        p = verbs.add_parser(verb, help=help_)
        p.add_argument("--kind", required=True, choices=kinds, metavar="KIND", help=f"the {verb}'s kind: %(choices)s")
        p.add_argument("--title", required=True, help=f"the {verb}'s title")
        p.add_argument("--scale", required=True, choices=SCALES, help="written in the title: %(choices)s")
        p.add_argument("--runs", type=_json("--runs", "run records", list), required=True,
                       help="JSON list of run records with a barcode path")
        p.add_argument("--out", required=True, help=f"output path without suffix ({suffixes})")
        if verb == "table":
            p.add_argument("--paper", type=_json("--paper", "model name -> the paper's value"), default={},
                           help="JSON object: the paper's values by model name, shown beside ours")

    p = verbs.add_parser("claims", help="check the papers' findings on the barcodes (claims.csv, .md, .html)")
    p.add_argument("--claims", type=_json("--claims", "claims", list), required=True,
                   help="JSON list of claims: name, kind, item, statement, options, and runs (records as --runs)")
    p.add_argument("--scale", required=True, choices=SCALES, help="written in the title: %(choices)s")
    p.add_argument("--out", required=True, help="output path without suffix (.csv, .md, .html)")

    p = verbs.add_parser("serve", help="fork jobs from a process that has torch imported (the workflow starts it)")
    p.add_argument("--socket", required=True, help="the Unix socket to listen on")
    p.add_argument("--parent", type=int, default=None, help="stop when this process (the workflow) is gone")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s", stream=sys.stderr)
    for library in OWN_HANDLERS:
        logging.getLogger(library).propagate = False
    try:
        _threads(getattr(args, "threads", None))
        if hasattr(args, "spec"):
            from .devices import lease

            # A training job holds its own GPU (or the CPU) for its whole life.
            from .spec import RunSpec

            # How the job runs comes from the command line, not the run spec (it changes no result).
            spec = RunSpec.parse({**args.spec, "checkpoint_every": args.checkpoint_every})
            with lease(args.device, jobs_per_gpu=args.jobs_per_gpu) as device:
                args.spec = replace(spec, device=device)
                _run(args)
        else:
            _run(args)
    except USER_ERRORS as error:
        if args.verbose:
            raise
        parser.exit(1, f"lossbarcode {args.verb}: {error} (-v shows the traceback)\n")


def _run(args: argparse.Namespace) -> None:
    from . import jobs

    if args.verb == "serve":
        from .warm import serve

        serve(args.socket, parent=args.parent)
    elif args.verb == "prepare-data":
        from .data import prepare

        print(prepare(args.dataset, args.root, mirror=args.mirrors.get(args.dataset)))
    elif args.verb == "train-minimum":
        jobs.train_minimum(args.spec, args.data, args.seed, args.out)
    elif args.verb == "embed-minimum":
        jobs.embed_minimum(args.spec, args.data, args.source, args.seed, args.out)
    elif args.verb == "fit-curve":
        jobs.fit_curve(args.spec, args.data, args.ends, args.out)
    elif args.verb == "fit-triangle":
        jobs.fit_triangle(args.spec, args.data, args.vertices, args.curves, args.out)
    elif args.verb == "barcode":
        jobs.barcode(args.minima, args.curves, args.triangles, args.out)
    elif args.verb == "toy":
        jobs.toy(args.experiment, args.params, args.out)
    elif args.verb == "figure":
        jobs.figure(args.kind, args.title, args.scale, args.runs, args.out)
    elif args.verb == "table":
        jobs.table(args.kind, args.title, args.scale, args.runs, args.out, args.paper)
    elif args.verb == "claims":
        jobs.claims(args.claims, args.scale, args.out)


if __name__ == "__main__":
    main()
