"""Models: the registry, timm backbones, heads, FaceBehaviorNet and safetensors checkpoints.

``import holistic.models`` imports torch but not timm; timm is imported when a model is built.
"""

from ._registry import create_model, is_model, list_models, register_model
from .backbones import build_timm_backbone, load_backbone_weights, load_state_dict_file
from .checkpoint import load_model, read_model_json, save_model
from .facebehaviornet import FaceBehaviorNet, build_facebehaviornet
from .heads import MultiTaskHead
from .spec import InputSpec, label_space_of, model_tasks

__all__ = [
    "FaceBehaviorNet",
    "InputSpec",
    "MultiTaskHead",
    "build_facebehaviornet",
    "build_timm_backbone",
    "create_model",
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
