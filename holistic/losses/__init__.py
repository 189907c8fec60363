"""Losses. Each returns a dict of named terms and takes masks (DESIGN.md decision 4)."""

from holistic.losses.adversarial import (
    ADVERSARIAL_KINDS,
    critic_loss,
    discriminator_adv_loss,
    generator_adv_loss,
    gradient_penalty,
    quadrant_loss,
    reconstruction_loss,
    va_quadrant,
)
from holistic.losses.affect import AFFECT_TERMS, VABinWeights, affect_loss
from holistic.losses.coupling import (
    DM_FORMS,
    NEUTRAL_SCORES,
    CoAnnotation,
    co_annotate,
    co_annotation_loss,
    distribution_matching_loss,
    distribution_matching_target,
    fit_soft_temperature,
    soft_co_annotation_loss,
    soft_co_annotation_targets,
)
from holistic.losses.multitask import Coupling, LossWeights, flatten_frames, multitask_loss
from holistic.losses.tasks import (
    batch_ccc,
    ccc_loss,
    masked_bce,
    masked_cross_entropy,
    soft_cross_entropy,
)

__all__ = [
    "ADVERSARIAL_KINDS",
    "AFFECT_TERMS",
    "DM_FORMS",
    "NEUTRAL_SCORES",
    "CoAnnotation",
    "Coupling",
    "LossWeights",
    "VABinWeights",
    "affect_loss",
    "batch_ccc",
    "ccc_loss",
    "co_annotate",
    "co_annotation_loss",
    "critic_loss",
    "discriminator_adv_loss",
    "distribution_matching_loss",
    "distribution_matching_target",
    "fit_soft_temperature",
    "flatten_frames",
    "generator_adv_loss",
    "gradient_penalty",
    "masked_bce",
    "masked_cross_entropy",
    "multitask_loss",
    "quadrant_loss",
    "reconstruction_loss",
    "soft_co_annotation_loss",
    "soft_co_annotation_targets",
    "soft_cross_entropy",
    "va_quadrant",
]
