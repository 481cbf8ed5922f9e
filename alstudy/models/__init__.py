"""Model zoo: MLP, 1-D CNN, small CNN, CIFAR ResNet-18 and WRN, each an `ALModel`
(backbone -> embedding -> dropout + linear head), built by name through the registry."""

from alstudy.models.almodel import ALModel
from alstudy.models.registry import make_model, model_names, model_options

__all__ = ["ALModel", "make_model", "model_names", "model_options"]
