"""Backbones from timm (DESIGN.md decision 7: we never vendor backbone code).

timm is imported inside the functions that need it: ``import holistic.models`` stays free of timm
(it takes seconds to import).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "BackboneInput",
    "build_timm_backbone",
    "load_state_dict_file",
    "load_backbone_weights",
]

# Keys under which training scripts (timm's train.py, Lightning, our recipes) nest a state dict.
_NESTED_KEYS = ("state_dict", "model", "module")
# Prefixes that wrappers (DataParallel/DDP, torch.compile) add to every key.
_PREFIXES = ("module.", "_orig_mod.")


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or ``.pth``/``.pt``/``.bin`` without executing code.

    ``.pth`` files go through ``torch.load(weights_only=True)``, which refuses pickled code. A
    training checkpoint that nests the weights under ``state_dict``/``model``/``module`` is
    unwrapped, and ``module.`` / ``_orig_mod.`` key prefixes are stripped.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the suffix is not one of the above or the file holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path), device="cpu")
    elif suffix in (".pth", ".pt", ".bin"):
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        raise ValueError(
            f"backbone weights {str(path)!r}: expected a .safetensors, .pth, .pt or .bin file"
        )
    for key in _NESTED_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise ValueError(f"backbone weights {str(path)!r}: no state dict of tensors found")
    cleaned = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        cleaned[key] = value
    return cleaned


def load_backbone_weights(model: nn.Module, path: str | Path) -> None:
    """Load a local weights file into a timm ``model`` built with ``num_classes=0``, strictly.

    Classifier weights in the file (a full ImageNet checkpoint, say) are dropped: the backbone has no
    classifier. Any other missing or unexpected key is an error.

    Raises:
        ValueError: If the file's keys or shapes do not match the model.
    """
    state = load_state_dict_file(path)
    own = model.state_dict()
    classifier = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    state = {
        key: value
        for key, value in state.items()
        if key in own or not any(key.startswith(f"{name}.") for name in classifiers)
    }
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            f"backbone weights {str(path)!r} do not fit {type(model).__name__}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
            f"wrong shape {wrong[:5]}{'...' if len(wrong) > 5 else ''}"
        )
    model.load_state_dict(state, strict=True)


def build_timm_backbone(
    name: str,
    pretrained: bool = False,
    checkpoint_path: str | Path | None = None,
    **timm_kwargs: Any,
) -> tuple[nn.Module, int]:
    """A timm model without classifier (``num_classes=0``) returning pooled features ``[B, F]``.

    Args:
        name: A timm architecture (``"resnet18"``, ``"efficientnet_b0"``, ``"test_resnet"``...).
        pretrained: Load timm's pretrained weights. timm takes them from its local cache (or the
            Hugging Face Hub when the machine is online); tests and the demo never set this.
        checkpoint_path: A local weights file (``.safetensors``, or ``.pth``/``.pt`` read with
            ``weights_only=True``). When given, it is the weights and ``pretrained`` fetches nothing.
        **timm_kwargs: Passed to ``timm.create_model`` (``drop_rate``, ``drop_path_rate``...).

    Returns:
        The model and ``F``, its pooled feature size (``head_hidden_size`` where timm's pre-logits
        change it, e.g. VGG's 4096-unit fc6/fc7, else ``num_features``).

    Raises:
        ValueError: If ``name`` is not a timm architecture, or the weights file does not fit.
    """
    import timm

    if not timm.is_model(name):
        raise ValueError(f"{name!r} is not a timm model (timm.list_models() lists them)")
    if "num_classes" in timm_kwargs:
        raise ValueError("build_timm_backbone sets num_classes=0 itself (pooled features)")
    use_timm_weights = pretrained and checkpoint_path is None
    model = timm.create_model(name, pretrained=use_timm_weights, num_classes=0, **timm_kwargs)
    if checkpoint_path is not None:
        load_backbone_weights(model, checkpoint_path)
    num_features = getattr(model, "head_hidden_size", None) or model.num_features
    return model, int(num_features)


class BackboneInput(nn.Module):
    """Maps images in [-1, 1] (what every loader yields) to a backbone's own input statistics.

    Args:
        mean: Per-channel mean the backbone expects for [0, 1] images (e.g. ImageNet's), or None
            to pass [-1, 1] through as is.
        std: Per-channel std matching ``mean``.

    The statistics are non-persistent buffers: derived from the backbone's architecture, rebuilt
    by the builder, never saved.

    Raises:
        ValueError: only one of ``mean`` and ``std``.
    """

    def __init__(self, mean=None, std=None) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.enabled = mean is not None
        mean_t = torch.tensor(mean if mean is not None else (0.5, 0.5, 0.5)).view(1, 3, 1, 1)
        std_t = torch.tensor(std if std is not None else (0.5, 0.5, 0.5)).view(1, 3, 1, 1)
        self.register_buffer("mean", mean_t, persistent=False)
        self.register_buffer("std", std_t, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in [-1, 1] to the backbone's statistics."""
        return ((x + 1) / 2 - self.mean) / self.std if self.enabled else x
