"""The latent-adversarial affect models (Aspandi et al.): AEG-CD(-SZ), ANCLaF, ANCLaF-S/-SA.

Parts (plain modules with flat arguments, not registered): :class:`Generator` (the denoising
encoder-decoder with latent Z), :class:`Discriminator` (the patch critic with VA / quadrant heads,
optional z and audio inputs), :class:`Combiner` (C: ``[Z; Q]`` to VA) and
:class:`SequenceCombiner` (the LSTM with optional attention over windows of latents). The
registered composites (:class:`AEGCD`, :class:`ANCLaF`, :class:`ANCLaFSequence`) hold the parts
and keep the model contract. See ``docs/models.md``, "Latent adversarial models", and
``reference/latent_models.md``.
"""

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
    SequenceState,
)

__all__ = [
    "AEGCD",
    "ATTENTION_SCORES",
    "ATTENTION_STATES",
    "AUDIO_PLANES",
    "NUM_QUADRANTS",
    "QUADRANT_SOURCES",
    "Z_MODES",
    "ANCLaF",
    "ANCLaFSequence",
    "Combiner",
    "CombinerOutput",
    "Discriminator",
    "DiscriminatorOutput",
    "Generator",
    "GeneratorOutput",
    "LatentFeatures",
    "ResidualBlock",
    "SequenceCombiner",
    "SequenceOutput",
    "SequenceState",
    "build_aegcd",
    "build_anclaf",
    "build_anclaf_sequence",
    "quadrant_planes",
]
