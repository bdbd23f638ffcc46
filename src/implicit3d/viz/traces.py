"""Small plotly trace builders shared by the figures (meshes, point clouds)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import trimesh


def mesh_trace(
    mesh: trimesh.Trimesh,
    name: str = "mesh",
    color: str = "#c8a2c8",
    opacity: float = 1.0,
    showlegend: bool = True,
    visible: bool | str = True,
) -> go.Mesh3d:
    """A ``Mesh3d`` trace of a triangle mesh with flat-ish lighting. Vertices ``(V, 3)``, faces ``(F, 3)``."""
    v = np.asarray(mesh.vertices)
    f = np.asarray(mesh.faces)
    return go.Mesh3d(
        x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
        color=color, opacity=opacity, name=name, showlegend=showlegend, visible=visible,
        flatshading=False, lighting=dict(ambient=0.45, diffuse=0.8, specular=0.2, roughness=0.6),
        lightposition=dict(x=100, y=200, z=300), hoverinfo="name",
    )


def points_trace(
    points: np.ndarray,
    name: str = "points",
    color: str | np.ndarray = "#1f77b4",
    size: float = 2.0,
    opacity: float = 1.0,
    visible: bool | str = True,
    colorscale: str | None = None,
    colorbar_title: str | None = None,
    hovertext: list[str] | np.ndarray | None = None,
) -> go.Scatter3d:
    """A ``Scatter3d`` marker trace of ``points: (N, 3)``; ``color`` a CSS colour or ``(N,)`` values."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    marker: dict = dict(size=size, color=color, opacity=opacity)
    if colorscale is not None:
        marker.update(colorscale=colorscale, showscale=True)
        if colorbar_title:
            marker["colorbar"] = dict(title=colorbar_title)
    return go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", marker=marker, name=name, visible=visible,
        hovertext=hovertext, hoverinfo="text+name" if hovertext is not None else "name",
    )


def equal_axes_layout(title: str | None = None, height: int = 520) -> dict:
    """Layout with a cube aspect ratio (so spheres look round) and tight margins."""
    return dict(
        title=title,
        height=height,
        margin=dict(l=0, r=0, t=40 if title else 10, b=0),
        scene=dict(aspectmode="data", xaxis_title="x", yaxis_title="y", zaxis_title="z"),
        legend=dict(itemsizing="constant"),
    )


def crop_to_valid(depth: np.ndarray, margin: int = 4) -> tuple[np.ndarray, int, int]:
    """Crop ``depth: (H, W)`` to the bounding box of its valid (finite, > 0) pixels plus ``margin``.

    Returns ``(crop (h, w), u0, v0)``: the crop and the column / row of its top-left pixel in the full image.
    An image without valid pixels is returned whole.
    """
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"depth must be an (H, W) image, got shape {d.shape}")
    valid = np.isfinite(d) & (d > 0)
    rows, cols = np.nonzero(valid.any(axis=1))[0], np.nonzero(valid.any(axis=0))[0]
    if rows.size == 0:
        return d, 0, 0
    v0, v1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, d.shape[0])
    u0, u1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, d.shape[1])
    return d[v0:v1, u0:u1], int(u0), int(v0)


def depth_trace(
    depth: np.ndarray,
    name: str = "depth",
    crop: bool = True,
    colorbar_x: float | None = None,
    max_pixels: int = 60_000,
) -> go.Heatmap:
    """A ``Heatmap`` of ``depth: (H, W)`` metres; pixels without a return (0, NaN) are left blank.

    With ``crop`` only the bounding box of the valid pixels is drawn (axes keep full-image pixel coordinates:
    x = column u, y = row v). Images larger than ``max_pixels`` are shown every ``k``-th row and column (keeps the
    HTML small). Hover shows the pixel and its depth in metres.
    """
    d, u0, v0 = crop_to_valid(depth) if crop else (np.asarray(depth, dtype=np.float64), 0, 0)
    k = max(1, int(np.ceil(np.sqrt(d.size / max_pixels))))
    d = d[::k, ::k]
    z = np.where(np.isfinite(d) & (d > 0), d, np.nan)
    colorbar: dict = dict(title="depth (m)")
    if colorbar_x is not None:
        colorbar.update(x=colorbar_x, len=0.8)
    return go.Heatmap(
        z=z, x=u0 + k * np.arange(z.shape[1]), y=v0 + k * np.arange(z.shape[0]), colorscale="Viridis",
        colorbar=colorbar, name=name, hoverongaps=False,
        hovertemplate="u=%{x} v=%{y}<br>depth=%{z:.4f} m<extra></extra>",
    )
