"""Model zoo: MLP, 1-D CNN, small CNN, CIFAR ResNet-18 and WRN, each an `ALModel`
(backbone -> embedding -> dropout + linear head); segmentation models, each a `SegModel`
(the same head on every pixel); built by name through the registry."""

from alstudy.models.almodel import ALModel
from alstudy.models.registry import is_dense, make_model, model_names, model_options
from alstudy.models.segmentation import SegModel

__all__ = ["ALModel", "SegModel", "is_dense", "make_model", "model_names", "model_options"]
