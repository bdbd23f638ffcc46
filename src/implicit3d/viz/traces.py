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
