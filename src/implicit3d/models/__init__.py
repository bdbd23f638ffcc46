"""Implicit shape models: Occupancy Networks, Convolutional Occupancy Networks (planes/grid), IF-Nets.

``create_model(name, **overrides)`` builds a registered model; every model maps a point cloud
``inputs (B, N, 3) float32`` and query points ``points (B, M, 3)`` (normalized coordinates) to ``(B, M)``
occupancy logits or SDF values, exposes ``encode``/``decode`` and a JSON-able ``config``. See docs/models.md.
"""

from implicit3d.models.config import (
    ConvONetGridConfig,
    ConvONetPlanesConfig,
    IFNetConfig,
    ModelConfig,
    OccNetConfig,
)
from implicit3d.models.networks import ConvolutionalOccupancyNetwork, IFNet, ImplicitModel, OccupancyNetwork
from implicit3d.models.registry import (
    count_parameters,
    create_model,
    create_model_from_config,
    get_config,
    list_models,
    load_config,
    register_model,
)

__all__ = [
    "ConvONetGridConfig",
    "ConvONetPlanesConfig",
    "ConvolutionalOccupancyNetwork",
    "IFNet",
    "IFNetConfig",
    "ImplicitModel",
    "ModelConfig",
    "OccNetConfig",
    "OccupancyNetwork",
    "count_parameters",
    "create_model",
    "create_model_from_config",
    "get_config",
    "list_models",
    "load_config",
    "register_model",
]
