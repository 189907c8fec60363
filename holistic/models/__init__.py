"""Models: the registry, timm backbones, heads, FaceBehaviorNet, the clip models (AffWildNet,
CNN-RNNs, MT-VGG-GRU, A/V-MT-VGG-GRU), their ensembles and safetensors checkpoints.

``import holistic.models`` imports torch but not timm; timm is imported when a model is built.
"""

from ._registry import create_model, is_model, list_models, register_model
from .audiovisual import AVMTVGGGRU, build_avmtvgggru
from .backbones import build_timm_backbone, load_backbone_weights, load_state_dict_file
from .checkpoint import load_model, read_model_json, save_model
from .ensemble import (
    DecisionFusion,
    ModelFusion,
    build_decisionfusion,
    build_modelfusion,
    decision_fusion_weights,
)
from .facebehaviornet import FaceBehaviorNet, build_facebehaviornet
from .heads import MultiTaskHead
from .latent import AEGCD, ANCLaF, ANCLaFSequence, build_aegcd, build_anclaf, build_anclaf_sequence
from .spec import InputSpec, label_space_of, model_tasks
from .temporal import (
    CNNRNN,
    MTVGGGRU,
    build_affwildnet,
    build_cnn1rnn,
    build_cnn3rnn,
    build_features_backbone,
    build_mtvgggru,
)

__all__ = [
    "AEGCD",
    "ANCLaF",
    "ANCLaFSequence",
    "AVMTVGGGRU",
    "CNNRNN",
    "DecisionFusion",
    "FaceBehaviorNet",
    "InputSpec",
    "MTVGGGRU",
    "ModelFusion",
    "MultiTaskHead",
    "build_aegcd",
    "build_affwildnet",
    "build_anclaf",
    "build_anclaf_sequence",
    "build_avmtvgggru",
    "build_cnn1rnn",
    "build_cnn3rnn",
    "build_decisionfusion",
    "build_facebehaviornet",
    "build_features_backbone",
    "build_modelfusion",
    "build_mtvgggru",
    "build_timm_backbone",
    "create_model",
    "decision_fusion_weights",
    "is_model",
    "label_space_of",
    "list_models",
    "load_backbone_weights",
    "load_model",
    "load_state_dict_file",
    "model_tasks",
    "read_model_json",
    "register_model",
    "save_model",
]
