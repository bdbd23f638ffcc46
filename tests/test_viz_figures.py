"""Figures are checked for their content (trace types, counts, data), not only that a file exists."""

import json

import numpy as np
import plotly.graph_objects as go
import trimesh

from implicit3d.viz.figures import (
    completion_figure,
    completion_grid_figure,
    implicit_sphere_figure,
    inside_outside_figure,
    occupancy_probability_figure,
    partial_view_figure,
    point_cloud_figure,
    representations_figure,
    sdf_slice_figure,
)
from implicit3d.viz.report import Section, render_report, write_figure, write_report
from implicit3d.viz.representations import compute_representations, voxel_surface_mesh, voxelize
from implicit3d.viz.traces import crop_to_valid, depth_trace
from plotly_html import figures_in_html


def test_implicit_sphere_has_mesh_and_field_with_toggle():
    fig = implicit_sphere_figure(radius=0.4, resolution=12)
    kinds = [type(t).__name__ for t in fig.data]
    assert kinds == ["Mesh3d", "Scatter3d", "Isosurface"]
    iso = fig.data[2]
    # the field really is x²+y²+z²−r²
    x, y, z, v = (np.asarray(getattr(iso, a)) for a in ("x", "y", "z", "value"))
    np.testing.assert_allclose(v, x**2 + y**2 + z**2 - 0.16, atol=1e-12)
    # the sphere (f = 0) is one of the drawn iso-surfaces, and inside is red (low end), as in every figure
    levels = np.linspace(iso.isomin, iso.isomax, iso.surface.count)
    assert np.isclose(levels, 0.0).any() and iso.cmid == 0.0
    assert iso.colorscale[0][1] == "rgb(103,0,31)"
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["explicit surface", "implicit field", "both"]
    # mesh vertices lie on the sphere
    m = fig.data[0]
    r = np.sqrt(np.asarray(m.x) ** 2 + np.asarray(m.y) ** 2 + np.asarray(m.z) ** 2)
    np.testing.assert_allclose(r, 0.4, atol=1e-9)


def test_inside_outside_counts_match_classes():
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, (500, 3))
    sdf = np.linalg.norm(pts, axis=1) - 0.3
    fig = inside_outside_figure(mesh, pts, sdf, band=0.02)
    names = [t.name for t in fig.data]
    assert isinstance(fig.data[0], go.Mesh3d)
    n_in, n_out = int((sdf < -0.02).sum()), int((sdf > 0.02).sum())
    assert f"inside ({n_in})" in names and f"outside ({n_out})" in names
    total = sum(len(t.x) for t in fig.data[1:])
    assert total == 500
    inside_trace = next(t for t in fig.data if t.name.startswith("inside"))
    assert np.all(np.linalg.norm(np.c_[inside_trace.x, inside_trace.y, inside_trace.z], axis=1) < 0.3)


def test_sdf_slice_values_and_zero_level():
    fig = sdf_slice_figure(lambda p: np.linalg.norm(p, axis=1) - 0.25, np.array([[-0.5] * 3, [0.5] * 3]),
                           axis=2, resolution=41)
    fill, zero = fig.data
    z = np.asarray(fill.z)
    assert z.shape == (41, 41)
    assert z[20, 20] == -0.25  # centre of the slice through the origin
    assert zero.contours.start == 0 and zero.contours.end == 0


def test_probability_and_completion_figures():
    pts = np.random.default_rng(1).normal(size=(100, 3))
    fig = occupancy_probability_figure(pts, np.linspace(0, 1, 100))
    assert fig.data[-1].marker.cmin == 0 and fig.data[-1].marker.cmax == 1
    mesh = trimesh.creation.box()
    fig = completion_figure(pts, mesh, ground_truth=mesh)
    assert [type(t).__name__ for t in fig.data] == ["Scatter3d", "Mesh3d", "Mesh3d"]
    assert fig.data[2].visible == "legendonly"
    assert fig.data[0].name == "observed points (100)"
    assert completion_figure(pts, mesh, total=5000).data[0].name == "observed points (5000, 100 drawn)"
    grid = completion_grid_figure([("a", pts, mesh), ("b", pts, mesh)])
    assert len(grid.data) == 4


def test_report_embeds_plotly_once_and_holds_data(tmp_path):
    fig = sdf_slice_figure(lambda p: p[:, 0], np.array([[-1.0] * 3, [1.0] * 3]), resolution=5)
    sec = Section("Slice", "<p>hello</p>", figures=[fig, fig], tables=[(["a", "b"], [["x", 0.123456]])])
    text = render_report("Title", [sec])
    assert text.count("PlotlyConfig") == 1  # plotly.js is embedded exactly once for two figures
    assert "0.1235" in text and "<p>hello</p>" in text
    out = write_report(tmp_path / "r.html", "Title", [sec])
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # the figure data made it into the page (plotly stores arrays base64-encoded: decode and compare)
    assert json.dumps(float(fig.data[0].z[0][0]))[:5] in text
    pages = figures_in_html(text)
    assert len(pages) == 2
    np.testing.assert_allclose(np.asarray(pages[0][0]["z"], dtype=float), np.asarray(fig.data[0].z))


# ---------------------------------------------------------------------------------------------------------------
# representations, partial views, point clouds (and that the written HTML really carries the arrays)


def test_sphere_toggle_buttons_switch_traces():
    fig = implicit_sphere_figure(resolution=8)
    buttons = fig.layout.updatemenus[0].buttons
    assert fig.layout.updatemenus[0].type == "buttons"
    for b in buttons:
        assert b.method == "update" and len(b.args[0]["visible"]) == len(fig.data)
    explicit, implicit, _ = (b.args[0]["visible"] for b in buttons)
    assert explicit == [True, True, False] and implicit == [False, False, True]
    assert fig.data[2].visible is False  # the field starts hidden: the first button's state is the initial one


def test_voxel_surface_mesh_is_the_closed_boundary():
    occ = np.zeros((4, 4, 4), bool)
    occ[1, 1, 1] = True
    bounds = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 4.0]])
    single = voxel_surface_mesh(occ, bounds)
    assert len(single.faces) == 12
    rng = np.random.default_rng(3)
    blob = rng.random((6, 5, 7)) < 0.5
    m = voxel_surface_mesh(blob, np.array([[0.0] * 3, [6.0, 5.0, 7.0]]))
    merged = trimesh.Trimesh(m.vertices, m.faces)  # merge the duplicated quad corners
    # two voxels sharing only an edge make the boundary non-manifold, but the faces still bound the solid:
    # the divergence-theorem volume of outward-wound faces equals the number of unit voxels
    assert abs(merged.volume - blob.sum()) < 1e-9
    # interior faces are dropped: count exposed faces directly
    padded = np.pad(blob, 1)
    exposed = sum(int((blob & ~np.roll(padded, s, a)[1:-1, 1:-1, 1:-1]).sum()) for a in range(3) for s in (1, -1))
    assert len(m.faces) == 2 * exposed
    assert len(voxel_surface_mesh(np.zeros((3, 3, 3), bool), bounds).faces) == 0


def test_voxelize_box_counts_cells():
    box = trimesh.creation.box((0.4, 0.4, 0.4))
    occ, b = voxelize(box, 10, bounds=np.array([[-0.5] * 3, [0.5] * 3]))
    assert occ.shape == (10, 10, 10) and b.shape == (2, 3)
    assert occ.sum() == 4**3  # centres at ±0.05, ±0.15 lie inside |x| < 0.2
    assert occ[5, 5, 5] and not occ[0, 0, 0]


def test_representations_figure_has_four_panels(tmp_path):
    mesh = trimesh.creation.cylinder(radius=0.04, height=0.2, sections=24)
    mesh.apply_translation([0, 0, 0.1])
    rep = compute_representations(mesh, rng=0, n_points=500, voxel_resolution=12)
    assert rep.depth.shape == (240, 320) and (rep.depth > 0).sum() > 100
    assert rep.points.shape == (500, 3) and rep.voxels.shape == (12, 12, 12) and rep.voxels.any()
    fig = representations_figure(rep.depth, rep.points, rep.voxels, rep.voxel_bounds, mesh)
    assert [type(t).__name__ for t in fig.data] == ["Heatmap", "Scatter3d", "Mesh3d", "Mesh3d"]
    heat, cloud, vox, surf = fig.data
    assert len(cloud.x) == 500
    assert len(surf.x) == len(mesh.vertices) and len(surf.i) == len(mesh.faces)
    cubes = voxel_surface_mesh(rep.voxels, rep.voxel_bounds)
    assert len(vox.i) == len(cubes.faces) > 0
    z = np.asarray(heat.z, dtype=float)
    assert np.isnan(z).any() and np.nanmin(z) > 0  # pixels without a return are blank, the rest positive
    assert {cloud.scene, vox.scene, surf.scene} == {"scene", "scene2", "scene3"}
    out = write_figure(tmp_path / "rep.html", fig)
    (traces,) = figures_in_html(out.read_text())
    assert [t["type"] for t in traces] == ["heatmap", "scatter3d", "mesh3d", "mesh3d"]
    np.testing.assert_allclose(traces[1]["x"], rep.points[:, 0])
    np.testing.assert_array_equal(traces[2]["i"], np.asarray(vox.i))


def test_depth_trace_crops_and_keeps_pixel_coordinates():
    d = np.zeros((50, 60), np.float32)
    d[10:20, 30:35] = 0.5
    crop, u0, v0 = crop_to_valid(d, margin=2)
    assert crop.shape == (14, 9) and (u0, v0) == (28, 8)
    t = depth_trace(d)
    assert t.x[0] == 26 and t.y[0] == 6  # default margin 4
    big = depth_trace(np.ones((480, 640)), max_pixels=10_000)
    assert np.asarray(big.z).size <= 10_000 * 1.1 and big.x[1] - big.x[0] == 6


def test_partial_view_and_point_cloud_figures():
    rng = np.random.default_rng(0)
    depth = np.zeros((40, 40), np.float32)
    depth[10:30, 10:30] = 0.6
    pts = rng.normal(size=(300, 3))
    mesh = trimesh.creation.icosphere(subdivisions=1)
    pose = np.eye(4)
    pose[:3, 3] = [0, 0, -1]
    fig = partial_view_figure(depth, pts, mesh, pose, max_points=100)
    assert [type(t).__name__ for t in fig.data] == ["Heatmap", "Scatter3d", "Mesh3d", "Scatter3d"]
    assert len(fig.data[1].x) == 100 and fig.data[1].name == "observed points (300)"
    assert fig.data[2].visible == "legendonly"
    np.testing.assert_allclose([fig.data[3].x[0], fig.data[3].y[0], fig.data[3].z[0]], [0, 0, -1])
    assert len(partial_view_figure(depth, pts).data) == 2
    nrm = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    pc = point_cloud_figure(pts, nrm, mesh)
    assert [type(t).__name__ for t in pc.data] == ["Scatter3d", "Scatter3d", "Mesh3d"]
    assert len(pc.data[1].x) == 3 * 300  # one segment (start, end, gap) per point
    np.testing.assert_allclose(np.asarray(pc.data[0].marker.color), pts[:, 2])
