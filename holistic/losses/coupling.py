"""Coupling losses: tie the expression and AU heads together through a relatedness tensor.

Every function takes ``au_given_expr``: a [E, A] tensor of P(AU | expression) for the run's
expression vocabulary (rows) and AU vocabulary (columns), as built by
``relatedness.load_table(...).au_given_expression(expressions, aus, weighted=...)``. Rows of
expressions without AUs (neutral, contempt, other) are all zero. Formulas and worked examples:
``reference/relatedness.md`` §7; the decisions taken where the paper is silent are listed in
``docs/losses.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from holistic.losses._common import masked_mean
from holistic.losses.tasks import masked_bce, masked_cross_entropy, soft_cross_entropy

__all__ = [
    "DM_FORMS",
    "NEUTRAL_SCORES",
    "CoAnnotation",
    "co_annotate",
    "co_annotation_loss",
    "distribution_matching_loss",
    "distribution_matching_target",
    "fit_soft_temperature",
    "soft_co_annotation_loss",
    "soft_co_annotation_targets",
]


class CoAnnotation(NamedTuple):
    """Labels derived by co-annotation, only where the sample lacks a real label.

    ``au``/``au_mask``/``au_weight`` [N, A]: AU targets derived from the expression label
    (emotion → AUs; target 1, weight = the table entry). ``expr``/``expr_mask`` [N]: expression
    derived from the AU labels (AUs → emotion).
    """

    au: torch.Tensor
    au_mask: torch.Tensor
    au_weight: torch.Tensor
    expr: torch.Tensor
    expr_mask: torch.Tensor


@torch.no_grad()
def co_annotate(
    expr: torch.Tensor,
    expr_mask: torch.Tensor,
    au: torch.Tensor,
    au_mask: torch.Tensor,
    au_given_expr: torch.Tensor,
    *,
    strict: bool = True,
) -> CoAnnotation:
    """Derive hard labels across tasks (FaceBehaviorNet paper, §VI-B "co-annotation").

    Emotion → AUs: a sample labelled with emotion e gets target 1 for each AU with a non-zero entry
    in e's row, weighted by that entry (prototypical 1, observational w). Every other AU stays
    unlabelled (the co-annotated vector "only contains prototypical/observational AUs"). Neutral
    (an all-zero row) derives nothing. AUs the source labels itself keep their real label.

    AUs → emotion: a sample with AU labels but no expression label gets emotion e when all AUs
    with a non-zero entry in e's row are active. With ``strict=True`` (the paper as written) every
    one of them must be labelled and active; with ``strict=False`` unlabelled AUs are skipped, but
    at least one of e's AUs must be labelled and none labelled inactive. When several emotions
    qualify, the one with the most required AUs seen active wins, then the one requiring the most
    AUs (the paper's rule; under ``strict`` the two agree), then the larger summed weight, then
    the first in vocabulary order.

    Args:
        expr: [N] expression indices; expr_mask: [N] bool.
        au: [N, A] 0/1 AU labels; au_mask: [N, A] bool.
        au_given_expr: [E, A] P(AU | expression), weighted (prototypical 1, observational w).
        strict: whether an unlabelled required AU blocks AU → emotion co-annotation.
    """
    expr_mask, au_mask = expr_mask.to(torch.bool), au_mask.to(torch.bool)
    table = au_given_expr.to(au.dtype if au.is_floating_point() else torch.float32)
    required = (table > 0).to(table.dtype)  # [E, A]

    rows = table[expr.to(torch.long).clamp(0, table.shape[0] - 1)]  # [N, A]
    derive_au = expr_mask[:, None] & (rows > 0) & ~au_mask
    derived_au = derive_au.to(table.dtype)
    au_weight = torch.where(derive_au, rows, torch.zeros_like(rows))

    active = ((au > 0.5) & au_mask).to(table.dtype)
    labelled_inactive = ((au <= 0.5) & au_mask).to(table.dtype)
    count = required.sum(1)  # [E]
    if strict:
        qualifies = (active @ required.T == count) & (count > 0)
    else:
        labelled = au_mask.to(table.dtype) @ required.T
        qualifies = (labelled_inactive @ required.T == 0) & (labelled > 0) & (count > 0)
    # Priority: most required AUs seen active (under the lenient rule some may be unlabelled),
    # then most required AUs, then the larger weight sum, then vocabulary order (argmax: first).
    matched = (active @ required.T).to(torch.float64)
    priority = matched * 1e6 + (count * 1e3 + table.sum(1)).to(torch.float64)
    score = torch.where(qualifies, priority, torch.full_like(priority, -1.0))
    derived_expr = score.argmax(1)
    derive_expr = qualifies.any(1) & ~expr_mask
    return CoAnnotation(derived_au, derive_au, au_weight, derived_expr, derive_expr)


def co_annotation_loss(
    expr_logits: torch.Tensor, au_logits: torch.Tensor, co: CoAnnotation
) -> dict[str, torch.Tensor]:
    """Train each head on the labels the other task's annotation implies.

    Returns ``coann_au`` (masked BCE on the emotion → AU labels, observational AUs re-weighted by
    their weight) and ``coann_expr`` (cross-entropy on the AU → emotion labels).
    """
    return {
        **masked_bce(au_logits, co.au, co.au_mask, weight=co.au_weight, name="coann_au"),
        **masked_cross_entropy(expr_logits, co.expr, co.expr_mask, name="coann_expr"),
    }


def distribution_matching_target(
    expr_probs: torch.Tensor, au_given_expr: torch.Tensor
) -> torch.Tensor:
    """Eq. 8: q(AU_i | x) = Σ_e p(e | x) P(AU_i | e), [N, E] @ [E, A] -> [N, A]."""
    return expr_probs @ au_given_expr.to(expr_probs.dtype)


#: The forms of the distribution-matching term (see :func:`distribution_matching_loss`).
DM_FORMS = ("printed", "bernoulli", "kl")


def distribution_matching_loss(
    expr_logits: torch.Tensor,
    au_logits: torch.Tensor,
    au_given_expr: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    eps: float = 1e-6,
    gradient: str = "both",
    form: str = "printed",
) -> dict[str, torch.Tensor]:
    """Eq. 9: match the AU head to the AU distribution the expression head implies.

    With q from Eq. 8 clamped to [eps, 1 - eps] and p = p(AU_i | x), per AU:

    - ``"printed"``: ``-p log q``, Eq. 9 as printed (the positive term only). As a loss on p its
      minimum is p = 0 wherever q < 1, so trained into the AU head it silences every AU the
      expression head does not fully imply.
    - ``"bernoulli"``: ``-p log q - (1 - p) log(1 - q)``, the cross-entropy of the Bernoulli
      distributions (p, 1 - p) and (q, 1 - q). On p its minimum is p = 1 where q > 1/2 and p = 0
      where q < 1/2.
    - ``"kl"``: ``KL(Bern(p) ‖ Bern(q)) = p log(p/q) + (1 - p) log((1 - p)/(1 - q))``, the
      Bernoulli cross-entropy less the entropy of p: the divergence the paper says Eq. 9 amounts
      to ("can be seen as minimizing KL(p‖q)"). Its minimum on either head is p = q, and its
      gradient on the expression head is the Bernoulli cross-entropy's.

    The sum runs over the AUs that appear in at least one row of ``au_given_expr``: an AU the
    table never relates to an emotion (AU14 under the dataset-union vocabulary) has q ≡ 0 and
    would otherwise be pushed to zero on every image. The mean runs over ``mask`` (default:
    every sample, as the paper does).

    Args:
        expr_logits: [N, E]; au_logits: [N, A].
        au_given_expr: [E, A]; binary for the paper's main variant, weighted for the footnote's
            re-weighted variant.
        mask: [N] samples to include (default: all).
        eps: clamp for q (and p inside logarithms); with p = 0.1 and q = 0 the printed term is
            0.1 · -log(eps).
        gradient: which head L_DM trains: ``"both"``, ``"au"`` (expression probabilities
            detached) or ``"expr"`` (AU probabilities detached).
        form: ``"printed"``, ``"bernoulli"`` or ``"kl"`` (above).
    """
    if gradient not in ("both", "au", "expr"):
        raise ValueError(f"gradient must be 'both', 'au' or 'expr', got {gradient!r}")
    if form not in DM_FORMS:
        raise ValueError(f"form must be one of {DM_FORMS}, got {form!r}")
    expr_probs = F.softmax(expr_logits, dim=-1)
    au_probs = torch.sigmoid(au_logits)
    if gradient == "au":
        expr_probs = expr_probs.detach()
    elif gradient == "expr":
        au_probs = au_probs.detach()
    related = (au_given_expr > 0).any(0).to(au_probs.dtype)  # [A]
    q = distribution_matching_target(expr_probs, au_given_expr).clamp(eps, 1.0 - eps)
    per_entry = -au_probs * torch.log(q)
    if form != "printed":
        per_entry = per_entry - (1.0 - au_probs) * torch.log1p(-q)
    if form == "kl":  # less the entropy of p (0 · log 0 = 0)
        p = au_probs.clamp(eps, 1.0 - eps)
        per_entry = per_entry + au_probs * torch.log(p) + (1.0 - au_probs) * torch.log1p(-p)
    return {"dm": masked_mean((per_entry * related).sum(-1), mask)}


#: How neutral is scored in soft co-annotation (see :func:`soft_co_annotation_targets`).
NEUTRAL_SCORES = ("zero", "complement")


def soft_co_annotation_targets(
    au: torch.Tensor,
    au_mask: torch.Tensor,
    au_given_expr: torch.Tensor,
    *,
    neutral_index: int | None = None,
    temperature: float = 1.0,
    neutral_score: str = "zero",
    skip_unlabelled: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft expression targets from AU labels (relatedness.md §7.4).

    ``s(e) = Σ_a w_ea y_a / Σ_a w_ea`` over e's AUs in the vocabulary, then a softmax of
    ``s / temperature`` over the emotions with AUs, and neutral when ``neutral_index`` is given.
    Pass the binary table for the "no re-weighting" variant, the weighted one for re-weighting.

    Args:
        neutral_index: neutral's index in the expression vocabulary (its row must be all zero);
            None leaves neutral out of the softmax (its target is 0).
        temperature: divides the scores before the softmax. 1 is the paper's softmax, which
            keeps the targets nearly flat (scores lie in [0, 1]: one emotion is favoured by at
            most e ≈ 2.7 times); :func:`fit_soft_temperature` fits one to data.
        neutral_score: ``"zero"``: neutral scores 0 (so a face without AUs gets a uniform
            target whatever the temperature); ``"complement"``: neutral scores
            ``1 - max_e s(e)``, the evidence that no emotion's AUs are present (1 for a face
            without any related AU, 0 when some emotion's AUs are all present).
        skip_unlabelled: False (the paper's formula): an AU the source does not label counts
            as absent. True: s(e) is normalised over e's AUs that the source labels, and an
            emotion none of whose AUs are labelled scores 0.

    Returns:
        targets [N, E] (zero for emotions outside the softmax) and valid [N] (samples with at
        least one labelled AU).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if neutral_score not in NEUTRAL_SCORES:
        raise ValueError(f"neutral_score must be one of {NEUTRAL_SCORES}, got {neutral_score!r}")
    table = au_given_expr.to(torch.float32)
    labelled = au_mask.to(torch.bool)
    present = ((au > 0.5) & labelled).to(table.dtype)
    norm = table.sum(1)  # [E]
    takes_part = norm > 0
    if neutral_index is not None:
        if norm[neutral_index] > 0:
            raise ValueError(f"row {neutral_index} (neutral) has AUs; neutral must be all zero")
        takes_part[neutral_index] = True
    if not bool(takes_part.any()):
        raise ValueError("au_given_expr has no emotion with AUs and no neutral_index was given")
    per_sample_norm = labelled.to(table.dtype) @ table.T if skip_unlabelled else norm[None]
    scores = (present @ table.T) / per_sample_norm.clamp_min(1e-12)  # [N, E]; 0 where norm is 0
    if neutral_index is not None and neutral_score == "complement":
        emotions = (norm > 0)[None]
        strongest = torch.where(emotions, scores, torch.zeros_like(scores)).amax(-1)
        scores[:, neutral_index] = 1.0 - strongest
    logits = torch.where(takes_part, scores / temperature, torch.full_like(scores, float("-inf")))
    targets = torch.softmax(logits, dim=-1)
    valid = labelled.any(-1)
    return targets, valid


def soft_co_annotation_loss(
    expr_logits: torch.Tensor,
    au: torch.Tensor,
    au_mask: torch.Tensor,
    au_given_expr: torch.Tensor,
    **options,
) -> dict[str, torch.Tensor]:
    """``L_soft``: cross-entropy of the expression head against soft co-annotation targets.

    Averaged over the samples with AU labels. ``options``: those of
    :func:`soft_co_annotation_targets` (``neutral_index``, ``temperature``, ``neutral_score``,
    ``skip_unlabelled``).
    """
    targets, valid = soft_co_annotation_targets(au, au_mask, au_given_expr, **options)
    return soft_cross_entropy(expr_logits, targets.to(expr_logits.dtype), valid, name="soft_coann")


@torch.no_grad()
def fit_soft_temperature(
    expr: torch.Tensor,
    au: torch.Tensor,
    au_mask: torch.Tensor,
    au_given_expr: torch.Tensor,
    *,
    grid: torch.Tensor | None = None,
    **options,
) -> float:
    """The soft co-annotation temperature that best predicts real expression labels.

    Temperature scaling (Guo et al., ICML 2017) of the soft targets: on samples labelled for
    both tasks (``expr`` [N] indices, ``au``/``au_mask`` [N, A]), the temperature of ``grid``
    (default: 241 values log-spaced over [0.01, 10]) whose targets give the real expression the
    lowest mean cross-entropy. ``options``: the other options of
    :func:`soft_co_annotation_targets`, as training will use them.

    Raises:
        ValueError: no sample has an AU label.
    """
    grid = torch.logspace(-2, 1, 241) if grid is None else grid
    valid = au_mask.to(torch.bool).any(-1)
    if not bool(valid.any()):
        raise ValueError("fit_soft_temperature: no sample has an AU label")
    rows = torch.arange(int(valid.sum()))
    truth = expr.to(torch.long)[valid]
    loss_at = {}
    for temperature in grid.tolist():
        targets, _ = soft_co_annotation_targets(
            au[valid], au_mask[valid], au_given_expr, temperature=temperature, **options
        )
        loss_at[temperature] = -torch.log(targets[rows, truth].clamp_min(1e-12)).mean().item()
    return min(loss_at, key=loss_at.get)
