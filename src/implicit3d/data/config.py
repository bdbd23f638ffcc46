"""The ``data:`` section of a run file: which dataset, which inputs and queries, which augmentations.

One typed object, read with :func:`implicit3d.typed_config.from_dict` (unknown keys and bad values are refused with
the key named) and given whole to :class:`implicit3d.data.dataset.ImplicitDataset`.
"""

from __future__ import annotations

from dataclasses import dataclass

from implicit3d.geometry.frames import NORMALIZATIONS, POSES, VISIBLE_DEPTHS, VISIBLE_EXTENT

INPUTS = ("surface", "partial")
POINT_SOURCES = ("uniform", "near", "mixed")
VAL_MIN_POINTS = 8192  #: validation queries per shape at least (IoU over uniform points, as the papers measure it)


@dataclass
class DataConfig:
    """Dataset settings. Inputs: ``input`` ``"surface"`` (surface samples) or ``"partial"`` (one of the K depth views,
    picked at random), ``n_inputs`` points (fewer are resampled with replacement). Queries: ``n_points`` from
    ``points_source`` ``"uniform"`` (cube), ``"near"`` (near-surface) or ``"mixed"`` (half each). Augmentation:
    ``pose`` (see :data:`implicit3d.geometry.frames.POSES`), uniform random ``scale_range``, Gaussian input ``noise``
    (std, normalized units); ``sparse_inputs``: probability that a partial view keeps only ``k`` of its points, ``k``
    log-uniform in ``[sparse_min, n_inputs]`` (a far or small object seen by a real sensor gives a few hundred points,
    the renders thousands). Frame: ``normalize`` ``"object"`` (the stored frame) or ``"visible"`` (the observed
    input's own box, longest edge ``visible_extent``; ``visible_depth: footprint`` deepens it behind its front to its
    smaller side across the line of sight, for ``pose: camera``). Validation uses ``val_points_source`` and
    ``val_n_points`` (default: ``max(n_points, 8192)``) without query augmentation. ``seed`` (default:
    ``train.seed``) seeds every item; ``cache`` keeps loaded files in memory.
    """

    root: str = ""  #: dataset folder built by `implicit3d prepare`
    input: str = "surface"  #: surface | partial
    n_inputs: int = 2048  #: input points per item
    n_points: int = 2048  #: query points per item
    points_source: str = "uniform"  #: uniform | near | mixed
    noise: float = 0.0  #: std of Gaussian input noise, normalized units
    drop_outliers: float = 0.0  #: probability that a partial view loses its statistical outliers (flying pixels)
    sparse_inputs: float = 0.0  #: probability that an item's input is thinned to a random count (see above)
    sparse_min: int = 200  #: fewest input points a thinned item keeps
    pose: str = "canonical"  #: canonical | yaw | so3 | view | camera | gravity
    scale_range: tuple[float, float] | None = None  #: uniform random scale (lo, hi), or none
    normalize: str = "object"  #: object | visible
    visible_extent: float = VISIBLE_EXTENT  #: longest edge of the observed box with normalize: visible
    visible_depth: str = "observed"  #: observed | footprint (room behind shallow views; pose: camera)
    seed: int | None = None  #: item seed (default: train.seed)
    cache: bool = False  #: keep loaded files in memory
    val_points_source: str = "uniform"  #: query source of the validation split
    val_n_points: int | None = None  #: validation queries per shape (default max(n_points, 8192))

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad value."""
        for name, allowed in (("input", INPUTS), ("points_source", POINT_SOURCES), ("pose", POSES),
                              ("normalize", NORMALIZATIONS), ("val_points_source", POINT_SOURCES),
                              ("visible_depth", VISIBLE_DEPTHS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"data.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.pose in ("view", "camera", "gravity") and self.input != "partial":
            raise ValueError(f'data.pose "{self.pose}" uses the recorded poses of a depth view: needs input: partial')
        if self.visible_depth != "observed" and (self.normalize != "visible" or self.pose != "camera"):
            raise ValueError(f'data.visible_depth "{self.visible_depth}" deepens the observed box along the line of '
                             f'sight: needs normalize: visible and pose: camera')
        if not 0.0 < self.visible_extent <= 1.0:
            raise ValueError(f"data.visible_extent must be in (0, 1], got {self.visible_extent}")
        for name in ("n_inputs", "n_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.val_n_points is not None and self.val_n_points < 1:
            raise ValueError(f"data.val_n_points must be >= 1, got {self.val_n_points}")
        if not 0.0 <= self.drop_outliers <= 1.0:
            raise ValueError(f"data.drop_outliers is a probability in [0, 1], got {self.drop_outliers}")
        if not 0.0 <= self.sparse_inputs <= 1.0:
            raise ValueError(f"data.sparse_inputs is a probability in [0, 1], got {self.sparse_inputs}")
        if self.sparse_min < 1:
            raise ValueError(f"data.sparse_min must be >= 1, got {self.sparse_min}")
        if not self.noise >= 0:
            raise ValueError(f"data.noise must be >= 0, got {self.noise}")
        if self.scale_range is not None and not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"data.scale_range must satisfy 0 < lo <= hi, got {list(self.scale_range)}")

    def for_validation(self) -> DataConfig:
        """The settings of the validation split: uniform queries (volumetric IoU as the ONet / ConvONet papers
        measure it), at least :data:`VAL_MIN_POINTS` of them; inputs as in training."""
        import dataclasses

        n = self.val_n_points if self.val_n_points is not None else max(self.n_points, VAL_MIN_POINTS)
        return dataclasses.replace(self, points_source=self.val_points_source, n_points=n)
