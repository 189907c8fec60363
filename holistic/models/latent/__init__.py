"""The latent-adversarial affect models (Aspandi et al.): AEG-CD(-SZ), ANCLaF, ANCLaF-S/-SA,
DiLaST(-SA) and AViGaS-Net (AVi-CaS, AVi-GaS).

Parts (plain modules with flat arguments, not registered): :class:`Generator` (the denoising
encoder-decoder with latent Z), :class:`Discriminator` (the patch critic with VA / quadrant heads,
optional z and audio inputs), :class:`Combiner` (C: ``[Z; Q]`` to VA),
:class:`SequencePredictor` (the LSTM with optional attention over per-frame features),
:class:`SequenceCombiner` (it, over windows of latents) and :class:`FusedSequenceCombiner` (it,
over two modalities' latents, concatenated or gated). The registered composites
(:class:`AEGCD`, :class:`ANCLaF` and :class:`ANCLaFSequence`, which are also DiLaST on faces or
audio images, and :class:`AViGaSNet`) hold the parts and keep the model contract. See
``docs/models.md``, "Latent adversarial models", and ``reference/latent_models.md``.
"""

from .audiovisual import (
    AV_MODALITIES,
    FUSIONS,
    AViGaSNet,
    ClipLatents,
    FusedSequenceCombiner,
    FusedSequenceOutput,
    ModalityLatents,
    build_avigasnet,
)
from .combiner import (
    NUM_QUADRANTS,
    Combiner,
    CombinerOutput,
    LatentFeatures,
    quadrant_planes,
)
from .composite import (
    AEGCD,
    QUADRANT_SOURCES,
    ANCLaF,
    ANCLaFSequence,
    build_aegcd,
    build_anclaf,
    build_anclaf_sequence,
)
from .discriminator import AUDIO_PLANES, Z_MODES, Discriminator, DiscriminatorOutput
from .generator import Generator, GeneratorOutput, ResidualBlock
from .sequence import (
    ATTENTION_SCORES,
    ATTENTION_STATES,
    SequenceCombiner,
    SequenceOutput,
    SequencePredictor,
    SequenceState,
)

__all__ = [
    "AEGCD",
    "ATTENTION_SCORES",
    "ATTENTION_STATES",
    "AUDIO_PLANES",
    "AV_MODALITIES",
    "FUSIONS",
    "NUM_QUADRANTS",
    "QUADRANT_SOURCES",
    "Z_MODES",
    "ANCLaF",
    "ANCLaFSequence",
    "AViGaSNet",
    "ClipLatents",
    "Combiner",
    "CombinerOutput",
    "Discriminator",
    "DiscriminatorOutput",
    "FusedSequenceCombiner",
    "FusedSequenceOutput",
    "Generator",
    "GeneratorOutput",
    "LatentFeatures",
    "ModalityLatents",
    "ResidualBlock",
    "SequenceCombiner",
    "SequenceOutput",
    "SequencePredictor",
    "SequenceState",
    "build_aegcd",
    "build_anclaf",
    "build_anclaf_sequence",
    "build_avigasnet",
    "quadrant_planes",
]
