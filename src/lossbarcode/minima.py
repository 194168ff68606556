"""Finding minima: descent on any landscape, and de-duplication of the minima found."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .checkpoint import Checkpoint
from .landscape import Landscape
from .train import DECAY_MASKS, BestPeriod, Recipe, make_optimizer, optimize


def descend(
    landscape: Landscape,
    theta0: Tensor,
    recipe: Recipe | None = None,
    *,
    steps_per_epoch: int | None = None,
    what: str = "descent",
    checkpoint: Checkpoint | None = None,
    best: BestPeriod | None = None,
    **recipe_kw,
) -> Tensor:
    """Minimises ``landscape.loss`` from ``theta0`` and returns the parameter vector the recipe keeps:
    the final one, or with ``keep="best_train_loss"`` the one at the end of the epoch (``steps_per_epoch``
    steps) with the lowest mean minibatch loss (``train.BestPeriod``; ``best``, if given, holds it
    afterwards, with the step it is from).

    ``theta0`` may be a ``[batch, dim]`` stack of starting points: they descend together, each on
    its own loss (the summed objective has independent gradients), and a stack comes back; each
    start keeps its own best epoch.

    Either pass a ``Recipe`` or its fields as keywords (``steps``, ``lr``, ``optimizer``,
    ``momentum``, ``schedule`` ...); the default is 2000 steps of plain gradient descent at lr 1e-2.
    A ``checkpoint`` saves the descent every few epochs and resumes a saved one. A recipe's
    ``decay_mask`` rule is applied to the landscape's model (a network landscape's), and gradient
    clipping needs a single start (a global norm over a stack would couple the starts).
    """
    if recipe is None:
        recipe = Recipe(**{"steps": 2000, "lr": 1e-2, **recipe_kw})
    elif recipe_kw:
        raise ValueError(f"pass either a recipe or its fields, not both (got {sorted(recipe_kw)})")
    start, single = landscape.as_batch(torch.as_tensor(theta0))
    # One start stays a vector, so the landscape takes its single-point path.
    theta = torch.nn.Parameter((start[0] if single else start).clone())
    if recipe.clip_grad_norm is not None and not single:
        raise ValueError(f"clipping by the global gradient norm would couple the {len(start)} starts: "
                         "descend them one at a time")
    mask = None
    if recipe.decay_mask is not None:
        if not hasattr(landscape, "model"):
            raise ValueError(f"the decay_mask rule {recipe.decay_mask!r} reads a network's parameters; "
                             f"{type(landscape).__name__} has no model")
        mask = [DECAY_MASKS[recipe.decay_mask](landscape.model)]
    optimize([theta], lambda step: landscape.loss(theta), recipe, steps_per_epoch=steps_per_epoch, what=what,
             optimizer=make_optimizer([theta], recipe, mask), checkpoint=checkpoint, best=best)
    return theta.detach()


def unique_minima(thetas: Tensor, values: Tensor, tol: float) -> list[int]:
    """Indices of distinct minima: a point within ``tol`` (Euclidean) of a lower one is a repeat.

    Sorted by value, lowest first, so the kept representative of each cluster is its lowest point.
    """
    thetas = torch.as_tensor(thetas)
    order = np.argsort(np.asarray(torch.as_tensor(values).detach().cpu()), kind="stable")
    kept: list[int] = []
    for i in order:
        if all(torch.linalg.vector_norm(thetas[i] - thetas[j]) > tol for j in kept):
            kept.append(int(i))
    return kept
