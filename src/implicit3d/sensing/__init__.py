"""Depth-sensor simulation: pinhole cameras, depth rendering of meshes, sensor noise, back-projection, files.

Conventions: camera frame OpenCV (x right, y down, z forward); poses are ``(4, 4)`` camera-to-world; depth is
z in metres, 0 = no return; pixel centres at integer pixel coordinates. See ``docs/sensing.md``.
"""

from implicit3d.sensing.camera import (
    INTRINSICS_PRESETS,
    Intrinsics,
    intrinsics_preset,
    invert_pose,
    look_at,
    sample_views,
)
from implicit3d.sensing.io import (
    SensingFileError,
    SensingFileNotFoundError,
    read_depth_png,
    read_intrinsics_json,
    write_depth_png,
    write_intrinsics_json,
)
from implicit3d.sensing.noise import NOISE_PRESETS, NoiseModel, estimate_normals, incidence_angle, noise_preset
from implicit3d.sensing.project import depth_to_points, points_to_depth, project
from implicit3d.sensing.render import RenderResult, render, render_depth, render_partial_view, set_render_threads

__all__ = [
    "INTRINSICS_PRESETS",
    "NOISE_PRESETS",
    "Intrinsics",
    "NoiseModel",
    "RenderResult",
    "SensingFileError",
    "SensingFileNotFoundError",
    "depth_to_points",
    "estimate_normals",
    "incidence_angle",
    "intrinsics_preset",
    "invert_pose",
    "look_at",
    "noise_preset",
    "points_to_depth",
    "project",
    "read_depth_png",
    "read_intrinsics_json",
    "render",
    "render_depth",
    "render_partial_view",
    "sample_views",
    "set_render_threads",
    "write_depth_png",
    "write_intrinsics_json",
]
