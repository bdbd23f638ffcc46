"""Typed model configurations: one dataclass per model family, read from dicts/YAML with strict key checks.

A config fully describes a network: ``model.config`` (a JSON-able dict) rebuilt with
:func:`implicit3d.models.create_model_from_config` gives the same architecture and state-dict keys. Every
config has ``name`` (the registry name, e.g. ``"conv_onet_grid_small"``), ``output`` (``"occupancy"``: logits;
``"sdf"``: signed distance, negative inside) and ``padding`` (inputs live in the cube ``[-0.5, 0.5]^3``; the
feature volume covers ``[-0.5 (1 + padding), 0.5 (1 + padding)]^3``, the Occupancy Networks convention).

Default values are the full-size settings of the reference papers; see ``docs/models.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from implicit3d.geometry.transforms import DEFAULT_PADDING
from implicit3d.typed_config import field_names, from_dict, to_dict

OUTPUTS = ("occupancy", "sdf")
PLANES = ("xy", "xz", "yz")


@dataclass
class ModelConfig:
    """Settings shared by every model. Subclasses add their architecture fields."""

    family: ClassVar[str] = "base"

    name: str = ""  #: registry name the model was created with
    output: str = "occupancy"  #: occupancy (logits) | sdf
    padding: float = DEFAULT_PADDING  #: the feature box is the unit cube grown by this fraction

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad value."""
        if self.output not in OUTPUTS:
            raise ValueError(f"{self.name or self.family}: output must be one of {OUTPUTS}, got {self.output!r}")
        if not 0.0 <= self.padding < 1.0:
            raise ValueError(f"{self.name or self.family}: padding must be in [0, 1), got {self.padding}")
        for f in dataclasses.fields(self):  # sizes read from files are capped before anything is allocated
            value = getattr(self, f.name)
            cap = MAX_GRID if f.name in _GRID_FIELDS else MAX_WIDTH
            if isinstance(value, int) and not isinstance(value, bool) and value > cap:
                raise ValueError(f"{self.name or self.family}: {f.name} must be at most {cap}, got {value}")

    @classmethod
    def field_names(cls) -> list[str]:
        return field_names(cls)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> ModelConfig:
        """Build from a mapping, coercing YAML scalars/lists to the field types.

        Unknown keys raise ``ValueError`` naming the key and ``source`` (e.g. the YAML file).
        """
        return from_dict(cls, values, "model", source)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-able dict (tuples become lists)."""
        return to_dict(self)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` applied (validated, coerced)."""
        return type(self).from_dict({**self.to_dict(), **changes})


MAX_GRID = 256  #: cap on a feature grid / plane / voxel resolution (256^3 cells x channels is already GiBs)
MAX_WIDTH = 16_384  #: cap on any other integer setting (widths, depths, counts)
_GRID_FIELDS = ("grid_resolution", "plane_resolution", "resolution", "detail_resolution")


def _positive(cfg: ModelConfig, *names: str) -> None:
    for n in names:
        if getattr(cfg, n) < 1:
            raise ValueError(f"{cfg.name or cfg.family}: {n} must be >= 1, got {getattr(cfg, n)}")


def _halvable(cfg: ModelConfig, name: str, times: int, what: str) -> None:
    """``cfg.<name>`` must survive ``times`` halvings (a U-Net's or conv pyramid's pooling steps)."""
    div = 2**times
    if getattr(cfg, name) % div:
        raise ValueError(
            f"{cfg.name or cfg.family}: {name} {getattr(cfg, name)} must be divisible by 2**({what}) = {div}"
        )


@dataclass
class OccNetConfig(ModelConfig):
    """Occupancy Network (Mescheder et al., CVPR 2019): ResNet-PointNet -> global code -> CBN decoder."""

    family: ClassVar[str] = "occnet"

    c_dim: int = 512  #: global latent size (ONet point-cloud config: 512)
    encoder_hidden: int = 512  #: ResNet-PointNet hidden width (ONet: 512)
    encoder_blocks: int = 5  #: ResNet-PointNet blocks with max-pool/concat between them
    decoder_hidden: int = 256  #: DecoderCBatchNorm width (ONet: 256)
    decoder_blocks: int = 5  #: conditional-batch-norm ResNet blocks (ONet: 5)

    def validate(self) -> None:
        super().validate()
        _positive(self, "c_dim", "encoder_hidden", "encoder_blocks", "decoder_hidden", "decoder_blocks")


@dataclass
class _ConvONetConfig(ModelConfig):
    """Shared fields of the Convolutional Occupancy Network variants (Peng et al., ECCV 2020)."""

    c_dim: int = 32  #: feature channels of the planes/grid (ConvONet: 32)
    encoder_hidden: int = 32  #: local-pool PointNet width (ConvONet: 32)
    encoder_blocks: int = 5  #: local-pool PointNet blocks
    local_pool: str = "max"  #: pooling inside a cell between PointNet blocks: max | mean (ConvONet: max)
    decoder_hidden: int = 32  #: ResNet-FC decoder width (ConvONet: 32)
    decoder_blocks: int = 5  #: decoder blocks; sampled features are added before each
    sample_mode: str = "bilinear"  #: feature interpolation at query points: bilinear (tri- in 3D) | nearest

    def validate(self) -> None:
        super().validate()
        _positive(self, "c_dim", "encoder_hidden", "encoder_blocks", "decoder_hidden", "decoder_blocks")
        if self.local_pool not in ("max", "mean"):
            raise ValueError(f"{self.name or self.family}: local_pool must be max or mean, got {self.local_pool!r}")
        if self.sample_mode not in ("bilinear", "nearest"):
            raise ValueError(
                f"{self.name or self.family}: sample_mode must be bilinear or nearest, got {self.sample_mode!r}"
            )


@dataclass
class ConvONetPlanesConfig(_ConvONetConfig):
    """ConvONet with three axis-aligned 2D feature planes processed by a shared-architecture 2D U-Net each."""

    family: ClassVar[str] = "conv_onet_planes"

    planes: tuple[str, ...] = ("xz", "xy", "yz")  #: feature planes (ConvONet 3-plane: xz, xy, yz)
    plane_resolution: int = 64  #: cells per side of each plane (ConvONet: 64)
    unet_depth: int = 4  #: 2D U-Net levels (ConvONet: 4)
    unet_filters: int = 32  #: 2D U-Net filters at the first level, doubled per level (ConvONet: 32)

    def validate(self) -> None:
        super().validate()
        _positive(self, "plane_resolution", "unet_depth", "unet_filters")
        if not self.planes or len(set(self.planes)) != len(self.planes) or any(p not in PLANES for p in self.planes):
            raise ValueError(
                f"{self.name or self.family}: planes must be distinct items of {PLANES}, got {self.planes}"
            )
        _halvable(self, "plane_resolution", self.unet_depth - 1, "unet_depth-1")


@dataclass
class ConvONetGridConfig(_ConvONetConfig):
    """ConvONet with one 3D feature grid processed by a 3D U-Net."""

    family: ClassVar[str] = "conv_onet_grid"

    grid_resolution: int = 32  #: cells per side of the feature volume (ConvONet: 32)
    unet_levels: int = 3  #: 3D U-Net levels (ConvONet grid32: 3)
    unet_filters: int = 32  #: 3D U-Net filters at the first level, doubled per level (ConvONet: 32)
    unet_groups: int = 8  #: GroupNorm groups in the 3D U-Net (pytorch-3dunet default: 8)
    #: cells per side of three axis-aligned detail planes (xz, xy, yz) whose features are added to the grid's at
    #: each query point: finer detail (thin walls) than the grid holds, at a 2D cost; 0 = none. The planes have
    #: their own local-pool PointNet (``detail_blocks``) and 2D U-Net (``detail_levels``, ``detail_filters``), and a
    #: zero-initialized 1x1 output, so a grid model grown with them computes what it did (``train --init``).
    detail_resolution: int = 0
    detail_blocks: int = 2  #: local-pool PointNet blocks of the detail planes
    detail_levels: int = 3  #: 2D U-Net levels of the detail planes
    detail_filters: int = 16  #: 2D U-Net filters at the detail planes' first level, doubled per level

    def validate(self) -> None:
        super().validate()
        _positive(self, "grid_resolution", "unet_levels", "unet_filters", "unet_groups")
        _halvable(self, "grid_resolution", self.unet_levels - 1, "unet_levels-1")
        if self.detail_resolution < 0:
            raise ValueError(
                f"{self.name or self.family}: detail_resolution must be >= 0, got {self.detail_resolution}"
            )
        if self.detail_resolution:
            _positive(self, "detail_blocks", "detail_levels", "detail_filters")
            _halvable(self, "detail_resolution", self.detail_levels - 1, "detail_levels-1")


@dataclass
class IFNetConfig(ModelConfig):
    """IF-Net (Chibane et al., CVPR 2020), ShapeNet128 point-cloud-completion variant.

    The input cloud is voxelized into ``resolution^3`` occupancy cells (inside the padded box), a 3D conv pyramid
    of ``len(channels)`` stages (max-pool 2 between stages) is built, and each query point reads features at itself
    and at six points ``±displacement`` along the axes, at the input grid and at every stage.
    """

    family: ClassVar[str] = "ifnet"

    resolution: int = 128  #: voxel grid side (IF-Net ShapeNet128: 128)
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)  #: conv stage widths (IF-Net: 16, 32, 64, 128, 128)
    displacement: float = 0.0361  #: offset in normalized units (IF-Net: 0.0722 in its [-1, 1] grid coordinates)
    decoder_hidden: int = 256  #: point-wise decoder width (IF-Net: 256)
    decoder_layers: int = 3  #: hidden layers of the point-wise decoder (IF-Net: fc_0, fc_1, fc_2)

    def validate(self) -> None:
        super().validate()
        _positive(self, "resolution", "decoder_hidden", "decoder_layers")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"{self.name or self.family}: channels must be positive ints, got {self.channels}")
        _halvable(self, "resolution", len(self.channels) - 1, "len(channels)-1")
        if not 0.0 <= self.displacement < 0.5:
            raise ValueError(f"{self.name or self.family}: displacement must be in [0, 0.5), got {self.displacement}")
