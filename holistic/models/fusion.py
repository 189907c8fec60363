"""The gated multimodal unit (GMU) of AVi-GaS (AViGaS paper, TAFFC 2022; Arevalo et al.'s GMU).

The paper fuses the visual and audio latents ``ZQ^I`` and ``ZQ^S`` (``reference/latent_models.md``
§5.3; the equation numbers follow that section's "Eqs. 4-8" list, concatenation being Eq. 4;
the paper's ``W_v ⊙ (ZQ^I)^T`` is read as a linear map, as in Arevalo et al.)::

    ZG       = sigmoid(W_ZG [ZQ^I; ZQ^S])              (Eq. 5, the gate)
    h_v      = tanh(W_v ZQ^I)                          (Eq. 6)
    h_s      = tanh(W_s ZQ^S)                          (Eq. 7)
    ZQ^GATE  = ZG * h_v + (1 - ZG) * h_s               (Eq. 8)

**M modalities.** The paper has two; for ``M >= 2`` the gate is a softmax over modalities, per
output unit, whose last modality's logit is fixed at 0 (the reference category of a multinomial
logit)::

    a      = W_z [x_1; ...; x_M]                       ((M - 1) logits per gated unit)
    g_i    = exp(a_i) / (1 + sum_{j<M} exp(a_j))       (i < M),  g_M = 1 / (1 + sum_j exp(a_j))
    h_i    = tanh(W_i x_i)
    h      = sum_i g_i * h_i

For ``M = 2`` this is exactly Eqs. 5-8: ``g_1 = sigmoid(a_1) = ZG``, ``g_2 = 1 - ZG``, one gate
matrix ``W_z = W_ZG`` and no extra parameters. The gates sum to 1 over modalities, which is what
the paper's gate analysis reads (``ZG < T`` or ``ZG > 1 - T``: one modality decides) and what
makes a missing modality a renormalisation (below). One independent sigmoid per modality would
not sum to 1 and, for two modalities, would need two gates where the paper has one.

**Gate shape** (``reference/latent_models.md`` §8, decision 14): one gate per output unit
(``per_unit_gate=True``, Arevalo et al.'s vector gate) or one per sample (and time step) shared by
all units (``False``: ZG "one value per time step", as the paper's analysis treats it).

**Missing modalities.** ``present[i]`` (bool, ``[B]`` or ``[B, T]``, any prefix of the leading
shape) marks where modality ``i`` exists. An absent modality gets gate exactly 0 and the present
ones share 1 in the proportions their logits give (with one present modality: gate 1, so the
output is that modality's ``h_i``). Absent inputs are replaced by zeros inside the layer before
both the projections and the gate, so whatever fills them (zeros, garbage, NaN) does not matter.
This lets a batch mix clips with and without audio. Where every modality is absent the gates and
the output are zeros (finite values and gradients, no NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["GMUOutput", "GatedMultimodalUnit"]


class GMUOutput(NamedTuple):
    """What :class:`GatedMultimodalUnit` returns.

    Attributes:
        fused: ``[..., out_features]``, the gated sum ``h`` (Eq. 8); each unit in ``[-1, 1]``.
        gates: ``[..., M, G]`` with ``G = out_features`` (per-unit gate) or 1 (one gate shared by
            all units): ``gates[..., i, :]`` is modality ``i``'s weight, in ``[0, 1]``, summing to
            1 over ``i`` (to 0 where every modality is absent). For two modalities,
            ``gates[..., 0, :]`` is the paper's ``ZG``.
    """

    fused: torch.Tensor
    gates: torch.Tensor


class GatedMultimodalUnit(nn.Module):
    """Fuse ``M >= 2`` modality features with a learned per-unit gate (module docstring).

    Parameters: one ``Linear(D_i, out_features)`` projection per modality (``W_i``, Eqs. 6-7) and
    one ``Linear(sum D_i, (M - 1) G)`` gate (``W_z``, Eq. 5): ``sum_i D_i out_features +
    (sum_i D_i)(M - 1) G`` weights, plus ``M out_features`` projection biases and ``(M - 1) G``
    gate biases when enabled.

    **Biases.** The paper prints none. The projections have none by default: with a bias, a branch
    fed with uninformative input can become a learned constant, and the gate then acts as a
    classifier on the other inputs that switches between that constant and the informative
    branch, so a gate value stops meaning "how much this modality is relied on". The gate has a
    bias by default, a learned prior over modalities (without it the gate of centred inputs
    averages 0.5); ``gate_bias=False`` gives the literal Eq. 5.

    Args:
        in_features: Feature sizes ``D_i``, one per modality, in the order of ``forward``'s
            inputs.
        out_features: Size of the fused features and of each projection ``h_i``.
        per_unit_gate: One gate per output unit (``G = out_features``; Arevalo et al.) or one per
            sample shared by all units (``G = 1``).
        projection_bias: Biases in the projections ``W_i`` (see Biases).
        gate_bias: A bias in the gate ``W_z`` (see Biases).
        names: Modality names used in error messages and ``repr`` (default ``modality 0``, ...).

    Attributes:
        projections: The ``M`` projections ``W_i``.
        gate: The gate layer ``W_z``.
        num_modalities: ``M``.
        gate_size: ``G``.

    Raises:
        ValueError: fewer than two modalities, sizes below 1, or names that do not match.
    """

    def __init__(
        self,
        in_features: Sequence[int],
        out_features: int,
        *,
        per_unit_gate: bool = True,
        projection_bias: bool = False,
        gate_bias: bool = True,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        in_features = tuple(int(d) for d in in_features)
        if len(in_features) < 2:
            raise ValueError(
                f"GatedMultimodalUnit fuses at least 2 modalities, got in_features={in_features}"
            )
        if min(in_features) < 1 or out_features < 1:
            raise ValueError(
                f"GatedMultimodalUnit sizes must be >= 1: in_features={in_features}, "
                f"out_features={out_features}"
            )
        if names is None:
            names = tuple(f"modality {i}" for i in range(len(in_features)))
        names = tuple(str(n) for n in names)
        if len(names) != len(in_features) or len(set(names)) != len(names):
            raise ValueError(
                f"names must be {len(in_features)} distinct names, one per modality, got {names}"
            )
        self.in_features, self.out_features, self.names = in_features, int(out_features), names
        self.num_modalities = len(in_features)
        self.per_unit_gate = bool(per_unit_gate)
        self.gate_size = self.out_features if per_unit_gate else 1
        self.projections = nn.ModuleList(
            nn.Linear(d, self.out_features, bias=projection_bias) for d in in_features
        )
        self.gate = nn.Linear(
            sum(in_features), (self.num_modalities - 1) * self.gate_size, bias=gate_bias
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"names={self.names}, gate_size={self.gate_size}, "
            f"projection_bias={self.projections[0].bias is not None}, "
            f"gate_bias={self.gate.bias is not None}"
        )

    def forward(
        self,
        inputs: Sequence[torch.Tensor],
        present: Sequence[torch.Tensor | None] | None = None,
    ) -> GMUOutput:
        """Fuse ``inputs[i]: [..., D_i]`` (the same leading shape ``...`` for all, e.g. ``[B]`` or
        ``[B, T]``).

        Args:
            inputs: One tensor per modality, in the order of ``in_features``.
            present: None (every modality everywhere), or one entry per modality: None (always
                present) or a bool tensor whose shape is a prefix of the leading shape (``[B]``:
                per sample, ``[B, T]``: per time step). See the module docstring.

        Returns:
            :class:`GMUOutput` ``(fused [..., out_features], gates [..., M, G])``.

        Raises:
            ValueError: a wrong number of inputs or masks, a feature size other than
                ``in_features[i]``, leading shapes that disagree, or a mask that is not bool or
                whose shape is not a prefix of the leading shape.
        """
        inputs = list(inputs)
        lead = self._check_inputs(inputs)
        mask = None if present is None else self._mask(present, lead, inputs[0].device)
        if mask is not None:
            # Absent inputs become zeros, so their filler reaches neither h_i nor the gate.
            inputs = [
                torch.where(mask[..., i, None], x, torch.zeros((), dtype=x.dtype, device=x.device))
                for i, x in enumerate(inputs)
            ]
        # Eqs. 6-7: h_i = tanh(W_i x_i), stacked over modalities: [..., M, out_features].
        h = torch.stack(
            [torch.tanh(p(x)) for p, x in zip(self.projections, inputs, strict=True)], dim=-2
        )
        # Eq. 5: the gate logits W_z [x_1; ...; x_M], [..., M - 1, G], then the last modality's
        # fixed logit 0, so that for M = 2 the softmax below is sigmoid(a) and 1 - sigmoid(a).
        logits = self.gate(torch.cat(inputs, dim=-1)).unflatten(
            -1, (self.num_modalities - 1, self.gate_size)
        )
        logits = torch.cat([logits, logits.new_zeros((*lead, 1, self.gate_size))], dim=-2)
        if mask is None:
            gates = torch.softmax(logits, dim=-2)
        else:
            here = mask[..., None]  # [..., M, 1]
            # -inf only where some other modality is present: an all-absent row keeps finite
            # logits (no 0/0 in the softmax) and is zeroed by the product.
            absent = ~here & here.any(dim=-2, keepdim=True)
            gates = torch.softmax(logits.masked_fill(absent, float("-inf")), dim=-2) * here
        # Eq. 8: h = sum_i g_i * h_i (= ZG * h_v + (1 - ZG) * h_s for two modalities).
        fused = (gates * h).sum(dim=-2)
        return GMUOutput(fused, gates)

    def _check_inputs(self, inputs: list[torch.Tensor]) -> tuple[int, ...]:
        if len(inputs) != self.num_modalities:
            raise ValueError(
                f"GatedMultimodalUnit was built for {self.num_modalities} modalities "
                f"{list(self.names)}, got {len(inputs)} inputs"
            )
        lead = tuple(inputs[0].shape[:-1])
        for name, size, x in zip(self.names, self.in_features, inputs, strict=True):
            if x.ndim < 1 or x.shape[-1] != size:
                raise ValueError(
                    f"{name}: expected features [..., {size}], got shape {tuple(x.shape)}"
                )
            if tuple(x.shape[:-1]) != lead:
                raise ValueError(
                    f"{name}: leading shape {tuple(x.shape[:-1])} differs from {self.names[0]}'s "
                    f"{lead}; every modality needs the same leading shape (got "
                    f"{[tuple(t.shape) for t in inputs]})"
                )
        return lead

    def _mask(
        self,
        present: Sequence[torch.Tensor | None],
        lead: tuple[int, ...],
        device: torch.device,
    ) -> torch.Tensor:
        """The presence mask ``[..., M]`` (bool) of one entry per modality."""
        present = list(present)
        if len(present) != self.num_modalities:
            raise ValueError(
                f"present: expected {self.num_modalities} entries (one per modality "
                f"{list(self.names)}, None for always present), got {len(present)}"
            )
        columns = []
        for name, p in zip(self.names, present, strict=True):
            if p is None:
                columns.append(torch.ones(lead, dtype=torch.bool, device=device))
                continue
            if p.dtype != torch.bool:
                raise ValueError(f"present[{name}]: expected a bool tensor, got dtype {p.dtype}")
            if p.ndim > len(lead) or tuple(p.shape) != lead[: p.ndim]:
                raise ValueError(
                    f"present[{name}]: shape {tuple(p.shape)} is not a prefix of the inputs' "
                    f"leading shape {lead} (expected e.g. {lead[:1]} or {lead})"
                )
            p = p.to(device).reshape(*p.shape, *(1,) * (len(lead) - p.ndim))
            columns.append(p.expand(lead))
        return torch.stack(columns, dim=-1)
