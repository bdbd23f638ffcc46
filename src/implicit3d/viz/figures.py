"""Explanatory plotly figures: implicit vs explicit surfaces, inside/outside, SDF level sets, completions.

Every function takes plain arrays/meshes and returns a ``plotly.graph_objects.Figure``; computing the data is
the caller's job (see :mod:`implicit3d.commands.demo`). Colours: inside red, outside blue, in-between grey.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import trimesh

from implicit3d.viz.traces import equal_axes_layout, mesh_trace, points_trace

INSIDE_COLOR = "#d62728"
OUTSIDE_COLOR = "#1f77b4"
BETWEEN_COLOR = "#9e9e9e"


def implicit_sphere_figure(radius: float = 0.4, resolution: int = 32) -> go.Figure:
    """A sphere as an explicit triangle mesh vs. as the implicit field ``f(x) = x²+y²+z²−r²``.

    Two views toggled by buttons: the mesh (explicit: vertices + faces), and the field sampled on a
    ``resolution³`` grid shown as nested iso-surfaces ``f = c`` (the sphere is the ``f = 0`` one).
    """
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    ext = 1.5 * radius
    ax = np.linspace(-ext, ext, resolution)
    x, y, z = np.meshgrid(ax, ax, ax, indexing="ij")
    f = x**2 + y**2 + z**2 - radius**2
    explicit = mesh_trace(mesh, name="explicit mesh (vertices + triangles)", color="#8fbc8f")
    wire = _wireframe_trace(mesh)
    implicit = go.Isosurface(
        x=x.ravel(), y=y.ravel(), z=z.ravel(), value=f.ravel(),
        isomin=-radius**2 * 0.75, isomax=radius**2 * 1.2, surface_count=5, opacity=0.35,
        colorscale="RdBu_r", cmid=0.0, caps=dict(x_show=False, y_show=False, z_show=False),
        colorbar=dict(title="f(x)"), name="implicit field f = x²+y²+z²−r²", visible=False,
        hovertemplate="f = %{value:.3f}<extra></extra>",
    )
    fig = go.Figure([explicit, wire, implicit])
    fig.update_layout(**equal_axes_layout(f"Sphere of radius {radius}: explicit vs implicit"))
    fig.update_layout(
        updatemenus=[dict(
            type="buttons", direction="right", x=0.0, y=1.08, xanchor="left",
            buttons=[
                dict(label="explicit surface", method="update", args=[{"visible": [True, True, False]}]),
                dict(label="implicit field", method="update", args=[{"visible": [False, False, True]}]),
                dict(label="both", method="update", args=[{"visible": [True, False, True]}]),
            ],
        )]
    )
    return fig


def _wireframe_trace(mesh: trimesh.Trimesh, color: str = "#2f4f4f") -> go.Scatter3d:
    edges = mesh.edges_unique
    v = mesh.vertices
    seg = np.full((len(edges) * 3, 3), np.nan)
    seg[0::3] = v[edges[:, 0]]
    seg[1::3] = v[edges[:, 1]]
    return go.Scatter3d(
        x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", line=dict(color=color, width=1),
        name="triangle edges", hoverinfo="skip",
    )


def inside_outside_figure(
    mesh: trimesh.Trimesh,
    points: np.ndarray,
    sdf: np.ndarray,
    band: float = 0.0,
    title: str = "Inside / outside classification",
) -> go.Figure:
    """Points around a mesh coloured by class: inside (``sdf < -band``) red, outside blue, within ``band`` grey.

    ``points: (N, 3)``, ``sdf: (N,)`` signed distances (negative inside). ``band`` in the points' units.
    """
    points = np.asarray(points)
    sdf = np.asarray(sdf)
    inside = sdf < -band
    outside = sdf > band
    between = ~(inside | outside)
    traces = [mesh_trace(mesh, name="surface", color="#cccccc", opacity=0.25)]
    for mask, name, color in (
        (inside, "inside", INSIDE_COLOR),
        (outside, "outside", OUTSIDE_COLOR),
        (between, "in-between (|sdf| ≤ band)", BETWEEN_COLOR),
    ):
        if mask.any():
            hover = [f"sdf = {d:+.4f}" for d in sdf[mask]]
            traces.append(points_trace(points[mask], name=f"{name} ({int(mask.sum())})", color=color, size=2.5,
                                       hovertext=hover))
    fig = go.Figure(traces)
    fig.update_layout(**equal_axes_layout(title))
    return fig


def sdf_slice_figure(
    sdf_fn: Callable[[np.ndarray], np.ndarray],
    bounds: np.ndarray,
    axis: int = 1,
    offset: float = 0.0,
    resolution: int = 160,
    n_levels: int = 14,
    title: str | None = None,
) -> go.Figure:
    """Cross-section of a signed distance field: filled level sets, level lines, the zero level bold.

    ``sdf_fn: (N, 3) -> (N,)``; ``bounds: (2, 3)``; the slice is the plane ``x[axis] = offset``.
    Hovering shows the SDF value at each point.
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    keep = [a for a in range(3) if a != axis]
    u = np.linspace(bounds[0, keep[0]], bounds[1, keep[0]], resolution)
    v = np.linspace(bounds[0, keep[1]], bounds[1, keep[1]], resolution)
    uu, vv = np.meshgrid(u, v, indexing="xy")
    pts = np.zeros((uu.size, 3))
    pts[:, keep[0]] = uu.ravel()
    pts[:, keep[1]] = vv.ravel()
    pts[:, axis] = offset
    vals = np.asarray(sdf_fn(pts), dtype=np.float64).reshape(uu.shape)
    vmax = float(np.abs(vals).max()) or 1.0
    names = "xyz"
    step = 2 * vmax / n_levels
    fill = go.Contour(
        x=u, y=v, z=vals, colorscale="RdBu", zmid=0.0,
        contours=dict(start=-vmax, end=vmax, size=step, coloring="heatmap", showlines=True),
        line=dict(width=0.6, color="rgba(0,0,0,0.35)"), colorbar=dict(title="SDF"), name="SDF",
        hovertemplate=f"{names[keep[0]]}=%{{x:.3f}}<br>{names[keep[1]]}=%{{y:.3f}}<br>SDF=%{{z:.4f}}<extra></extra>",
    )
    zero = go.Contour(
        x=u, y=v, z=vals, showscale=False, contours=dict(start=0, end=0, size=1, coloring="none"),
        line=dict(width=3, color="black"), name="surface (SDF = 0)", hoverinfo="skip", showlegend=True,
    )
    fig = go.Figure([fill, zero])
    fig.update_layout(
        title=title or f"Signed distance on the plane {names[axis]} = {offset:g}",
        xaxis_title=names[keep[0]], yaxis_title=names[keep[1]], height=520,
        yaxis=dict(scaleanchor="x", scaleratio=1), margin=dict(l=40, r=10, t=50, b=40),
    )
    return fig


def occupancy_probability_figure(
    points: np.ndarray, probabilities: np.ndarray, mesh: trimesh.Trimesh | None = None, title: str | None = None
) -> go.Figure:
    """Query points coloured by a model's occupancy probability ``(N,)`` in [0, 1]."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    traces = []
    if mesh is not None:
        traces.append(mesh_trace(mesh, name="ground truth", color="#cccccc", opacity=0.2))
    hover = [f"p(occupied) = {p:.3f}" for p in probabilities]
    traces.append(points_trace(points, name="p(occupied)", color=probabilities, colorscale="RdBu_r",
                               colorbar_title="p", size=2.5, hovertext=hover))
    traces[-1].marker.cmin = 0.0
    traces[-1].marker.cmax = 1.0
    fig = go.Figure(traces)
    fig.update_layout(**equal_axes_layout(title or "Predicted occupancy probability"))
    return fig


def completion_figure(
    input_points: np.ndarray,
    mesh: trimesh.Trimesh,
    ground_truth: trimesh.Trimesh | None = None,
    title: str = "Partial depth cloud and completed mesh",
) -> go.Figure:
    """Observed partial cloud ``(N, 3)`` with the completed mesh (and ground truth), toggled from the legend."""
    traces = [
        points_trace(input_points, name=f"observed points ({len(input_points)})", color="#222222", size=1.8),
        mesh_trace(mesh, name="completed mesh", color="#f4a259", opacity=0.85),
    ]
    if ground_truth is not None:
        traces.append(mesh_trace(ground_truth, name="ground truth", color="#5b8e7d", opacity=0.5,
                                 visible="legendonly"))
    fig = go.Figure(traces)
    fig.update_layout(**equal_axes_layout(title))
    return fig


def completion_grid_figure(
    results: Sequence[tuple[str, np.ndarray, trimesh.Trimesh]], cols: int = 3, spacing: float = 1.4
) -> go.Figure:
    """Several ``(label, input_points, mesh)`` results laid out side by side in one 3D scene.

    Each object is re-centred and placed on a grid ``spacing`` × its size apart.
    """
    traces = []
    size = max(float(np.ptp(m.vertices, axis=0).max()) for _, _, m in results) if results else 1.0
    for idx, (label, pts, mesh) in enumerate(results):
        centre = mesh.bounds.mean(axis=0)
        shift = np.array([(idx % cols) * size * spacing, -(idx // cols) * size * spacing, 0.0]) - centre
        moved = mesh.copy()
        moved.apply_translation(shift)
        traces.append(points_trace(np.asarray(pts) + shift, name=f"{label}: input", color="#222222", size=1.5))
        traces.append(mesh_trace(moved, name=f"{label}: completion", color="#f4a259", opacity=0.85))
    fig = go.Figure(traces)
    fig.update_layout(**equal_axes_layout("Completions"))
    return fig
