"""The sequence combiner of ANCLaF-S-n and ANCLaF-SA-n (VISAPP 2021, Eqs. 4-8).

Per frame ``t`` of a window of ``n`` frames::

    f_t = LatentFeatures([Z_t; Q_t])                 (C's convolution stack, pooled: [B, F])
    context_t = 0                                    (-S, and the first step of -SA)
              = sum_k a_k(t) m_k  (/ #memory)        (-SA: attention over the memory m_k)
    h_t, c_t = LSTM([f_t; context_t], (h_{t-1}, c_{t-1}))     (1 layer, hidden 512)
    va_t = Linear(h_t) -> 2

**-S and -SA are one module** (``attention`` is a switch, not a shape): the context slot of the
LSTM input and the score layer exist either way, so the two have the same parameters and an -SA
model starts from a trained -S (the reference's curriculum, ``-toAddAttention 1``).

**Attention** (``reference/latent_models.md`` §4.4; decision 8):

- memory: the states ``S_k = [h_k; c_k]`` (``attention_state="hc"``, the reference's ``useCH``;
  ``"h"``: ``h_k`` only) after each earlier step of the current window, so at most ``n - 1``
  entries; at the first step the memory is empty and the context is zeros;
- query: the state before step ``t``, ``S_{t-1}`` (also the last memory entry);
- score ``e_k``: ``"linear"``, the reference's single ``Linear([query; m_k]) -> 1``. Because a
  softmax ignores a constant added to every score, the query half of this layer (and its bias)
  cannot change the weights and gets no gradient: the reference's attention is in effect the
  paper's "location-based" ``softmax(W_a m_k)``, a content score of each memory entry alone.
  ``"general"`` (Luong: ``query^T W m_k``) and ``"concat"`` (Bahdanau/Luong:
  ``v^T tanh(W [query; m_k])``) make the weights depend on the query;
- ``a(t) = softmax_k(e_k)``; context ``sum_k a_k m_k``, divided by the number of memory entries
  when ``divide_context`` (the paper's Eq. 7 divides by n; the reference code does not).

**Batch and time** are separate dimensions throughout (``[B, n, ...]``, scores ``[B, m]``); the
reference mixes them with a ``view`` of a time-major stack (defect 7.2.6).

**The recurrent part alone.** :class:`SequencePredictor` is everything after ``f_t``: the LSTM,
the attention and the VA layer, over any per-frame feature vectors ``f [B, n, F]``.
:class:`SequenceCombiner` is it over C's convolution stack on ``[Z; Q]``; AViGaS-Net's fused
sequence model (``audiovisual.py``) is it over the fused audio-visual features.

**State.** ``state=None`` starts each window from zeros (the reference, decision 9). For a
stream, pass the returned :class:`SequenceState` to the next call: the LSTM's ``(h, c)`` carry
over, and with ``memory_size=k`` so do the last ``k`` memory states (a rolling memory, the AViGaS
inference alternative of decision 8); with ``memory_size=None`` the memory is the current
call's earlier steps only.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from ..heads import VAOutput
from ._layers import apply_va_output, va_output_property
from .combiner import NUM_QUADRANTS, LatentFeatures, latent_input

__all__ = [
    "ATTENTION_SCORES",
    "ATTENTION_STATES",
    "SequenceCombiner",
    "SequenceOutput",
    "SequencePredictor",
    "SequenceState",
    "clip_features",
]

#: Score functions of the attention (``"linear"``: the reference's).
ATTENTION_SCORES: tuple[str, ...] = ("linear", "general", "concat")
#: What a memory entry and the query hold: ``[h; c]`` (the reference's ``useCH``) or ``h``.
ATTENTION_STATES: tuple[str, ...] = ("hc", "h")


class SequenceState(NamedTuple):
    """The recurrent state between calls (stream inference).

    Attributes:
        h: ``[B, hidden]``, the LSTM's hidden state after the last step.
        c: ``[B, hidden]``, its cell state.
        memory: ``[B, m, S]`` attention memory carried over (``m <= memory_size``; ``m = 0``
            without a rolling memory); ``S`` is ``2 hidden`` for ``"hc"``, ``hidden`` for ``"h"``.
    """

    h: torch.Tensor
    c: torch.Tensor
    memory: torch.Tensor


class SequenceOutput(NamedTuple):
    """What :class:`SequenceCombiner` returns.

    Attributes:
        va: ``[B, n, 2]`` per frame.
        features: ``[B, n, hidden]``, the LSTM outputs the VA layer reads.
        attention: ``[B, n, M]`` weights: row ``t`` holds step ``t``'s softmax over the memory
            entries it attended to, in columns indexing ``[carried memory; states after steps
            0..n-2 of this call]`` (``M = m + n - 1``); zeros elsewhere, a zero row where the
            memory was empty (and everywhere without attention).
        state: The :class:`SequenceState` after the last step.
    """

    va: torch.Tensor
    features: torch.Tensor
    attention: torch.Tensor
    state: SequenceState


def clip_features(
    features: LatentFeatures,
    z: torch.Tensor,
    q: torch.Tensor | None,
    z_channels: int,
    quadrants: bool,
) -> torch.Tensor:
    """``f [B, n, F]`` of C's convolution stack ``features`` on the latents ``z [B, n, C, h, w]``
    of clips and their quadrants ``q [B, n]`` (long) or ``[B, n, 4]`` (float): every frame on
    its own."""
    if z.ndim != 5 or z.shape[1] < 1:
        raise ValueError(
            f"expected latents [B, n, {z_channels}, h, w] with n >= 1, got {tuple(z.shape)}"
        )
    batch, frames = z.shape[:2]
    if q is not None and tuple(q.shape[:2]) != (batch, frames):
        raise ValueError(f"q must be [B, n, ...] = [{batch}, {frames}, ...], got {tuple(q.shape)}")
    flat_q = None if q is None else q.flatten(0, 1)
    x = latent_input(z.flatten(0, 1), flat_q, z_channels, quadrants)
    return features(x).unflatten(0, (batch, frames))


class SequencePredictor(nn.Module):
    """The recurrent part of ANCLaF-S-n / -SA-n: an LSTM, with optional attention, over per-frame
    feature vectors ``f [B, n, F]``, and VA per frame (module docstring).

    :class:`SequenceCombiner` feeds it its convolution stack's features of ``[Z; Q]``; AViGaS-Net
    the fused audio-visual features. A subclass hands over the module that makes ``f`` as
    ``features``; it is registered before the LSTM, so a :class:`SequenceCombiner`'s parameters
    keep their order (and the optimiser checkpoints of earlier runs still resume).

    Args:
        in_features: ``F``, each frame's feature size (what the LSTM reads besides the context).
        features: The module that makes ``f`` from a subclass's inputs (None: the caller gives
            ``f`` to :meth:`forward_frames`).
        hidden_size: LSTM units (512).
        attention: -SA (True) or -S (False, the context is zeros); settable, the parameters
            do not change.
        attention_state: ``"hc"`` or ``"h"`` (module docstring).
        score: ``"linear"``, ``"general"`` or ``"concat"`` (module docstring).
        divide_context: Divide the context by the number of memory entries (paper Eq. 7).
        memory_size: Attend to at most the last ``k`` states and carry them in the state; None:
            every earlier step of the current call, nothing carried.
        va_output: ``"linear"`` (the reference) or ``"tanh"`` (settable).

    Attributes:
        lstm: ``nn.LSTM(F + S, hidden_size)``, batch first.
        score: The attention score layer (present for -S too).
        head: ``Linear(hidden_size, 2)``.
        num_features: ``hidden_size``.

    Raises:
        ValueError: an unknown score or state, or sizes below 1.
    """

    def __init__(
        self,
        in_features: int,
        *,
        features: nn.Module | None = None,
        hidden_size: int = 512,
        attention: bool = False,
        attention_state: Literal["hc", "h"] = "hc",
        score: Literal["linear", "general", "concat"] = "linear",
        divide_context: bool = False,
        memory_size: int | None = None,
        va_output: VAOutput = "linear",
    ) -> None:
        super().__init__()
        if score not in ATTENTION_SCORES:
            raise ValueError(f"score must be one of {list(ATTENTION_SCORES)}, got {score!r}")
        if attention_state not in ATTENTION_STATES:
            raise ValueError(
                f"attention_state must be one of {list(ATTENTION_STATES)}, got {attention_state!r}"
            )
        if in_features < 1 or hidden_size < 1 or (memory_size is not None and memory_size < 1):
            raise ValueError(
                f"in_features, hidden_size and memory_size must be >= 1, got {in_features=}, "
                f"{hidden_size=}, {memory_size=}"
            )
        if features is not None:
            self.features = features
        self.in_features, self.hidden_size = in_features, hidden_size
        self.attention = bool(attention)
        self.attention_state, self.score_kind = attention_state, score
        self.divide_context, self.memory_size = bool(divide_context), memory_size
        self.state_size = hidden_size * (2 if attention_state == "hc" else 1)
        self.lstm = nn.LSTM(in_features + self.state_size, hidden_size, batch_first=True)
        size = self.state_size
        if score == "linear":
            self.score: nn.Module = nn.Linear(2 * size, 1)
        elif score == "general":
            self.score = nn.Linear(size, size, bias=False)
        else:
            self.score = nn.Sequential(
                nn.Linear(2 * size, size), nn.Tanh(), nn.Linear(size, 1, bias=False)
            )
        self.head = nn.Linear(hidden_size, 2)
        self.num_features = hidden_size
        self.va_output = va_output

    va_output = va_output_property()

    @property
    def detached_parameters(self) -> tuple[str, ...]:
        """Name prefixes (within this module) of the parameters VA sends no gradient to: the
        score layer without attention, the bias of the linear score (a softmax ignores it)."""
        if not self.attention:
            return ("score",)
        return ("score.bias",) if self.score_kind == "linear" else ()

    def forward_va(self, features: torch.Tensor) -> torch.Tensor:
        """LSTM outputs ``[..., hidden]`` to ``[..., 2]`` (head and ``va_output``)."""
        return apply_va_output(self.head(features), self.va_output)

    def _scores(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``e [B, m]`` of ``query [B, S]`` against ``memory [B, m, S]``."""
        if self.score_kind == "general":
            return torch.einsum("bs,bms->bm", query, self.score(memory))
        pairs = torch.cat([query[:, None].expand_as(memory), memory], dim=2)
        return self.score(pairs).squeeze(2)

    def _initial(
        self, batch: int, like: torch.Tensor, state: SequenceState | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if state is None:
            zeros = like.new_zeros(batch, self.hidden_size)
            return zeros, zeros, like.new_zeros(batch, 0, self.state_size)
        h, c, memory = state
        want = (batch, self.hidden_size)
        if tuple(h.shape) != want or tuple(c.shape) != want:
            raise ValueError(
                f"state: h and c must be {list(want)} (batch, hidden_size), got "
                f"{tuple(h.shape)} and {tuple(c.shape)}"
            )
        if memory.ndim != 3 or memory.shape[0] != batch or memory.shape[2] != self.state_size:
            raise ValueError(
                f"state: memory must be [{batch}, m, {self.state_size}], got {tuple(memory.shape)}"
            )
        return h, c, memory

    def forward(self, f: torch.Tensor, state: SequenceState | None = None) -> SequenceOutput:
        """:meth:`forward_frames` (subclasses take their own inputs)."""
        return self.forward_frames(f, state)

    def forward_frames(self, f: torch.Tensor, state: SequenceState | None = None) -> SequenceOutput:
        """Valence-arousal for every frame of windows of per-frame features.

        Args:
            f: ``[B, n, in_features]`` (any ``n >= 1``).
            state: None (start from zeros: one window) or the state a previous call returned
                (the next window of a stream).

        Returns:
            :class:`SequenceOutput`: ``va [B, n, 2]``, the LSTM outputs, the attention weights
            and the state after the last step.
        """
        if f.ndim != 3 or f.shape[1] < 1 or f.shape[2] != self.in_features:
            raise ValueError(
                f"expected per-frame features [B, n, {self.in_features}] with n >= 1, got "
                f"{tuple(f.shape)}"
            )
        batch, frames = f.shape[:2]
        h, c, carried = self._initial(batch, f, state)
        if not self.attention:
            inputs = torch.cat([f, f.new_zeros(batch, frames, self.state_size)], dim=2)
            outputs, (h_n, c_n) = self.lstm(inputs, (h[None], c[None]))
            memory = carried[:, -self.memory_size :] if self.memory_size else carried[:, :0]
            weights = f.new_zeros(batch, frames, carried.shape[1] + frames - 1)
            state = SequenceState(h_n[0], c_n[0], memory)
            return SequenceOutput(self.forward_va(outputs), outputs, weights, state)
        entries = [carried[:, k] for k in range(carried.shape[1])]
        outputs, rows = [], []
        for t in range(frames):
            start = 0 if self.memory_size is None else max(0, len(entries) - self.memory_size)
            query = torch.cat([h, c], dim=1) if self.attention_state == "hc" else h
            row = f.new_zeros(batch, carried.shape[1] + frames - 1)
            if len(entries) > start:
                memory = torch.stack(entries[start:], dim=1)  # [B, m, S]
                weights = torch.softmax(self._scores(query, memory), dim=1)  # [B, m]
                context = torch.einsum("bm,bms->bs", weights, memory)
                if self.divide_context:
                    context = context / memory.shape[1]
                row = torch.cat([row[:, :start], weights, row[:, len(entries) :]], dim=1)
            else:
                context = f.new_zeros(batch, self.state_size)
            step = torch.cat([f[:, t], context], dim=1)[:, None]
            out, (h_n, c_n) = self.lstm(step, (h[None], c[None]))
            h, c = h_n[0], c_n[0]
            entries.append(torch.cat([h, c], dim=1) if self.attention_state == "hc" else h)
            outputs.append(out[:, 0])
            rows.append(row)
        features = torch.stack(outputs, dim=1)
        kept = entries[-self.memory_size :] if self.memory_size else []
        memory = torch.stack(kept, dim=1) if kept else f.new_zeros(batch, 0, self.state_size)
        state = SequenceState(h, c, memory)
        return SequenceOutput(self.forward_va(features), features, torch.stack(rows, dim=1), state)


class SequenceCombiner(SequencePredictor):
    """ANCLaF-S-n / ANCLaF-SA-n: per-frame ``[Z; Q]`` features, an LSTM, VA per frame.

    Args:
        z_channels: Channels of Z (64).
        quadrants: Read Q as four one-hot planes next to Z (the paper); False: Z only (the
            released stage-3 code).
        width: Channels ``d`` of the first convolution (64 in the reference's default).
        depth: Convolutions (5).
        hidden_size: LSTM units (512).
        attention: -SA (True) or -S (False, the context is zeros); settable, the parameters
            do not change.
        attention_state: ``"hc"`` or ``"h"`` (module docstring).
        score: ``"linear"``, ``"general"`` or ``"concat"`` (module docstring).
        divide_context: Divide the context by the number of memory entries (paper Eq. 7).
        memory_size: Attend to at most the last ``k`` states and carry them in the state; None:
            every earlier step of the current call, nothing carried.
        va_output: ``"linear"`` (the reference) or ``"tanh"`` (settable).

    Attributes:
        features: The :class:`~holistic.models.latent.combiner.LatentFeatures` stack.
        lstm: ``nn.LSTM(F + S, hidden_size)``, batch first.
        score: The attention score layer (present for -S too).
        head: ``Linear(hidden_size, 2)``.
        num_features: ``hidden_size``.

    Raises:
        ValueError: an unknown score or state, or sizes below 1.
    """

    def __init__(
        self,
        z_channels: int = 64,
        *,
        quadrants: bool = True,
        width: int = 64,
        depth: int = 5,
        hidden_size: int = 512,
        attention: bool = False,
        attention_state: Literal["hc", "h"] = "hc",
        score: Literal["linear", "general", "concat"] = "linear",
        divide_context: bool = False,
        memory_size: int | None = None,
        va_output: VAOutput = "linear",
    ) -> None:
        features = LatentFeatures(z_channels + NUM_QUADRANTS * bool(quadrants), width, depth)
        super().__init__(
            features.num_features,
            features=features,
            hidden_size=hidden_size,
            attention=attention,
            attention_state=attention_state,
            score=score,
            divide_context=divide_context,
            memory_size=memory_size,
            va_output=va_output,
        )
        self.z_channels, self.quadrants = z_channels, bool(quadrants)

    def frame_features(self, z: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
        """``f [B, n, F]`` of latents ``z [B, n, C, h, w]`` and quadrants ``q [B, n]`` (long) or
        ``[B, n, 4]`` (float)."""
        return clip_features(self.features, z, q, self.z_channels, self.quadrants)

    def forward(
        self,
        z: torch.Tensor,
        q: torch.Tensor | None = None,
        state: SequenceState | None = None,
    ) -> SequenceOutput:
        """Valence-arousal for every frame of windows of latents.

        Args:
            z: Latents ``[B, n, z_channels, h, w]`` (any ``n >= 1``, any ``h, w >= 1``).
            q: Quadrants ``[B, n]`` (long, 0..3) or ``[B, n, 4]`` (float); required with
                ``quadrants=True``, refused without.
            state: None (start from zeros: one window) or the state a previous call returned
                (the next window of a stream).

        Returns:
            :class:`SequenceOutput`: ``va [B, n, 2]``, the LSTM outputs, the attention weights
            and the state after the last step.
        """
        return self.forward_frames(self.frame_features(z, q), state)
