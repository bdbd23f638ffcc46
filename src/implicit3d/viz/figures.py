"""Explanatory plotly figures: implicit vs explicit surfaces, inside/outside, SDF level sets, completions.

Every function takes plain arrays/meshes and returns a ``plotly.graph_objects.Figure``; computing the data is
the caller's job (see :mod:`implicit3d.viz.demo`). Colours: inside red, outside blue, in-between grey.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import trimesh
from plotly.subplots import make_subplots

from implicit3d.viz.traces import depth_trace, equal_axes_layout, mesh_trace, points_trace

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
        isomin=-radius**2 * 0.75, isomax=radius**2 * 0.75, surface_count=5, opacity=0.35,  # 0 is the middle one
        colorscale="RdBu", cmid=0.0,  # inside (f < 0) red, outside blue, as in every figure
        caps=dict(x_show=False, y_show=False, z_show=False),
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
    total: int | None = None,
) -> go.Figure:
    """Observed partial cloud ``(N, 3)`` with the completed mesh (and ground truth), toggled from the legend;
    ``total``: the points observed when ``input_points`` are a subsample of them (named in the legend)."""
    n = len(input_points)
    label = f"observed points ({total}, {n} drawn)" if total is not None and total > n else f"observed points ({n})"
    traces = [
        points_trace(input_points, name=label, color="#222222", size=1.8),
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


def representations_figure(
    depth: np.ndarray,
    points: np.ndarray,
    voxels: np.ndarray,
    voxel_bounds: np.ndarray,
    mesh: trimesh.Trimesh,
    title: str = "One object, four representations",
) -> go.Figure:
    """The same object as a depth image, a point cloud, a voxel grid and a triangle mesh, side by side (1 x 4).

    ``depth: (H, W)`` metres (0 = no return); ``points: (N, 3)``; ``voxels: (R, R, R) bool`` occupancy over
    ``voxel_bounds: (2, 3)``, drawn as the exposed faces of the occupied cubes (a ``Mesh3d``); ``mesh`` the
    surface. Traces, in order: ``Heatmap``, ``Scatter3d``, ``Mesh3d`` (voxels), ``Mesh3d`` (mesh).
    """
    from implicit3d.viz.representations import voxel_surface_mesh

    voxels = np.asarray(voxels, dtype=bool)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    cubes = voxel_surface_mesh(voxels, voxel_bounds)
    res = "x".join(str(n) for n in voxels.shape)
    fig = make_subplots(
        rows=1, cols=4, horizontal_spacing=0.02,
        specs=[[{"type": "xy"}, {"type": "scene"}, {"type": "scene"}, {"type": "scene"}]],
        subplot_titles=(
            "depth image (one view)",
            f"point cloud ({len(points)} points)",
            f"voxel grid ({res}, {int(voxels.sum())} occupied)",
            f"mesh ({len(mesh.vertices)} vertices, {len(mesh.faces)} triangles)",
        ),
    )
    fig.add_trace(depth_trace(depth, colorbar_x=0.22), row=1, col=1)
    fig.add_trace(points_trace(points, name="point cloud", color=points[:, 2], size=1.5), row=1, col=2)
    voxel_trace = mesh_trace(cubes, name="voxels", color="#e9a23b")
    voxel_trace.flatshading = True
    fig.add_trace(voxel_trace, row=1, col=3)
    fig.add_trace(mesh_trace(mesh, name="mesh", color="#8fbc8f"), row=1, col=4)
    scene = dict(aspectmode="data", xaxis=dict(visible=False), yaxis=dict(visible=False), zaxis=dict(visible=False))
    fig.update_layout(title=title, height=460, margin=dict(l=10, r=10, t=70, b=10), showlegend=False,
                      scene=scene, scene2=scene, scene3=scene)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_xaxes(title_text="u (px)", row=1, col=1)
    return fig


def partial_view_figure(
    depth: np.ndarray,
    points: np.ndarray,
    mesh: trimesh.Trimesh | None = None,
    cam_to_world: np.ndarray | None = None,
    title: str = "A noisy partial view",
    max_points: int = 20_000,
) -> go.Figure:
    """A simulated sensor view: the noisy depth image (left) and its back-projected cloud in 3D (right).

    ``depth: (H, W)`` metres; ``points: (N, 3)`` world frame (at most ``max_points`` drawn, evenly spread);
    ``mesh``: the true object, hidden until clicked in the legend; ``cam_to_world: (4, 4)``: the camera, drawn as
    a marker with its viewing direction. Traces: ``Heatmap``, ``Scatter3d`` (points), then optionally ``Mesh3d``
    (object) and ``Scatter3d`` (camera).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    n = len(points)
    shown = points[np.linspace(0, n - 1, max_points).astype(np.int64)] if n > max_points else points
    label = f"{n} points" + (f", {len(shown)} drawn" if len(shown) < n else "")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.4, 0.6], horizontal_spacing=0.06,
                        specs=[[{"type": "xy"}, {"type": "scene"}]],
                        subplot_titles=("noisy depth image", f"back-projected cloud ({label})"))
    fig.add_trace(depth_trace(depth, colorbar_x=0.36), row=1, col=1)
    fig.add_trace(points_trace(shown, name=f"observed points ({n})", color="#222222", size=1.5),
                  row=1, col=2)
    if mesh is not None:
        fig.add_trace(mesh_trace(mesh, name="true object (hidden side included)", color="#5b8e7d", opacity=0.5,
                                 visible="legendonly"), row=1, col=2)
    if cam_to_world is not None:
        pose = np.asarray(cam_to_world, dtype=np.float64)
        eye = pose[:3, 3]
        reach = float(np.linalg.norm(points.mean(axis=0) - eye)) if len(points) else 0.1
        tip = eye + pose[:3, 2] * reach * 0.3
        fig.add_trace(go.Scatter3d(x=[eye[0], tip[0]], y=[eye[1], tip[1]], z=[eye[2], tip[2]],
                                   mode="lines+markers", marker=dict(size=[6, 1], color="#d62728"),
                                   line=dict(color="#d62728", width=4), name="camera (looking along +z)"),
                      row=1, col=2)
    fig.update_layout(title=title, height=500, margin=dict(l=10, r=10, t=70, b=10),
                      scene=dict(aspectmode="data"), legend=dict(itemsizing="constant", x=0.45, y=0.0))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, title_text="v (px)", row=1, col=1)
    fig.update_xaxes(title_text="u (px)", row=1, col=1)
    return fig


def point_cloud_figure(
    points: np.ndarray,
    normals: np.ndarray | None = None,
    mesh: trimesh.Trimesh | None = None,
    title: str = "Point cloud",
) -> go.Figure:
    """Points ``(N, 3)`` coloured by height; optional ``normals (N, 3)`` as short line segments (at most 2000
    drawn) and an optional ``mesh`` (hidden until clicked in the legend)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    traces: list = [points_trace(points, name=f"points ({len(points)})", color=points[:, 2], size=1.8)]
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
        if normals.shape != points.shape:
            raise ValueError(f"normals {normals.shape} must match points {points.shape}")
        idx = np.linspace(0, len(points) - 1, min(len(points), 2000)).astype(np.int64)
        length = 0.03 * float(np.ptp(points, axis=0).max() or 1.0)
        seg = np.full((len(idx) * 3, 3), np.nan)
        seg[0::3] = points[idx]
        seg[1::3] = points[idx] + length * normals[idx]
        traces.append(go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", name="normals",
                                   line=dict(color="#d62728", width=1), hoverinfo="skip", visible="legendonly"))
    if mesh is not None:
        traces.append(mesh_trace(mesh, name="mesh", color="#cccccc", opacity=0.4, visible="legendonly"))
    fig = go.Figure(traces)
    fig.update_layout(**equal_axes_layout(title))
    return fig


OBJECT_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe",
                 "#008080", "#9a6324", "#800000")


def scene_figure(result: object, color: np.ndarray | None = None, max_points: int = 40_000) -> go.Figure:
    """A completed tabletop scene (:class:`implicit3d.scene.SceneResult`) in the camera frame: the observed points
    coloured by object (or by ``color (H, W, 3)``, the registered RGB image), each completion coloured by its
    per-vertex uncertainty (the softness away from the measured points; its legend entry gives the object's
    undecided ratio), the support plane's patch, each object's box standing on the table (off until picked in the
    legend) and the camera; buttons switch between an overview and the view
    from the sensor. Axes in metres (OpenCV camera frame: y down, z forward)."""
    from implicit3d.scene import table_mesh

    r = result
    rng = np.random.default_rng(0)
    traces: list[go.BaseTraceType] = []
    bg = r.valid & (r.labels == 0)
    bg_pts = r.points_map[bg]
    if len(bg_pts) > max_points // 2:
        bg_pts = bg_pts[rng.choice(len(bg_pts), max_points // 2, replace=False)]
    traces.append(points_trace(bg_pts, "rest of the frame", "#b0b0b0", size=1.2, opacity=0.4, visible="legendonly"))
    for i, obj in enumerate(r.objects):
        pts, pix = obj.points, obj.pixels
        if len(pts) > max_points // max(1, len(r.objects)):
            keep = rng.choice(len(pts), max_points // max(1, len(r.objects)), replace=False)
            pts, pix = pts[keep], pix[keep]
        if color is not None:
            rgb = np.asarray(color)[pix[:, 0], pix[:, 1], :3]
            c: str | list[str] = [f"rgb({a},{b},{d})" for a, b, d in rgb]
        else:
            c = OBJECT_COLORS[i % len(OBJECT_COLORS)]
        traces.append(points_trace(pts, f"object {i + 1}: observed ({len(obj.points)} points)", c, size=1.6))
        m = obj.mesh
        if len(m.faces):
            v, f = np.asarray(m.vertices), np.asarray(m.faces)
            traces.append(go.Mesh3d(
                x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], intensity=obj.uncertainty,
                colorscale=[[0, "rgb(60,110,220)"], [1, "rgb(220,50,40)"]], cmin=0.0, cmax=1.0, opacity=0.85,
                name=f"object {i + 1}: completion" + ("" if obj.undecided_ratio is None
                                                      else f" (undecided ratio {obj.undecided_ratio:.2f})"),
                showlegend=True, showscale=i == 0,
                colorbar=dict(title="uncertainty", x=1.0, len=0.5), hovertext=[f"{u:.2f}" for u in obj.uncertainty],
                hoverinfo="name+text", lighting=dict(ambient=0.5, diffuse=0.7, specular=0.1),
            ))
    if r.table_outline is not None:
        traces.append(mesh_trace(table_mesh(r.table_outline), "support plane", "#c9a36b", opacity=0.35))
    if r.plane is not None and r.objects:  # scene.json's boxes standing on the table, one trace of 12 edges each
        from implicit3d.geometry.boxes import upright_box

        edges = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]
        lines = []
        for obj in r.objects:
            if len(obj.mesh.vertices):
                corners = upright_box(obj.mesh.vertices, r.plane.normal).corners()
                for a, b in edges:
                    lines += [corners[a], corners[b], np.full(3, np.nan)]
        if lines:
            xyz = np.array(lines)
            traces.append(go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="lines", name="boxes on the table "
                                       "(scene.json)", line=dict(color="#333333", width=3), visible="legendonly",
                                       hoverinfo="skip"))
    traces.append(go.Scatter3d(x=[0], y=[0], z=[0], mode="markers+text", text=["camera"], name="camera",
                               marker=dict(size=5, color="black", symbol="diamond")))
    fig = go.Figure(traces)
    sensor = dict(eye=dict(x=0, y=0, z=-0.01), center=dict(x=0, y=0, z=0), up=dict(x=0, y=-1, z=0))
    overview = dict(eye=dict(x=1.2, y=-1.4, z=-1.0), center=dict(x=0, y=0, z=0), up=dict(x=0, y=-1, z=0))
    n = len(r.objects)
    fig.update_layout(
        title=f"{n} object{'s' if n != 1 else ''} completed from one depth frame ({r.model}); camera frame, metres",
        autosize=True, margin=dict(l=0, r=0, t=40, b=0), legend=dict(itemsizing="constant"),
        scene=dict(aspectmode="data", xaxis_title="x (m)", yaxis_title="y (m, down)", zaxis_title="z (m, forward)",
                   camera=overview),
        updatemenus=[dict(type="buttons", direction="right", x=0.0, y=1.0, xanchor="left", yanchor="top", buttons=[
            dict(label="overview", method="relayout", args=[{"scene.camera": overview}]),
            dict(label="view from the sensor", method="relayout", args=[{"scene.camera": sensor}]),
        ])],
    )
    return fig
