"""Extraction: batched fields, dense grid, MISE (checked against the dense grid), generator frames, simplification."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from implicit3d.extraction import (
    CountingField,
    MeanField,
    MeshGenerator,
    ModelField,
    evaluate_batched,
    extract_dense,
    extract_mise,
    simplify_mesh,
    to_world,
    vertex_clustering,
)
from implicit3d.extraction.dense import mesh_from_grid
from implicit3d.extraction.mise import mise_levels
from implicit3d.geometry.grid import marching_cubes


def sphere_sdf(radius: float = 0.3, center=(0.0, 0.0, 0.0)):
    c = np.asarray(center, dtype=np.float64)
    return lambda p: np.linalg.norm(p - c, axis=1) - radius


def torus_sdf(p: np.ndarray) -> np.ndarray:
    q = np.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - 0.3
    return np.sqrt(q**2 + p[:, 2] ** 2) - 0.08


def mesh_inside(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    try:
        from implicit3d.geometry.inside import inside
    except ImportError:  # TODO: remove once implicit3d.geometry.inside lands
        return mesh.contains(points)
    return inside(mesh, points)


def hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    return max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max())


# ------------------------------------------------------------------ fields
def test_evaluate_batched_matches_single_call_and_checks_size():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, (1000, 3))
    f = sphere_sdf()
    np.testing.assert_array_equal(evaluate_batched(f, pts, batch_size=7), f(pts))
    with pytest.raises(ValueError, match="values for"):
        evaluate_batched(lambda p: np.zeros(3), pts, batch_size=100)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_batched(f, pts, batch_size=0)


class CentroidSphereModel(torch.nn.Module):
    """Occupancy logits of a sphere of radius 0.3 around the input cloud's centroid (stand-in for a trained net)."""

    def __init__(self) -> None:
        super().__init__()
        self.sharpness = torch.nn.Parameter(torch.tensor(50.0))

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.mean(dim=1)  # (B, 3)

    def decode(self, points: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (0.3 - torch.linalg.norm(points - c[:, None, :], dim=-1)) * self.sharpness


def test_model_field_batches_and_outputs():
    model = CentroidSphereModel()
    cloud = np.random.default_rng(1).normal(size=(500, 3)) * 0.01 + [0.05, 0.0, 0.0]
    pts = np.random.default_rng(2).uniform(-0.5, 0.5, (300, 3))
    logits = ModelField(model, cloud, output="logits", batch_size=1000)(pts)
    for bs in (1, 7, 300):
        np.testing.assert_allclose(ModelField(model, cloud, output="logits", batch_size=bs)(pts), logits, rtol=1e-6)
    occ = ModelField(model, cloud[None], output="occupancy", batch_size=64)(pts)
    np.testing.assert_allclose(occ, 1.0 / (1.0 + np.exp(-logits)), rtol=1e-5, atol=1e-7)
    assert occ.min() >= 0.0 and occ.max() <= 1.0
    with pytest.raises(ValueError, match="output"):
        ModelField(model, cloud, output="probability")
    with pytest.raises(TypeError, match="encode"):
        ModelField(torch.nn.Linear(3, 1), cloud)
    with pytest.raises(ValueError, match="one cloud"):
        ModelField(model, np.zeros((2, 10, 3)))


# ------------------------------------------------------------------ MISE vs dense
def test_mise_levels():
    assert mise_levels(128, 32) == (32, 2)
    assert mise_levels(256, 32) == (32, 3)
    assert mise_levels(100, 32) == (50, 1)
    assert mise_levels(97, 32) == (97, 0)
    assert mise_levels(16, 32) == (16, 0)
    assert mise_levels(64, 8) == (8, 3)


@pytest.mark.parametrize("sdf", [sphere_sdf(0.3, (0.02, -0.03, 0.01)), torus_sdf], ids=["sphere", "torus"])
def test_mise_matches_dense(sdf):
    counter = CountingField(sdf)
    dense = extract_dense(sdf, resolution=64)
    mise = extract_mise(counter, resolution=64, initial_resolution=16)
    assert mise.n_evaluated == counter.n_points
    assert mise.n_evaluated < 0.5 * dense.n_evaluated
    # every cell the dense surface crosses must have exact (evaluated) values at its corners in MISE
    ins = dense.values < 0
    c = 64
    cell_any = np.zeros((c,) * 3, bool)
    cell_all = np.ones((c,) * 3, bool)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                corner = ins[dx : dx + c, dy : dy + c, dz : dz + c]
                cell_any |= corner
                cell_all &= corner
    crossing = cell_any & ~cell_all
    corner_mask = np.zeros((c + 1,) * 3, bool)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                corner_mask[dx : dx + c, dy : dy + c, dz : dz + c] |= crossing
    np.testing.assert_array_equal(mise.values[corner_mask], dense.values[corner_mask])
    # signs agree everywhere, so marching cubes gives the same surface
    np.testing.assert_array_equal(mise.values < 0, dense.values < 0)
    assert len(mise.mesh.vertices) == len(dense.mesh.vertices)
    assert hausdorff(mise.mesh.vertices, dense.mesh.vertices) < 1e-6
    assert mise.mesh.is_watertight
    assert mise.mesh.volume == pytest.approx(dense.mesh.volume, rel=1e-6)


def test_mise_sphere_iou_and_far_fewer_points():
    sdf = sphere_sdf(0.35)
    dense = extract_dense(sdf, resolution=128)
    mise = extract_mise(sdf, resolution=128)
    assert mise.n_evaluated < 0.15 * dense.n_evaluated  # a thin shell around the surface plus the 33^3 start
    pts = np.random.default_rng(3).uniform(-0.55, 0.55, (50_000, 3))
    a, b = mesh_inside(dense.mesh, pts), mesh_inside(mise.mesh, pts)
    assert np.count_nonzero(a & b) / np.count_nonzero(a | b) > 0.99
    # and the mesh is the sphere: vertices at radius 0.35 within the marching-cubes error
    r = np.linalg.norm(mise.mesh.vertices, axis=1)
    assert np.abs(r - 0.35).max() < 1.1 / 128


def test_mise_evaluates_each_point_once():
    seen = []

    def record(p):
        seen.append(p.copy())
        return torus_sdf(p)

    extract_mise(record, resolution=64, initial_resolution=8, batch_size=5000)
    pts = np.concatenate(seen)
    assert len(np.unique(np.round(pts, 9), axis=0)) == len(pts)


def test_mesh_from_grid_crop_equals_full_marching_cubes():
    from implicit3d.geometry.grid import evaluate_grid

    bounds = ((-0.55,) * 3, (0.55,) * 3)
    values = evaluate_grid(sphere_sdf(0.2, (0.1, 0.2, -0.1)), bounds, 49)
    full = marching_cubes(values, bounds, 0.0, "below")
    crop = mesh_from_grid(values, bounds, 0.0, "below")
    assert len(full.faces) == len(crop.faces)
    assert hausdorff(full.vertices, crop.vertices) < 1e-6  # skimage interpolates in float32
    assert crop.volume == pytest.approx(full.volume, rel=1e-6)


def test_no_crossing_gives_empty_mesh():
    for method in ("mise", "dense"):
        gen = MeshGenerator(kind="sdf", method=method, resolution=32)
        mesh = gen.extract(lambda p: np.ones(len(p)))
        assert len(mesh.faces) == 0
        assert mesh.metadata["extraction"]["empty"]


@pytest.mark.parametrize("method", ["mise", "dense"])
def test_fields_that_sit_on_the_level_outside_and_non_finite_fields(method):
    """A clamped SDF (exactly the level everywhere outside: a ReLU-like output) still gives its surface, as a sample
    on the level counts as outside; infinite values are taken as far beyond the finite ones, NaN is refused."""
    gen = MeshGenerator(kind="sdf", method=method, resolution=32)
    cell = 1.1 / 32  # the surface lies between the last inside sample and the first one on the level
    ball, grown = 4 / 3 * np.pi * 0.3**3, 4 / 3 * np.pi * (0.3 + cell) ** 3
    clamped = gen.extract(lambda p: np.minimum(sphere_sdf(0.3)(p), 0.0))
    assert clamped.is_watertight and ball < clamped.volume < grown
    occ = MeshGenerator(kind="occupancy", method=method, resolution=32, threshold=0.5)
    flat = occ.extract(lambda p: np.where(sphere_sdf(0.3)(p) < 0, 1.0, 0.5))  # probability 0.5 = the threshold
    assert flat.is_watertight and ball < flat.volume < grown
    # infinity outside (a field undefined there, a logit of probability 0) still gives the closed surface
    walled = gen.extract(lambda p: np.where(sphere_sdf(0.3)(p) < 0, sphere_sdf(0.3)(p), np.inf))
    shrunk = 4 / 3 * np.pi * (0.3 - cell) ** 3  # the surface comes to lie just outside the last inside samples
    assert walled.is_watertight and shrunk < walled.volume < ball
    with pytest.raises(ValueError, match="field returned NaN values"):
        gen.extract(lambda p: np.where(sphere_sdf(0.3)(p) < 0, -1.0, np.nan))


# ------------------------------------------------------------------ thresholds and levels
@pytest.mark.parametrize("method", ["mise", "dense"])
def test_occupancy_threshold_and_sdf_level_semantics(method):
    sdf = sphere_sdf(0.3)
    width = 0.01

    def prob(p):
        return 1.0 / (1.0 + np.exp(sdf(p) / width))  # 1 inside, 0 outside

    for t in (0.5, 0.9, 0.1):
        mesh = MeshGenerator(kind="occupancy", threshold=t, method=method, resolution=64).extract(prob)
        expected = 0.3 - width * np.log(t / (1 - t))  # prob > t  <=>  sdf < -width * logit(t)
        assert np.median(np.linalg.norm(mesh.vertices, axis=1)) == pytest.approx(expected, abs=2e-3)
        assert mesh.volume > 0  # outward normals
    for level in (0.0, 0.05, -0.1):
        mesh = MeshGenerator(kind="sdf", level=level, method=method, resolution=64).extract(sdf)
        assert np.median(np.linalg.norm(mesh.vertices, axis=1)) == pytest.approx(0.3 + level, abs=2e-3)
        assert mesh.volume > 0
    with pytest.raises(ValueError, match="probability"):
        MeshGenerator(kind="occupancy", threshold=1.5)
    with pytest.raises(ValueError, match="kind"):
        MeshGenerator(kind="udf")


def test_generate_from_model_uses_logit_threshold_and_matches_dense():
    model = CentroidSphereModel()
    cloud = np.random.default_rng(4).normal(size=(256, 3)) * 0.02 + [0.0, 0.1, 0.0]
    meshes = {m: MeshGenerator(method=m, resolution=64).generate(model, cloud) for m in ("mise", "dense")}
    for mesh in meshes.values():
        centroid = cloud.mean(axis=0)
        r = np.linalg.norm(mesh.vertices - centroid, axis=1)
        assert np.abs(r - 0.3).max() < 1.1 * 1.1 / 64
    assert hausdorff(meshes["mise"].vertices, meshes["dense"].vertices) < 1e-6
    info = meshes["mise"].metadata["extraction"]
    assert info["level"] == 0.0 and info["inside"] == "above"  # logit(0.5)
    assert info["n_evaluated"] < info["n_grid"]
    assert "encode" in info["seconds"]
    # a higher probability threshold on the logits shrinks the sphere by logit(t) / sharpness
    mesh = MeshGenerator(method="mise", resolution=64, threshold=0.99).generate(model, cloud)
    r = np.median(np.linalg.norm(mesh.vertices - cloud.mean(axis=0), axis=1))
    assert r == pytest.approx(0.3 - np.log(99) / 50, abs=2e-3)


# ------------------------------------------------------------------ frames
def test_unnormalization_loc_scale():
    loc, scale = np.array([1.0, -2.0, 3.5]), 2.5
    mesh = MeshGenerator(kind="sdf", resolution=64).extract(sphere_sdf(0.3), loc=loc, scale=scale)
    d = np.linalg.norm(mesh.vertices - loc, axis=1)
    assert np.abs(d - 0.3 * scale).max() < 1.1 / 64 * scale
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * (0.3 * scale) ** 3, rel=0.02)


def test_unnormalization_with_pose():
    from implicit3d.geometry.transforms import make_pose, random_rotation

    rot = random_rotation(5)
    t = np.array([0.3, 0.2, -1.0])
    loc, scale = np.array([0.5, 0.0, 0.0]), 2.0
    center_n = np.array([0.1, 0.0, 0.0])  # off-centre so the rotation matters
    mesh = MeshGenerator(kind="sdf", resolution=48).extract(sphere_sdf(0.2, center_n), loc, scale, make_pose(rot, t))
    expected_center = rot @ (center_n * scale + loc) + t
    d = np.linalg.norm(mesh.vertices - expected_center, axis=1)
    assert np.abs(d - 0.4).max() < 1.1 / 48 * scale * 1.1
    assert mesh.volume > 0
    # a reflection keeps normals outward
    mirror = make_pose(np.diag([1.0, 1.0, -1.0]))
    assert to_world(mesh, pose=mirror).volume == pytest.approx(mesh.volume, rel=1e-9)
    with pytest.raises(ValueError, match="scale"):
        to_world(mesh, scale=-1.0)
    with pytest.raises(ValueError, match="pose"):
        to_world(mesh, pose=np.eye(3))


# ------------------------------------------------------------------ simplification
def test_vertex_clustering_reduces_and_stays_close():
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=0.3)
    cell = 0.03
    out = vertex_clustering(mesh, cell)
    assert len(out.faces) < len(mesh.faces) / 4
    assert hausdorff(out.vertices, mesh.vertices) < np.sqrt(3) * cell
    assert np.abs(np.linalg.norm(out.vertices, axis=1) - 0.3).max() < cell
    assert out.volume == pytest.approx(mesh.volume, rel=0.05)
    with pytest.raises(ValueError):
        vertex_clustering(mesh, 0.0)


def test_simplify_mesh_face_count_and_generator_option():
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=0.3)  # 20480 faces
    out = simplify_mesh(mesh, 2000)
    assert 1000 < len(out.faces) < 4000
    assert simplify_mesh(mesh, 10**6) is mesh
    gen = MeshGenerator(kind="sdf", resolution=64, simplify=1000)
    simplified = gen.extract(sphere_sdf(0.3))
    assert len(simplified.faces) < 2000


def test_mean_field_averages_members_through_their_maps():
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, (200, 3))
    a = lambda p: p[:, 0]  # noqa: E731
    b = lambda p: 2.0 * p[:, 1]  # noqa: E731
    mean = MeanField([a, b])
    assert np.allclose(mean(pts), (pts[:, 0] + 2.0 * pts[:, 1]) / 2)
    # member 2 reads the points shifted by +0.3 in x; outside the domain box it contributes `outside`
    shifted = MeanField([a, a], [None, lambda p: p + np.array([0.3, 0.0, 0.0])], domain=[[-0.5] * 3, [0.5] * 3],
                        outside=-7.0)
    x2 = pts[:, 0] + 0.3
    expected = (pts[:, 0] + np.where(x2 <= 0.5, x2, -7.0)) / 2
    assert np.allclose(shifted(pts), expected)
    with pytest.raises(ValueError, match="at least one"):
        MeanField([])
    with pytest.raises(ValueError, match="maps"):
        MeanField([a, b], [None])
    with pytest.raises(ValueError, match="domain"):
        MeanField([a], domain=[[0, 0, 0], [0, 1, 1]])


def test_model_field_bf16_is_close_to_fp32_and_plumbed_from_the_generator():
    from implicit3d.api import load_model

    model, _ = load_model()  # the bundled (trained) model
    cloud = np.random.default_rng(1).normal(size=(512, 3)) * 0.1
    pts = np.random.default_rng(2).uniform(-0.5, 0.5, (2000, 3))
    fp32 = ModelField(model, cloud, output="logits")
    assert not fp32.bf16  # fp32 unless asked (extraction.field.DEFAULT_BF16)
    bf16 = ModelField(model, cloud, output="logits", bf16=True)
    a, b = fp32(pts), bf16(pts)
    assert b.dtype == np.float64 and np.isfinite(b).all()
    assert not np.array_equal(a, b)  # autocast did act
    assert np.abs(a - b).max() < 0.03 * np.abs(a).max()  # measured 0.009
    assert np.mean(np.sign(a) == np.sign(b)) > 0.995  # the same inside / outside almost everywhere
    assert MeshGenerator(bf16=True).model_field(model, cloud).bf16
    assert not MeshGenerator().model_field(model, cloud).bf16


def test_inference_precision_is_bf16_where_the_hardware_has_it(monkeypatch):
    """``--precision``: fp32 never autocasts; bf16 always, with a note where the CPU only emulates it; auto follows
    the CPU's native bf16 (:func:`implicit3d.training.trainer.cpu_bf16_capability`)."""
    import implicit3d.training.trainer as trainer
    from implicit3d.extraction.field import inference_bf16

    monkeypatch.setattr(trainer, "cpu_bf16_capability", lambda: None)
    assert inference_bf16("fp32") == (False, None)
    assert inference_bf16("auto") == (False, None)
    bf16, note = inference_bf16("bf16", "cpu")
    assert bf16 and "emulated" in note
    monkeypatch.setattr(trainer, "cpu_bf16_capability", lambda: "avx512_bf16")
    assert inference_bf16("auto") == (True, None)
    assert inference_bf16("bf16") == (True, None)
    assert inference_bf16("fp32") == (False, None)
    with pytest.raises(ValueError, match="precision"):
        inference_bf16("fp16")


def test_precision_bf16_warns_in_one_line_where_bf16_is_emulated(monkeypatch):
    import implicit3d.training.trainer as trainer
    from implicit3d.errors import InputWarning
    from implicit3d.extraction.field import precision_bf16

    monkeypatch.setattr(trainer, "cpu_bf16_capability", lambda: None)
    with pytest.warns(InputWarning, match=r"^--precision bf16: bf16 on this CPU is emulated"):
        assert precision_bf16("bf16", "cpu")
    with pytest.warns(InputWarning, match=r"^precision='bf16': "):
        assert precision_bf16("bf16", "cpu", "precision='bf16'")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not precision_bf16("auto", "cpu")  # auto: fp32 on such a CPU, silently
    assert not caught


@pytest.mark.parametrize("method", ["dense", "mise"])
def test_a_solid_that_reaches_the_bounds_is_capped_there(method: str) -> None:
    """A field inside beyond the grid's faces (a slab through the cube; an object framed too tight) gives a closed
    mesh, capped on the bounds; before, its sides were left open."""
    bounds = np.array([[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]])

    def slab(p: np.ndarray) -> np.ndarray:  # occupancy: inside for |z| < 0.2, everywhere in x and y
        return (np.abs(p[:, 2]) < 0.2).astype(np.float64)

    extract = extract_dense if method == "dense" else extract_mise
    mesh = extract(slab, bounds, 32, 0.5, "above").mesh
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert np.all(mesh.vertices >= bounds[0] - 1e-12) and np.all(mesh.vertices <= bounds[1] + 1e-12)
    assert mesh.volume == pytest.approx(0.4, rel=0.05)  # 1 x 1 x 0.4 (the surface between samples: within a cell)


def test_metadata_names_the_method_that_ran() -> None:
    """MISE at a resolution with no coarser level (odd, or the initial one) is one dense pass, and says so."""
    from implicit3d.extraction import MeshGenerator

    sphere = lambda p: np.linalg.norm(p, axis=1) - 0.3  # noqa: E731
    for res, method in ((64, "mise"), (41, "dense"), (32, "dense")):
        mesh = MeshGenerator(kind="sdf", method="mise", resolution=res).extract(sphere)
        ext = mesh.metadata["extraction"]
        assert ext["method"] == method and (ext["n_evaluated"] < ext["n_grid"]) == (method == "mise"), res
