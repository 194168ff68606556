"""The ``lossbarcode`` command: one verb per workflow step, each a thin shell around one library call.

Heavy modules (torch, gudhi) are imported inside the verbs, so ``lossbarcode --help`` and the CPU
verbs start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def barcode(args: argparse.Namespace) -> None:
    """Barcodes of one model from its minima, curves and (optionally) triangles files."""
    import numpy as np

    from . import barcode as bc
    from .io import read_json, write_json

    names = [Path(p).stem for p in args.minima]
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise SystemExit("error: two minima files share a name")
    losses = [read_json(p)["train_loss"] for p in args.minima]

    def key(path: str, arity: int) -> tuple[int, ...]:
        parts = Path(path).stem.split("-")
        if len(parts) != arity or any(p not in index for p in parts):
            raise SystemExit(f"error: {path} must be named after {arity} minima ({', '.join(names)}) joined by '-'")
        return tuple(index[p] for p in parts)

    edges = {key(p, 2): read_json(p)["max"] for p in args.curves}
    triangles = {key(p, 3): read_json(p) for p in args.triangles}
    result = bc.summary(losses, edges, {k: t["max"] for k, t in triangles.items()})
    result.update(
        minima={"names": names, "train_loss": losses},
        edges={"-".join(names[i] for i in k): w for k, w in edges.items()},
        triangles={"-".join(names[i] for i in k): {"side_max": t["side_max"], "max": t["max"]} for k, t in triangles.items()},
        triangle_lifespans=bc.triangle_lifespans(
            np.array([t["side_max"] for t in triangles.values()]).reshape(-1, 3),
            np.array([t["max"] for t in triangles.values()]),
        ).tolist(),
    )
    write_json(args.out, result)
    logging.getLogger("lossbarcode").info(
        "barcode of %d minima, %d curves, %d triangles: TO-score %.4g, W_inf %.4g -> %s",
        len(losses), len(edges), len(triangles), result["to_score"]["euclidean"], result["w_inf"]["euclidean"], args.out,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lossbarcode", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("barcode", help=barcode.__doc__)
    p.add_argument("--minima", nargs="+", required=True, help="minima/{name}.json files (key train_loss)")
    p.add_argument("--curves", nargs="*", default=[], help="curves/{a}-{b}.json files (key max)")
    p.add_argument("--triangles", nargs="*", default=[], help="triangles/{a}-{b}-{c}.json files (keys side_max, max)")
    p.add_argument("--out", required=True, help="barcode.json to write")
    p.set_defaults(run=barcode)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr
    )
    args.run(args)


if __name__ == "__main__":
    main()
