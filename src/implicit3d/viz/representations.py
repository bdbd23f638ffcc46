"""The four classic 3D representations of one object, computed from its mesh for the explanatory figures.

* depth image — what a depth camera sees (:func:`implicit3d.sensing.render`), one view, metres;
* point cloud — points sampled uniformly by area on the surface;
* voxel grid — a ``R³`` boolean occupancy grid (voxel centres inside the mesh, :func:`implicit3d.geometry.inside`),
  drawn as the exposed faces of the occupied cubes (:func:`voxel_surface_mesh`);
* mesh — the triangle mesh itself.

All lengths are in the mesh's units. Figures live in :mod:`implicit3d.viz.figures`; this module only computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

# For each of the six face directions (+x, -x, +y, -y, +z, -z): the neighbour offset and the four corners of the
# shared square, as offsets in {0, 1}^3 from the voxel's lower corner, ordered counter-clockwise seen from outside.
_DIRS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
_QUADS = np.array(
    [
        [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1]],  # +x
        [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0]],  # -x
        [[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 0]],  # +y
        [[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]],  # -y
        [[1, 0, 1], [1, 1, 1], [0, 1, 1], [0, 0, 1]],  # +z
        [[0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]],  # -z
    ],
    dtype=np.float64,
)


@dataclass
class Representations:
    """One object in four representations (mesh units, world frame).

    ``depth: (H, W) float32`` metres (0 = no return) seen from ``cam_to_world: (4, 4)``; ``points: (N, 3)``
    surface samples; ``voxels: (R, R, R) bool`` occupancy indexed ``[ix, iy, iz]`` over ``voxel_bounds: (2, 3)``;
    ``mesh`` the triangle mesh.
    """

    depth: np.ndarray
    cam_to_world: np.ndarray
    points: np.ndarray
    voxels: np.ndarray
    voxel_bounds: np.ndarray
    mesh: trimesh.Trimesh


def voxel_bounds_for(mesh: trimesh.Trimesh, padding: float = 0.05) -> np.ndarray:
    """``(2, 3)`` cubic box around ``mesh`` (longest bbox edge plus ``padding`` of it on each side), centred on it."""
    lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
    centre = (lo + hi) / 2.0
    half = float((hi - lo).max()) * (0.5 + padding)
    return np.stack([centre - half, centre + half])


def voxelize(mesh: trimesh.Trimesh, resolution: int, bounds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Solid voxelization: ``(occupancy (R, R, R) bool, bounds (2, 3))``; a voxel is occupied when its centre is
    inside ``mesh`` (:func:`implicit3d.geometry.inside`, robust to open meshes). Default bounds:
    :func:`voxel_bounds_for`."""
    from implicit3d.geometry.inside import inside

    if int(resolution) != resolution or resolution < 1:
        raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    r = int(resolution)
    bounds = voxel_bounds_for(mesh) if bounds is None else np.asarray(bounds, dtype=np.float64)
    if bounds.shape != (2, 3) or not np.all(bounds[1] > bounds[0]):
        raise ValueError(f"bounds must be (2, 3) with max > min on every axis, got {bounds.tolist()}")
    size = (bounds[1] - bounds[0]) / r
    idx = np.stack(np.meshgrid(*(np.arange(r),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    centres = bounds[0] + (idx + 0.5) * size
    return inside(mesh, centres).reshape(r, r, r), bounds


def voxel_surface_mesh(voxels: np.ndarray, bounds: np.ndarray) -> trimesh.Trimesh:
    """The exposed faces of the occupied cubes of ``voxels: (Rx, Ry, Rz) bool`` over ``bounds: (2, 3)`` as a
    triangle mesh (two triangles per exposed square, wound outwards). Interior faces between two occupied voxels
    are left out, so the mesh is the boundary of the voxel solid. An empty grid gives an empty mesh."""
    occ = np.asarray(voxels, dtype=bool)
    if occ.ndim != 3:
        raise ValueError(f"voxels must be a 3D boolean grid, got shape {occ.shape}")
    bounds = np.asarray(bounds, dtype=np.float64)
    if bounds.shape != (2, 3):
        raise ValueError(f"bounds must be shaped (2, 3), got {bounds.shape}")
    size = (bounds[1] - bounds[0]) / np.array(occ.shape)
    padded = np.pad(occ, 1)
    quads = []
    for d, corners in zip(_DIRS, _QUADS, strict=True):  # six directions, not a loop over voxels
        nb = padded[1 + d[0] : 1 + d[0] + occ.shape[0], 1 + d[1] : 1 + d[1] + occ.shape[1],
                    1 + d[2] : 1 + d[2] + occ.shape[2]]
        ijk = np.argwhere(occ & ~nb)  # (Q, 3) voxels whose face in direction d is exposed
        quads.append((ijk[:, None, :] + corners[None]) * size + bounds[0])  # (Q, 4, 3)
    q = np.concatenate(quads)
    vertices = q.reshape(-1, 3)
    base = 4 * np.arange(len(q))[:, None]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]]).astype(np.int64)
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)


def compute_representations(
    mesh: trimesh.Trimesh,
    rng: np.random.Generator | int | None = None,
    n_points: int = 2048,
    voxel_resolution: int = 32,
    image_scale: float = 0.5,
    distance: float = 0.6,
    elevation_deg: float = 25.0,
) -> Representations:
    """Depth image, surface point cloud and voxel grid of ``mesh`` (metres, z up).

    The depth camera (RealSense-D435-like intrinsics scaled by ``image_scale``) looks at the bounding-box centre
    from ``distance`` metres (grown so the whole object fits) at ``elevation_deg`` above the horizon, from a
    random azimuth drawn from ``rng``; no sensor noise (the noisy view is a separate figure).
    """
    from implicit3d.geometry.sampling import sample_surface
    from implicit3d.sensing import intrinsics_preset, look_at, render_depth

    rng = np.random.default_rng(rng)
    intr = intrinsics_preset("realsense_d435").scaled(image_scale)
    centre = np.asarray(mesh.bounds, dtype=np.float64).mean(axis=0)
    extent = float(np.ptp(np.asarray(mesh.bounds), axis=0).max())
    # keep the object inside ~80% of the vertical field of view
    fit = extent / (2.0 * np.tan(np.radians(intr.fov_y_deg) / 2.0) * 0.8)
    dist = max(float(distance), fit + extent / 2.0)
    az = rng.uniform(0.0, 2.0 * np.pi)
    el = np.radians(elevation_deg)
    eye = centre + dist * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    pose = look_at(eye, centre)
    depth = render_depth(mesh, intr, pose)
    points, _ = sample_surface(mesh, n_points, rng)
    voxels, vb = voxelize(mesh, voxel_resolution)
    return Representations(depth=depth, cam_to_world=pose, points=points, voxels=voxels, voxel_bounds=vb, mesh=mesh)
