"""DCA-NAS's search: the supernet trained by alternating first-order updates (paper 004 Alg. 1).

Paper 004 appendix 0.C (Algorithm 1, its pseudo-code not in our copy), reconstructed from
section 3 and from first-order DARTS (Liu et al. 2019, section 2.3 with xi = 0):

    split the training images in two halves, D_train and D_val (DARTS' protocol; the dataset's
    own validation split is kept for scoring the derived network, so it never guides alpha)
    lambda <- 0
    for each epoch, for each pair of batches (b_val from D_val, b_train from D_train):
        1. alpha <- alpha - Adam step on  L_val(w, alpha; b_val) + lambda (K(alpha) - K_s) / K_s
        2. lambda <- max(0, lambda + eta_lambda (K(g(alpha)) - K_s) / K_s)     (eq. 4, ascent)
        3. w <- w - SGD step on L_train(w, alpha; b_train)                      (eq. 1 / eq. 5)
    derive the genotype from alpha (``Supernet.genotype``: DARTS' top-2 edges per node, argmax
    operation without ``none``; NAS-Bench-201: argmax per edge); given the device's hard limit,
    bring it under it if it is over (``fitnas.supernet.within``, beyond the paper)

``K`` is the expected cost of eq. 3 (``fitnas.supernet.expected``; for ``peak``, the expected
peak of ``fitnas.supernet.peak``), the multiplier is ``fitnas.supernet.lagrangian``.

**What step 2 measures** (``lambda_on``; beyond the paper, whose eq. 4 ascends on
``K(alpha) - K_s``, ``lambda_on="expected"``). ``derived``: ``g(alpha)`` is the genotype the
current alpha derives, the network the search will hand over, and ``K(g)`` its exact cost.
K(alpha) is the softmax mixture of every operation on every edge, far above what the derivation
keeps (DARTS keeps 8 of 14 edges; on NAS-Bench-201 ``none``, ``skip_connect`` and
``avg_pool_3x3`` cost nothing, so the mixture's cost falls only by moving weight onto them).
Ascending on K(alpha) keeps lambda rising after the derived network already meets the target,
until alpha has been pushed far past it. Where the derivation may keep ``none``
(``network.derives_none``: nb201's argmax per edge) that ends in collapse: measured on
NAS-Bench-201, every constrained search with the paper's rule derived ``none`` on 4-6 edges,
mostly the all-``none`` cell (BENCHMARKS.md dcanas-nb201). Ascending on ``K(g)`` stops lambda
as soon as the derived network meets ``K_s`` and lets it decay while it does (complementary
slackness on the constraint that matters), while alpha still descends K(alpha)'s gradient, the
differentiable direction to cheaper operations. Where the derivation never keeps ``none``
(DARTS' rule) the collapse cannot happen, and fitnas keeps the paper's rule there: it departs
from the paper only where it measured the need. Neither rule holds a darts limit by itself:
K(alpha)'s ascent overshoots the target by a margin the look-up graph (section 3.2.1) learns
up to the seed-to-seed spread, and ``K(g)`` jumps by whole operations, so lambda falls to 0 and
rises again as g(alpha) crosses K_s and the last g(alpha) lands on either side of it. Measured
on Fashion-MNIST under three limits x 3 seeds (BENCHMARKS.md dcanas-fashion and
dcanas-fashion-derived): DARTS' derivation met the limit in 5 of 9 with ``expected``, 3 of 9
with ``derived`` (``within_limit`` brought the rest under it). ``auto``, the default, is
``derived`` where the derivation may keep ``none`` and ``expected`` elsewhere.

Without a target (``target=None``) steps 1-2 have no constraint term: plain first-order DARTS
with the search-time reductions the supernet is built with.
Hyper-parameters default to paper 004 appendix 0.D where they fit a CPU search of a few epochs:
SGD momentum 0.9, weight decay 3e-4, learning rate cosine-annealed to 0 (0.05 rather than the
paper's 0.2 at batch 512, for our batch of 64: the linear scaling rule), gradient clipping 5,
Adam for alpha with betas (0.5, 0.999) and weight decay 1e-3 (DARTS). Alpha's learning rate is
3e-3 rather than DARTS' 3e-4: DARTS takes ~20,000 alpha steps (50 epochs of 25K images), a
search here a few hundred, and an Adam step moves alpha by about its learning rate whatever the
gradient's scale, so alpha would barely leave its start.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..arch import ArchGraph
from ..data import Dataset
from ..spaces import SearchSpace
from .expected import EXPECTED_COSTS, SupernetError, expected_cost
from .lagrangian import Lagrangian
from .memory import check_fits
from .network import Supernet, derives_none
from .within import derive_within

__all__ = ["DCANAS", "LAMBDA_ON", "EpochReport", "SearchResult", "SupernetConfig",
           "resolve_lambda_on"]

#: What the multiplier's ascent can measure the constraint's excess on.
LAMBDA_ON = ("auto", "derived", "expected")


@dataclass(frozen=True)
class SupernetConfig:
    """How the supernet is built and trained (see the module docstring for the defaults)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    arch_lr: float = 3e-3
    arch_weight_decay: float = 1e-3
    lambda_lr: float = 0.05
    grad_clip: float = 5.0
    weight_sharing: bool = True
    bottleneck: int = 4
    derived_cells: bool = True
    seed: int = 0
    device: str = "cpu"
    #: ``torch.set_num_threads`` during the search; ``None``: torch's own setting. Small
    #: supernets run fastest on one thread when other jobs share the cores (12x here).
    threads: int | None = None
    #: What lambda's ascent measures the constraint on: ``derived``, the cost of the genotype
    #: the current alpha derives (beyond the paper; see the module docstring), ``expected``,
    #: K(alpha) itself (paper 004 eq. 4), or ``auto``: ``derived`` on a space whose derivation
    #: may keep ``none`` (nb201), ``expected`` otherwise (darts).
    lambda_on: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "bottleneck", "threads"):
            value = getattr(self, name)
            if name == "threads" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SupernetError(f"supernet {name} must be an int >= 1, got {value!r}")
        for name in ("lr", "arch_lr", "lambda_lr", "grad_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SupernetError(f"supernet {name} must be a positive number, got {value!r}")
        if self.lambda_on not in LAMBDA_ON:
            raise SupernetError(f"supernet lambda_on must be {', '.join(LAMBDA_ON)}, got "
                                f"{self.lambda_on!r}")
        for name in ("momentum", "weight_decay", "arch_weight_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise SupernetError(f"supernet {name} must be a number >= 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EpochReport:
    """What one supernet epoch ended with (the progress line and the run's ``supernet.json``)."""

    epoch: int
    epochs: int
    seconds: float
    train_loss: float
    val_accuracy: float
    lambda_: float
    k_alpha: float
    k_derived: float
    genotype: Any

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lambda": self.lambda_}


@dataclass
class SearchResult:
    """The outcome of :meth:`DCANAS.fit`."""

    genotype: Any
    graph: ArchGraph
    cost: str
    target: float | None
    k_alpha: float
    k_derived: float
    lambda_: float
    seconds: float
    history: list[EpochReport] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    #: The hard limit the genotype was brought under, the operations that replaced (0: DARTS'
    #: derivation met it), and the cost of DARTS' own derivation (``k_derived`` before that).
    limit: float | None = None
    replaced: int = 0
    k_searched: float | None = None
    #: Epochs a checkpoint had already run when the search continued it (0: none).
    resumed_after: int = 0

    def to_dict(self, space: SearchSpace) -> dict[str, Any]:
        return {"genotype": space.to_data(self.genotype), "cost": self.cost,
                "target": self.target, "k_alpha": self.k_alpha, "k_derived": self.k_derived,
                "limit": self.limit, "replaced": self.replaced, "k_searched": self.k_searched,
                "resumed_after": self.resumed_after,
                "lambda": self.lambda_, "seconds": self.seconds, "config": self.config,
                "history": [{**r.to_dict(), "genotype": space.to_data(r.genotype)}
                            for r in self.history]}


Progress = Callable[[EpochReport], None]


class DCANAS:
    """The differentiable search of paper 004 (its own small interface, DESIGN.md: ``fit``).

    Args:
        space: a ``darts`` or ``nb201`` space on the dataset's input shape and classes: the
            network the derived genotype is decoded into.
        cost: what the constraint bounds, ``params``, ``macs`` or ``peak`` (peak activation
            bytes, ``fitnas.supernet.peak``).
        target: ``K_s``, the search-time bound on K(alpha) (``None``: no constraint).
        config: the supernet's build and training settings.
        limit: the device's hard limit ``K_d`` on the same cost (``None``: none): a derived
            genotype over it is brought under it (``fitnas.supernet.within``), and the result
            says how many operations that replaced.
        dtype: the bytes per element a ``peak`` is counted at (the run's dtype).
    """

    def __init__(self, space: SearchSpace, cost: str = "params", target: float | None = None,
                 config: SupernetConfig | None = None, limit: float | None = None,
                 dtype: str = "fp32") -> None:
        if cost not in EXPECTED_COSTS:
            raise SupernetError(f"DCA-NAS constrains {', '.join(EXPECTED_COSTS)}, got {cost!r}")
        self.space, self.cost, self.target, self.limit = space, cost, target, limit
        self.config = config or SupernetConfig()
        #: The rule lambda's ascent follows, ``auto`` resolved for this space.
        self.lambda_on = resolve_lambda_on(self.config.lambda_on, space)
        self.expected = expected_cost(space, cost, dtype)
        self.lagrangian = (Lagrangian(target, self.config.lambda_lr)
                           if target is not None else None)
        self.result: SearchResult | None = None
        #: Epochs a checkpoint had already run when :meth:`fit` continued it (0: none).
        self.resumed_after = 0

    def build(self) -> Supernet:
        """The supernet (checked to fit in memory before it is allocated)."""
        c = self.config
        check_fits(self.space, c.batch_size, weight_sharing=c.weight_sharing,
                   bottleneck=c.bottleneck, derived_cells=c.derived_cells)
        net = Supernet(self.space, seed=c.seed, weight_sharing=c.weight_sharing,
                       bottleneck=c.bottleneck, derived_cells=c.derived_cells)
        return net.to(c.device)

    def fit(self, dataset: Dataset, progress: Progress | None = None,
            checkpoint: str | Path | None = None) -> ArchGraph:
        """Search on ``dataset``'s training images; the derived network (``self.result`` holds
        the genotype, K, lambda and the epoch history).

        ``checkpoint``: a file the search's whole state is written to after every epoch
        (atomically); a search started with a checkpoint of the same search (space, dataset,
        cost, target, limit and settings) continues after its last epoch, to the same result
        as an uninterrupted one; a checkpoint of another search is ignored (started over)."""
        c = self.config
        threads = torch.get_num_threads()
        if c.threads is not None:
            torch.set_num_threads(c.threads)
        try:
            return self._fit(dataset, progress, None if checkpoint is None else Path(checkpoint))
        finally:
            torch.set_num_threads(threads)

    def _identity(self, dataset: Dataset) -> str:
        """What a checkpoint must have been written by to be continued."""
        config = {k: v for k, v in self.config.to_dict().items() if k not in ("threads",)}
        return json.dumps({"space": self.space.name, "space_config": self.space.get_config(),
                           "dataset": dataset.name, "images": len(dataset.train.x),
                           "cost": self.cost, "target": self.target, "limit": self.limit,
                           "config": config}, sort_keys=True, default=str)

    def _fit(self, dataset: Dataset, progress: Progress | None, checkpoint: Path | None
             ) -> ArchGraph:
        c = self.config
        torch.manual_seed(c.seed)
        net = self.build()
        weight_train, arch_train = _halves(dataset, c.seed)
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=c.lr, momentum=c.momentum,
                                weight_decay=c.weight_decay)
        a_opt = torch.optim.Adam(net.arch_parameters(), lr=c.arch_lr, betas=(0.5, 0.999),
                                 weight_decay=c.arch_weight_decay)
        steps = max(1, min(len(weight_train[0]), len(arch_train[0])) // c.batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, c.epochs * steps)
        loss_fn = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(c.seed)
        history: list[EpochReport] = []
        started = time.monotonic()
        parts: dict[str, Any] = {"net": net, "w_opt": w_opt, "a_opt": a_opt,
                                 "schedule": schedule}
        identity = self._identity(dataset) if checkpoint is not None else ""
        first = 1
        if checkpoint is not None:
            state = _load_checkpoint(checkpoint, identity)
            if state is not None:
                for name, part in parts.items():
                    part.load_state_dict(state[name])
                gen.set_state(state["generator"])
                torch.set_rng_state(state["torch_rng"])
                if self.lagrangian is not None:
                    self.lagrangian.value = float(state["lambda"])
                sampler = getattr(self.expected, "_generator", None)
                if sampler is not None and state.get("sampler") is not None:
                    sampler.set_state(state["sampler"])
                history = [EpochReport(**{**r, "genotype": self.space.validate(
                    self.space.from_data(r["genotype"]))}) for r in state["history"]]
                started -= float(state["seconds"])
                first = len(history) + 1
        self.resumed_after = first - 1
        for epoch in range(first, c.epochs + 1):
            t0, losses = time.monotonic(), []
            net.train()
            w_order = torch.randperm(len(weight_train[0]), generator=gen)
            a_order = torch.randperm(len(arch_train[0]), generator=gen)
            for s in range(steps):
                xa, ya = _batch(arch_train, a_order, s, c.batch_size, c.device)
                a_opt.zero_grad()
                loss = loss_fn(net(xa), ya)
                if self.lagrangian is not None:
                    k = self.expected(net.probabilities())
                    loss = loss + self.lagrangian.penalty(k).to(loss.dtype)
                loss.backward()
                a_opt.step()
                if self.lagrangian is not None:
                    self.lagrangian.ascend(self._constrained(net))
                xw, yw = _batch(weight_train, w_order, s, c.batch_size, c.device)
                w_opt.zero_grad()
                w_loss = loss_fn(net(xw), yw)
                w_loss.backward()
                nn.utils.clip_grad_norm_(net.weight_parameters(), c.grad_clip)
                w_opt.step()
                schedule.step()
                losses.append(float(w_loss.detach()))
            genotype = net.genotype()
            report = EpochReport(
                epoch=epoch, epochs=c.epochs, seconds=time.monotonic() - t0,
                train_loss=sum(losses) / len(losses),
                val_accuracy=_accuracy(net, arch_train, c.batch_size, c.device),
                lambda_=self.lagrangian.value if self.lagrangian is not None else 0.0,
                k_alpha=self._k(net), k_derived=self.expected.of_encoding(genotype),
                genotype=genotype)
            history.append(report)
            if checkpoint is not None:
                sampler = getattr(self.expected, "_generator", None)
                _save_checkpoint(checkpoint, {
                    "identity": identity, **{n: p.state_dict() for n, p in parts.items()},
                    "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                    "lambda": self.lagrangian.value if self.lagrangian is not None else 0.0,
                    "sampler": sampler.get_state() if sampler is not None else None,
                    "history": [{**asdict(r), "genotype": self.space.to_data(r.genotype)}
                                for r in history],
                    "seconds": time.monotonic() - started})
            if progress is not None:
                progress(report)
        last = history[-1]
        genotype, replaced = last.genotype, 0
        if self.limit is not None:
            with torch.no_grad():
                genotype, replaced = derive_within(self.expected, genotype, net.probabilities(),
                                                   self.limit)
        self.result = SearchResult(
            genotype=genotype, graph=self.space.decode(genotype), cost=self.cost,
            target=self.target, k_alpha=last.k_alpha,
            k_derived=self.expected.of_encoding(genotype), lambda_=last.lambda_,
            seconds=time.monotonic() - started, history=history,
            config={**c.to_dict(), "lambda_on": self.lambda_on},
            limit=self.limit, replaced=replaced, k_searched=last.k_derived,
            resumed_after=self.resumed_after)
        return self.result.graph

    def _constrained(self, net: Supernet) -> float:
        """The cost lambda's ascent compares with the target (``self.lambda_on``, ``auto``
        resolved)."""
        with torch.no_grad():
            if self.lambda_on == "derived":
                return self.expected.of_encoding(net.genotype())
            return float(self.expected(net.probabilities()))

    def _k(self, net: Supernet) -> float:
        with torch.no_grad():
            return float(self.expected(net.probabilities()))


def resolve_lambda_on(rule: str, space: SearchSpace) -> str:
    """``rule`` with ``auto`` made ``derived`` or ``expected`` for ``space`` (module docstring)."""
    if rule != "auto":
        return rule
    return "derived" if derives_none(space) else "expected"


Pair = tuple[Tensor, Tensor]


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, identity: str) -> dict[str, Any] | None:
    """The checkpoint's state if it was written by this search, else ``None``."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, weights_only=False)
    except Exception:  # a torn or foreign file: start over, it is rewritten after epoch 1
        return None
    if not isinstance(state, dict) or state.get("identity") != identity:
        return None
    return state


def _halves(dataset: Dataset, seed: int) -> tuple[Pair, Pair]:
    """DARTS' split of the training images: one half trains the weights, the other alpha."""
    x, y = dataset.train.x, dataset.train.y
    if len(x) < 2:
        raise SupernetError(f"a supernet search needs at least 2 training images, got {len(x)}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 1))
    half = len(x) // 2
    a, b = order[:half], order[half:]
    return (x[a], y[a]), (x[b], y[b])


def _batch(data: Pair, order: Tensor, step: int, size: int, device: str) -> Pair:
    n = len(order)
    idx = order[(torch.arange(size) + step * size) % n]
    return data[0][idx].to(device), data[1][idx].to(device)


def _accuracy(net: Supernet, data: Pair, batch: int, device: str, most: int = 1024) -> float:
    """The supernet's accuracy on (at most ``most`` of) the alpha half, in eval mode."""
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for start in range(0, min(len(data[0]), most), batch):
            x = data[0][start:start + batch].to(device)
            y = data[1][start:start + batch].to(device)
            correct += int((net(x).argmax(1) == y).sum())
            total += len(y)
    net.train()
    return correct / max(total, 1)
