"""The undecided ratio of an occupancy field (implicit3d.extraction.confidence), against a closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from implicit3d.extraction import MeshGenerator, extract_mise
from implicit3d.extraction.confidence import UNDECIDED_BAND, coarse_samples, undecided_ratio
from test_extraction import CentroidSphereModel


def soft_sphere(radius: float, sharpness: float):
    """Occupancy probability ``sigmoid(sharpness * (radius - |x|))`` of a sphere at the origin."""
    return lambda p: expit(sharpness * (radius - np.linalg.norm(p, axis=1)))


def band_ratio(radius: float, sharpness: float) -> float:
    """Closed form: the shell where the probability is inside UNDECIDED_BAND over the ball above 0.5."""
    a = np.log(UNDECIDED_BAND[1] / (1 - UNDECIDED_BAND[1])) / sharpness  # the band is symmetric: |logit| < a * s
    return ((radius + a) ** 3 - (radius - a) ** 3) / radius**3


@pytest.mark.parametrize("sharpness", [25.0, 50.0, 100.0])
def test_undecided_ratio_of_a_soft_sphere_matches_the_closed_form(sharpness: float) -> None:
    mesh = MeshGenerator(resolution=64).extract(soft_sphere(0.3, sharpness))
    got = mesh.metadata["extraction"]["undecided_ratio"]
    assert got == pytest.approx(band_ratio(0.3, sharpness), rel=0.12)


def test_a_sharper_field_is_more_decided_and_empty_fields_have_none() -> None:
    ratios = [MeshGenerator(resolution=32).extract(soft_sphere(0.3, s)).metadata["extraction"]["undecided_ratio"]
              for s in (10.0, 30.0, 1000.0)]
    assert ratios[0] > ratios[1] > ratios[2]
    assert ratios[2] < 0.1
    assert undecided_ratio(np.full((5, 5, 5), 0.3)) is None  # nothing completed
    assert undecided_ratio(np.array([0.95, 0.6, 0.4, 0.05])) == pytest.approx(2 / 2)


def test_model_logits_and_field_probabilities_give_the_same_ratio() -> None:
    """generate() extracts logits, extract() probabilities: both report the ratio of the probabilities."""
    cloud = np.zeros((64, 3))
    from_model = MeshGenerator(resolution=64).generate(CentroidSphereModel(), cloud)  # sharpness 50
    from_field = MeshGenerator(resolution=64).extract(soft_sphere(0.3, 50.0))
    a = from_model.metadata["extraction"]["undecided_ratio"]
    b = from_field.metadata["extraction"]["undecided_ratio"]
    assert a == pytest.approx(b, rel=1e-3)
    assert "undecided_ratio" not in MeshGenerator(kind="sdf", resolution=32).extract(
        lambda p: np.linalg.norm(p, axis=1) - 0.3).metadata["extraction"]


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_coarse_samples_are_the_ones_mise_evaluated(resolution: int) -> None:
    field = soft_sphere(0.25, 40.0)
    ext = extract_mise(field, resolution=resolution, level=0.5, inside="above")
    coarse = coarse_samples(ext.values, resolution)
    assert coarse.shape == (33, 33, 33)
    axis = np.linspace(ext.bounds[0, 0], ext.bounds[1, 0], 33)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    np.testing.assert_allclose(coarse.reshape(-1), field(grid), atol=1e-6)


@pytest.mark.parametrize("sharpness", [10.0, 60.0, 400.0])
def test_surface_softness_of_a_soft_sphere_matches_the_closed_form(sharpness: float) -> None:
    """p = sigmoid(s (r - |x|)): the drop across the surface at |x| = r over +-h is tanh(s h / 2)."""
    from implicit3d.extraction.confidence import SOFTNESS_STEP, surface_softness

    rng = np.random.default_rng(0)
    normals = rng.normal(size=(200, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    soft = surface_softness(soft_sphere(0.3, sharpness), 0.3 * normals, normals)
    assert soft.shape == (200,) and soft.dtype == np.float32
    np.testing.assert_allclose(soft, 1.0 - np.tanh(sharpness * SOFTNESS_STEP / 2), atol=1e-5)
    # inward normals (a flipped surface) read as a complete guess, never below 0 or above 1
    assert np.all(surface_softness(soft_sphere(0.3, sharpness), 0.3 * normals, -normals) == 1.0)
    assert surface_softness(soft_sphere(0.3, sharpness), np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)


@pytest.mark.parametrize("resolution", [64, 128])
def test_meshes_carry_the_softness_read_from_the_grid(resolution: int) -> None:
    """MeshGenerator stores each vertex's softness, interpolated from its grid, close to the field's own."""
    from implicit3d.extraction.confidence import SOFTNESS_STEP

    for sharpness in (15.0, 60.0):
        mesh = MeshGenerator(resolution=resolution).extract(soft_sphere(0.3, sharpness))
        soft = mesh.vertex_attributes["uncertainty"]
        assert soft.shape == (len(mesh.vertices),)
        assert np.median(soft) == pytest.approx(1.0 - np.tanh(sharpness * SOFTNESS_STEP / 2), abs=0.05)
    model_mesh = MeshGenerator(resolution=resolution).generate(CentroidSphereModel(), np.zeros((64, 3)))
    field_mesh = MeshGenerator(resolution=resolution).extract(soft_sphere(0.3, 50.0))
    assert np.median(model_mesh.vertex_attributes["uncertainty"]) == pytest.approx(
        np.median(field_mesh.vertex_attributes["uncertainty"]), abs=0.02)


def test_unseen_softness_is_zero_on_observed_points_and_full_from_the_ramp_on() -> None:
    """softness x min(1, distance to the nearest observed point / ramp), against the formula on a line of vertices."""
    from implicit3d.extraction.confidence import unseen_softness

    x = np.linspace(0.0, 0.05, 51)
    vertices = np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1)
    softness = np.full(len(x), 0.8, dtype=np.float32)
    observed = np.array([[0.0, 0.0, 0.0], [-0.01, 0.0, 0.0]])
    u = unseen_softness(softness, vertices, observed, ramp=0.012)
    assert u.dtype == np.float32 and u.shape == (51,)
    np.testing.assert_allclose(u, 0.8 * np.minimum(1.0, x / 0.012), atol=1e-6)
    assert u[0] == 0.0 and np.all(u[x >= 0.012] == np.float32(0.8)) and np.all(np.diff(u) >= 0)
    # nothing observed: the softness unchanged (a copy); a ramp that is not positive is refused
    same = unseen_softness(softness, vertices, np.zeros((0, 3)), ramp=0.012)
    assert np.array_equal(same, softness) and same is not softness
    with pytest.raises(ValueError, match="ramp"):
        unseen_softness(softness, vertices, observed, ramp=0.0)


def test_mark_unseen_moves_the_softness_and_ramps_the_uncertainty() -> None:
    """The generator's uncertainty (the softness) moves to "softness"; the new uncertainty is it times
    min(1, d / ramp); a mesh without the attribute is left alone."""
    import trimesh

    from implicit3d.extraction.confidence import mark_unseen

    mesh = trimesh.Trimesh(np.array([[0.0, 0, 0], [0.01, 0, 0], [0.05, 0, 0]]), np.array([[0, 1, 2]]), process=False)
    mesh.vertex_attributes["uncertainty"] = np.array([0.5, 0.5, 0.8], dtype=np.float32)
    mark_unseen(mesh, np.zeros((1, 3)), 0.02)
    np.testing.assert_allclose(mesh.vertex_attributes["softness"], [0.5, 0.5, 0.8])
    np.testing.assert_allclose(mesh.vertex_attributes["uncertainty"], [0.0, 0.25, 0.8], atol=1e-6)
    bare = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    mark_unseen(bare, np.zeros((1, 3)), 0.02)
    assert "softness" not in bare.vertex_attributes
