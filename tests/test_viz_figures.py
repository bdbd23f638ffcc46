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
    sdf_slice_figure,
)
from implicit3d.viz.report import Section, render_report, write_report


def test_implicit_sphere_has_mesh_and_field_with_toggle():
    fig = implicit_sphere_figure(radius=0.4, resolution=12)
    kinds = [type(t).__name__ for t in fig.data]
    assert kinds == ["Mesh3d", "Scatter3d", "Isosurface"]
    iso = fig.data[2]
    # the field really is x²+y²+z²−r²
    x, y, z, v = (np.asarray(getattr(iso, a)) for a in ("x", "y", "z", "value"))
    np.testing.assert_allclose(v, x**2 + y**2 + z**2 - 0.16, atol=1e-12)
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
    # the figure data made it into the page
    assert json.dumps(float(fig.data[0].z[0][0]))[:5] in text
