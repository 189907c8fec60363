"""The weighted multi-task objective: task losses plus the switchable coupling terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from holistic.losses.coupling import (
    DM_FORMS,
    NEUTRAL_SCORES,
    co_annotate,
    co_annotation_loss,
    distribution_matching_loss,
    soft_co_annotation_loss,
)
from holistic.losses.tasks import ccc_loss, masked_bce, masked_cross_entropy

__all__ = ["Coupling", "LossWeights", "flatten_frames", "multitask_loss"]


@dataclass(frozen=True)
class LossWeights:
    """Weight of each term in the total; 0 switches a term off (it is then not computed).

    ``expr + au·λ1 + va·λ2`` is L_MT of Eq. 7 (the paper does not give λ1, λ2). The coupling
    terms: ``coann_au`` (emotion → AU co-annotation), ``coann_expr`` (AU → emotion),
    ``dm`` (distribution matching, Eq. 9), ``soft_coann`` (soft co-annotation).
    """

    expr: float = 1.0
    au: float = 1.0
    va: float = 1.0
    coann_au: float = 0.0
    coann_expr: float = 0.0
    dm: float = 0.0
    soft_coann: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"loss weight {name} must be a number >= 0, got {value!r}")

    @classmethod
    def from_dict(cls, weights: Mapping[str, float]) -> LossWeights:
        """Build from a config mapping, rejecting unknown names."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(weights) - known)
        if unknown:
            raise ValueError(f"unknown loss weight(s) {unknown}; known: {sorted(known)}")
        return cls(**weights)

    @property
    def uses_coupling(self) -> bool:
        return any((self.coann_au, self.coann_expr, self.dm, self.soft_coann))


@dataclass(frozen=True)
class Coupling:
    """Relatedness tensors and options for the coupling terms of :func:`multitask_loss`.

    The defaults are the paper as printed (``reference/relatedness.md`` §7); ``docs/losses.md``
    says where and why the demo config departs from them.

    Args:
        au_given_expr: [E, A] weighted P(AU | expression) (prototypical 1, observational w) in
            the run's expression and AU order.
        dm_reweighted: distribution matching with the weights (the footnote variant) instead of
            the binary table (the paper's main variant).
        dm_gradient: which head distribution matching trains (``"both"``, ``"au"``, ``"expr"``).
        dm_form: the distribution-matching term, ``"printed"`` (Eq. 9), ``"bernoulli"`` or
            ``"kl"`` (see :func:`~holistic.losses.coupling.distribution_matching_loss`).
        soft_reweighted: soft co-annotation with the weights (default) or all weights 1.
        soft_temperature: divides the soft co-annotation scores before their softmax (1: the
            paper; :func:`~holistic.losses.coupling.fit_soft_temperature` fits one).
        soft_neutral: neutral's soft co-annotation score, ``"zero"`` or ``"complement"``
            (``1 - max_e s(e)``).
        strict: an AU the source does not label blocks AU → emotion co-annotation and counts as
            absent in the soft co-annotation scores (the paper as written); False skips it (see
            ``co_annotate`` and ``soft_co_annotation_targets``).
        neutral_index: index of neutral in the expression vocabulary; it then takes part in the
            soft co-annotation softmax. None leaves it out.
    """

    au_given_expr: torch.Tensor
    dm_reweighted: bool = False
    dm_gradient: str = "both"
    dm_form: str = "printed"
    soft_reweighted: bool = True
    soft_temperature: float = 1.0
    soft_neutral: str = "zero"
    strict: bool = True
    neutral_index: int | None = None

    @classmethod
    def from_table(
        cls, table, expressions: Sequence[str], aus: Sequence[int], **options
    ) -> Coupling:
        """Build from a ``relatedness`` table for the run's vocabularies.

        ``neutral_index`` defaults to the position of ``"neutral"`` in ``expressions``.
        """
        options.setdefault(
            "neutral_index",
            list(expressions).index("neutral") if "neutral" in expressions else None,
        )
        return cls(table.au_given_expression(expressions, aus, weighted=True), **options)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("dm_gradient", self.dm_gradient, ("both", "au", "expr")),
            ("dm_form", self.dm_form, DM_FORMS),
            ("soft_neutral", self.soft_neutral, NEUTRAL_SCORES),
        ):
            if value not in allowed:
                raise ValueError(f"coupling {name} must be one of {list(allowed)}, got {value!r}")
        if not self.soft_temperature > 0:
            raise ValueError(f"soft_temperature must be > 0, got {self.soft_temperature!r}")

    def table(self, reweighted: bool, device: torch.device) -> torch.Tensor:
        """The weighted table, or its binary form (every non-zero entry 1), on ``device``."""
        table = self.au_given_expr.to(device)
        return table if reweighted else (table > 0).to(table.dtype)

    def soft_options(self) -> dict[str, Any]:
        """The options of ``soft_co_annotation_targets`` this coupling trains with."""
        return {
            "neutral_index": self.neutral_index,
            "temperature": self.soft_temperature,
            "neutral_score": self.soft_neutral,
            "skip_unlabelled": not self.strict,
        }


def flatten_frames(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Clip tensors ``[B, T, ...]`` as frame batches ``[B·T, ...]`` (outputs, labels, masks).

    A clip model's per-frame outputs and labels go through :func:`multitask_loss` as one batch
    of B·T frames: the CCC of a clip batch is computed over all its labelled frames, as the
    AffWildNet and CNN-RNN papers train it.
    """
    return {key: value.flatten(0, 1) for key, value in tensors.items()}


def multitask_loss(
    outputs: Mapping[str, torch.Tensor],
    labels: Mapping[str, torch.Tensor],
    weights: LossWeights | None = None,
    coupling: Coupling | None = None,
) -> dict[str, torch.Tensor]:
    """All switched-on terms of the FaceBehaviorNet objective and their weighted ``total``.

    Args:
        outputs: model outputs ``va`` [N, 2], ``expr`` [N, E] logits, ``au`` [N, A] logits, or
            any subset of them (a term is computed only for the heads present).
        labels: projected labels with masks, as ``holistic.schema.LabelSpace.project_batch``
            returns them (``va``, ``va_mask``, ``expr``, ``expr_mask``, ``au``, ``au_mask``).
        weights: term weights; default L_MT with every λ = 1 and no coupling.
        coupling: relatedness tensors; required when a coupling weight is non-zero.

    Returns:
        Every computed term under its stable name (unweighted) and ``total`` = Σ weight · term.
    """
    weights = weights or LossWeights()
    if weights.uses_coupling and coupling is None:
        raise ValueError("a coupling loss weight is non-zero but no Coupling was given")
    if weights.uses_coupling and not {"expr", "au"} <= set(outputs):
        raise ValueError(
            f"the coupling losses need expression and AU outputs; the model predicts "
            f"{sorted(outputs)}: set the coupling weights to 0"
        )
    if not outputs:
        raise ValueError("outputs: expected at least one of va, expr, au")
    device = next(iter(outputs.values())).device
    terms: dict[str, torch.Tensor] = {}
    # A task term needs its weight and the model's head: a VA-only model trains on VA alone.
    if weights.expr and "expr" in outputs:
        terms |= masked_cross_entropy(outputs["expr"], labels["expr"], labels["expr_mask"])
    if weights.au and "au" in outputs:
        terms |= masked_bce(outputs["au"], labels["au"], labels["au_mask"])
    if weights.va and "va" in outputs:
        terms |= ccc_loss(outputs["va"], labels["va"], labels["va_mask"])
    if weights.coann_au or weights.coann_expr:
        co = co_annotate(
            labels["expr"],
            labels["expr_mask"],
            labels["au"],
            labels["au_mask"],
            coupling.table(reweighted=True, device=device),
            strict=coupling.strict,
        )
        pair = co_annotation_loss(outputs["expr"], outputs["au"], co)
        terms |= {name: value for name, value in pair.items() if getattr(weights, name)}
    if weights.dm:
        terms |= distribution_matching_loss(
            outputs["expr"],
            outputs["au"],
            coupling.table(coupling.dm_reweighted, device),
            gradient=coupling.dm_gradient,
            form=coupling.dm_form,
        )
    if weights.soft_coann:
        terms |= soft_co_annotation_loss(
            outputs["expr"],
            labels["au"],
            labels["au_mask"],
            coupling.table(coupling.soft_reweighted, device),
            **coupling.soft_options(),
        )
    if not terms:
        if not any(asdict(weights).values()):
            raise ValueError("every loss weight is zero")
        raise ValueError(
            f"no loss term to compute: the non-zero weights name no head of {sorted(outputs)}"
        )
    terms["total"] = sum(getattr(weights, name) * value for name, value in terms.items())
    return terms
