"""Mesh simplification for extracted surfaces.

:func:`simplify_mesh` uses quadric decimation (``trimesh.Trimesh.simplify_quadric_decimation``) when its backend,
the optional ``fast_simplification`` package, is installed, and otherwise falls back to :func:`vertex_clustering`,
a dependency-free, vectorized method: vertices are merged per cubic cell of a regular grid. Clustering keeps the
shape to within about one cell but, unlike quadric decimation, can produce non-manifold edges where two sheets of
the surface pass through one cell; keep the cell well below the thinnest wall.
"""

from __future__ import annotations

import numpy as np
import trimesh

from implicit3d.geometry.validation import as_mesh_arrays


def has_quadric_decimation() -> bool:
    """Whether ``fast_simplification`` (trimesh's quadric decimation backend) is importable."""
    try:
        import fast_simplification  # noqa: F401
    except ImportError:
        return False
    return True


def vertex_clustering(mesh: trimesh.Trimesh, cell_size: float) -> trimesh.Trimesh:
    """Merge all vertices that fall in the same cube of edge ``cell_size`` into their mean.

    Faces whose corners merge into fewer than 3 clusters are dropped, as are duplicates of a face (same three
    clusters in any order; the first one's winding is kept). Returns a new mesh without unreferenced vertices.
    """
    if not (np.isfinite(cell_size) and cell_size > 0):
        raise ValueError(f"cell_size must be a positive number, got {cell_size!r}")
    v, f = as_mesh_arrays(mesh)
    keys = np.floor((v - v.min(axis=0)) / cell_size).astype(np.int64)
    _, cluster, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    cluster = cluster.reshape(-1)
    centers = np.stack([np.bincount(cluster, weights=v[:, a]) for a in range(3)], axis=1) / counts[:, None]
    nf = cluster[f]
    keep = (nf[:, 0] != nf[:, 1]) & (nf[:, 1] != nf[:, 2]) & (nf[:, 0] != nf[:, 2])
    nf = nf[keep]
    if len(nf):
        _, first = np.unique(np.sort(nf, axis=1), axis=0, return_index=True)
        nf = nf[np.sort(first)]
    out = trimesh.Trimesh(vertices=centers, faces=nf, process=False)
    out.remove_unreferenced_vertices()
    return out


def simplify_mesh(mesh: trimesh.Trimesh, face_count: int) -> trimesh.Trimesh:
    """Reduce ``mesh`` to about ``face_count`` faces (exactly when quadric decimation is available).

    Without ``fast_simplification`` the vertex-clustering cell is sized from the surface area so that the result
    has roughly ``face_count`` faces (a cell of edge ``h`` on a smooth surface yields about ``2 * area / h^2``
    faces), with one correction step. A mesh already below ``face_count`` is returned unchanged.
    """
    if isinstance(face_count, bool) or not isinstance(face_count, (int, np.integer)) or face_count < 4:
        raise ValueError(f"face_count must be an int >= 4, got {face_count!r}")
    if len(mesh.faces) <= face_count:
        return mesh
    if has_quadric_decimation():  # pragma: no cover - optional backend not installed in CI
        return mesh.simplify_quadric_decimation(face_count=int(face_count))
    area = float(mesh.area)
    cell = np.sqrt(2.0 * area / face_count)
    out = vertex_clustering(mesh, cell)
    if len(out.faces) > 0:
        cell *= np.sqrt(len(out.faces) / face_count)
        out = vertex_clustering(mesh, cell)
    return out
