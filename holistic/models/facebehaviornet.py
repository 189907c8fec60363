"""FaceBehaviorNet: one shared backbone predicting valence-arousal, expressions and action units.

Kollias & Zafeiriou's FaceBehaviorNet is a VGG-FACE network whose single output layer predicts
2 VA values, 7 basic-expression logits and 17 AU logits from the same feature space (MT-VGG). Here the
backbone is any timm model; the head is :class:`~holistic.models.heads.MultiTaskHead`; head sizes
follow the run's vocabularies (``holistic.schema``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from holistic.schema import resolve_aus, resolve_compounds, resolve_expressions

from ._registry import register_model
from .backbones import BackboneInput, build_timm_backbone
from .heads import MultiTaskHead, VAOutput
from .spec import InputSpec, model_tasks

__all__ = ["FaceBehaviorNet", "build_facebehaviornet"]


class FaceBehaviorNet(nn.Module):
    """A backbone with pooled features and an MT-VGG multi-task head.

    Inputs are face images in [-1, 1], ``[B, 3, H, W]`` (any ``H, W >= 32``). When ``mean``/``std``
    are given (the backbone's normalisation in [0, 1] units, e.g. ImageNet's), inputs are mapped to
    it first, so pretrained backbones see what they were trained on.

    Args:
        backbone: A module mapping images to pooled features ``[B, num_features]``.
        num_features: The backbone's feature size.
        expressions: Expression vocabulary: a name from ``schema.EXPRESSION_VOCABULARIES`` or names.
        aus: AU vocabulary: a name from ``schema.AU_VOCABULARIES`` or FACS numbers.
        hidden: Widths of the head's shared fully connected layers.
        dropout: Dropout in the head.
        mean: Per-channel mean the backbone expects for [0, 1] images, or None (use [-1, 1] as is).
        std: Per-channel std matching ``mean``.
        compounds: Compound-expression vocabulary of an extra ``"compound"`` output (a name from
            ``schema.COMPOUND_VOCABULARIES`` or names), or None/empty for none (the paper's
            FaceBehaviorNet; fine-tuning to compound classes adds it with :meth:`reset_heads`).
        image_size: side of the face crops the model is trained on (its :class:`InputSpec`);
            the network itself takes any size from 32.
        va_output: ``"tanh"`` (valence and arousal in [-1, 1], the labels' range) or
            ``"linear"`` (unbounded, the paper's output layer); see :class:`MultiTaskHead`.

    Attributes:
        input_spec: what the model eats (:class:`~holistic.models.spec.InputSpec`, images).
        expressions: The resolved expression vocabulary (head order of ``"expr"``).
        aus: The resolved AU vocabulary (head order of ``"au"``).
        compounds: The resolved compound vocabulary (head order of ``"compound"``; may be empty).
        va_output: The head's VA output (settable; ``save_model`` records it).
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_features: int,
        expressions: str | Iterable[str] = "basic7",
        aus: str | Iterable[int | str] = "fbn17",
        hidden: Sequence[int] = (256,),
        dropout: float = 0.5,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        compounds: str | Iterable[str] | None = None,
        image_size: int = 112,
        va_output: VAOutput = "tanh",
    ) -> None:
        super().__init__()
        self.input_spec = InputSpec(kind="image", image_size=image_size)
        self.expressions = resolve_expressions(expressions)
        self.aus = resolve_aus(aus)
        self.compounds = _resolve_optional_compounds(compounds)
        self.backbone = backbone
        self.num_features = int(num_features)
        self.head = MultiTaskHead(
            self.num_features,
            len(self.expressions),
            len(self.aus),
            hidden,
            dropout,
            num_compound=len(self.compounds),
            va_output=va_output,
        )
        self.input_norm = BackboneInput(mean, std)

    @property
    def va_output(self) -> VAOutput:
        """How the head reads valence and arousal: ``"tanh"`` or ``"linear"``."""
        return self.head.va_output

    @va_output.setter
    def va_output(self, value: VAOutput) -> None:
        self.head.va_output = value

    @property
    def tasks(self) -> dict[str, tuple]:
        """What the model predicts: VA, its expressions and AUs (and compounds when it has them)."""
        return model_tasks(expressions=self.expressions, aus=self.aus, compounds=self.compounds)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] ``[B, 3, H, W]`` to pooled backbone features ``[B, num_features]``."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got shape {tuple(x.shape)}")
        return self.backbone(self.input_norm(x))

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features to ``{"va": [B, 2], "expr": [B, E], "au": [B, A]}`` (VA in [-1, 1] with
        ``va_output="tanh"``, unbounded with ``"linear"``; expression and AU logits), plus
        ``"compound": [B, C]`` logits when the model has a compound vocabulary."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images in [-1, 1] to the task dict of :meth:`forward_heads`."""
        return self.forward_heads(self.forward_features(x))

    def reset_heads(
        self,
        expressions: str | Iterable[str] | None = None,
        aus: str | Iterable[int | str] | None = None,
        compounds: str | Iterable[str] | None = None,
    ) -> None:
        """Re-size the head for new label spaces (fine-tuning); ``None`` keeps a vocabulary.

        The backbone and the shared fully connected layers are kept. In the output layer (a new
        one, on the same device and dtype), the outputs of every vocabulary given are freshly
        initialised, also when the sizes are equal, since the classes mean something else; the
        outputs of the vocabularies not given (and VA) keep their trained weights. An empty
        ``compounds`` removes the compound output.
        """
        keep = ["va"]
        if expressions is not None:
            self.expressions = resolve_expressions(expressions)
        else:
            keep.append("expr")
        if aus is not None:
            self.aus = resolve_aus(aus)
        else:
            keep.append("au")
        if compounds is not None:
            self.compounds = _resolve_optional_compounds(compounds)
        else:
            keep.append("compound")
        self.head.reset(len(self.expressions), len(self.aus), len(self.compounds), keep=keep)


def _resolve_optional_compounds(compounds: str | Iterable[str] | None) -> tuple[str, ...]:
    if compounds is None or (not isinstance(compounds, str) and not list(compounds)):
        return ()
    return resolve_compounds(compounds)


def build_facebehaviornet(
    backbone: str = "resnet18",
    *,
    expressions: str | Iterable[str] = "basic7",
    aus: str | Iterable[int | str] = "fbn17",
    compounds: str | Iterable[str] | None = None,
    hidden: Sequence[int] = (256,),
    dropout: float = 0.5,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    image_size: int = 112,
    va_output: VAOutput = "tanh",
    **backbone_kwargs: Any,
) -> FaceBehaviorNet:
    """Build FaceBehaviorNet on a timm backbone.

    Args:
        backbone: A timm architecture name.
        expressions: Expression vocabulary (name or list).
        aus: AU vocabulary (name or list).
        compounds: Compound vocabulary of an extra compound output (name or list), or None.
        hidden: Widths of the head's shared fully connected layers.
        dropout: Dropout in the head.
        pretrained: timm pretrained weights from the local cache (never used by tests or the demo).
        checkpoint_path: A local backbone weights file (.safetensors / .pth / .pt).
        image_size: Side of the training face crops (recorded in the model's input spec).
        va_output: ``"tanh"`` (VA in [-1, 1]) or ``"linear"`` (unbounded, the paper's).
        **backbone_kwargs: Passed to ``timm.create_model`` (``drop_path_rate``...).
    """
    net, num_features = build_timm_backbone(
        backbone, pretrained=pretrained, checkpoint_path=checkpoint_path, **backbone_kwargs
    )
    cfg = getattr(net, "pretrained_cfg", None) or {}
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean is None or std is None or len(mean) != 3 or len(std) != 3:
        mean = std = None
    return FaceBehaviorNet(
        net,
        num_features,
        expressions=expressions,
        aus=aus,
        hidden=tuple(hidden),
        dropout=dropout,
        mean=mean,
        std=std,
        compounds=compounds,
        image_size=image_size,
        va_output=va_output,
    )


@register_model
def facebehaviornet_resnet18(**kwargs: Any) -> FaceBehaviorNet:
    """FaceBehaviorNet on ResNet-18 (512 features, 256-unit shared layer); the demo's model."""
    return build_facebehaviornet(**{"backbone": "resnet18", "hidden": (256,), **kwargs})


@register_model
def facebehaviornet_efficientnet_b0(**kwargs: Any) -> FaceBehaviorNet:
    """FaceBehaviorNet on EfficientNet-B0 (1280 features, 256-unit shared layer)."""
    return build_facebehaviornet(**{"backbone": "efficientnet_b0", "hidden": (256,), **kwargs})


@register_model
def facebehaviornet_vgg16(**kwargs: Any) -> FaceBehaviorNet:
    """The paper-like FaceBehaviorNet: VGG-16 conv layers + fc6/fc7 (4096, 4096), one output layer.

    timm's VGG keeps fc6/fc7 as its pre-logits, so the head adds no shared layer (``hidden=()``) and
    the backbone's dropout between fc6 and fc7 is set to the head's (0.5, as in the paper).
    """
    dropout = kwargs.get("dropout", 0.5)
    return build_facebehaviornet(
        **{"backbone": "vgg16", "hidden": (), "drop_rate": dropout, **kwargs}
    )


@register_model
def test_facebehaviornet(**kwargs: Any) -> FaceBehaviorNet:
    """A tiny FaceBehaviorNet (timm's ``test_resnet``, 96 features, 32-unit layer) for CPU tests."""
    return build_facebehaviornet(**{"backbone": "test_resnet", "hidden": (32,), **kwargs})
