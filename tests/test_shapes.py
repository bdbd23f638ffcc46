import json
import zlib

import numpy as np
import pytest
import trimesh

from implicit3d import shapes
from implicit3d.cli import main
from implicit3d.geometry.sdf import SDF
from implicit3d.shapes import CATEGORIES, Shape, catalogue, generate
from implicit3d.shapes.bottles import build_bottle

SEEDS = (0, 1, 2)

# (axis extents checked, lo, hi) in metres: the documented size ranges (docs/shapes.md)
SIZE = {
    "bottle": ("z", 0.15, 0.35),
    "can": ("z", 0.10, 0.28),  # tubes (crisps, tennis balls) up to 0.28
    "jar": ("z", 0.07, 0.20),
    "mug": ("z", 0.075, 0.12),
    "cup": ("z", 0.05, 0.15),
    "bowl": ("xy", 0.12, 0.27),
    "vase": ("z", 0.15, 0.35),
    "box": ("xyz", 0.03, 0.31),  # + up to 2 x 3 mm lid overhang
    "csg": ("max", 0.05, 0.35),
    "rock": ("max", 0.05, 0.30),
    "bin": ("xy", 0.10, 0.30),
    "cluster": ("max", 0.05, 0.30),
    "slab": ("max", 0.08, 0.30),  # a triangle tile spans 0.87 x its drawn length
    "plate": ("xy", 0.10, 0.48),  # a pan with its handle is up to 0.28 + 0.18 + handle radius long
    "tool": ("max", 0.04, 0.32),  # length 0.10-0.30 turned about z; scissors' widest side can be short
    "fruit": ("max", 0.03, 0.31),  # a strawberry 3 cm across; a banana 0.24 along its arc + its thickness
}

_CACHE: dict[tuple[str, int], Shape] = {}


def _shape(category: str, seed: int) -> Shape:
    if (category, seed) not in _CACHE:
        _CACHE[(category, seed)] = generate(category, seed)
    return _CACHE[(category, seed)]


def test_categories():
    assert isinstance(CATEGORIES, tuple)
    known = ("bottle", "can", "jar", "mug", "cup", "bowl", "vase", "box", "csg", "rock", "bin", "cluster", "slab")
    known += ("plate", "tool", "fruit")
    for c in known:
        assert c in CATEGORIES


@pytest.mark.parametrize("category", CATEGORIES)
def test_watertight_sized_standing_centred(category):
    for seed in SEEDS:
        s = _shape(category, seed)
        m = s.mesh
        assert isinstance(m, trimesh.Trimesh)
        assert s.category == category and s.seed == seed and s.name == f"{category}_{seed:010d}"
        assert m.is_watertight and m.is_winding_consistent, s.name
        assert m.volume > 0, s.name
        assert m.body_count == 1, s.name  # handles overlap the body; csg draws are screened
        lo, hi = m.bounds
        assert abs(lo[2]) < 2e-5, (s.name, lo[2])  # stands on z = 0
        voxel = s.params["voxel"]
        centre_xy = (lo[:2] + hi[:2]) / 2
        if category in ("mug", "tool") or (category, s.params.get("style")) in (("cup", "teacup"), ("plate", "pan")):
            # the handle makes the box asymmetric in x; the body axis is the z axis
            assert abs(centre_xy[1]) < voxel
        else:
            assert np.abs(centre_xy).max() < voxel, (s.name, centre_xy)
        axes, a, b = SIZE[category]
        ext = m.extents
        values = {"z": [ext[2]], "xy": [max(ext[0], ext[1])], "xyz": list(ext), "max": [ext.max()]}[axes]
        for v in values:
            assert a - voxel <= v <= b + voxel, (s.name, ext)


@pytest.mark.parametrize("category", CATEGORIES)
def test_mesh_agrees_with_analytic_sdf(category):
    s = _shape(category, 0)
    assert isinstance(s.sdf, SDF)
    v = s.mesh.vertices
    d = s.sdf(v)
    assert np.abs(d).max() < 0.75 * s.params["voxel"], (s.name, np.abs(d).max())
    # points pushed along the outward normals are outside, pushed inwards are inside
    n = s.mesh.vertex_normals
    rng = np.random.default_rng(0)
    idx = rng.choice(len(v), size=min(500, len(v)), replace=False)
    step = 1.0 * s.params["voxel"]
    outside = s.sdf(v[idx] + step * n[idx])
    assert (outside > 0).mean() > 0.97


def test_same_seed_identical_different_seed_differs():
    for category in CATEGORIES:
        a = _shape(category, 1)
        b = generate(category, 1)
        assert np.array_equal(a.mesh.vertices, b.mesh.vertices)
        assert np.array_equal(a.mesh.faces, b.mesh.faces)
        assert a.params == b.params
        c = _shape(category, 2)
        assert a.params != c.params
        assert a.mesh.vertices.shape != c.mesh.vertices.shape or not np.allclose(a.mesh.vertices, c.mesh.vertices)


def test_params_json_serializable():
    for category in CATEGORIES:
        p = _shape(category, 0).params
        assert json.loads(json.dumps(p)) == p


def test_containers_have_cavity_and_bottles_are_solid():
    mug = _shape("mug", 0)
    h = mug.params["height"]
    # a point on the axis at mid-height is in the cavity (outside the solid); below the floor it is inside
    assert mug.sdf(np.array([[0.0, 0.0, h / 2]]))[0] > 0
    assert mug.sdf(np.array([[0.0, 0.0, mug.params["floor"] / 2]]))[0] < 0
    assert mug.mesh.contains(np.array([[0.0, 0.0, h / 2]]))[0] == np.False_
    bottle = _shape("bottle", 0)
    assert bottle.sdf(np.array([[0.0, 0.0, bottle.params["height"] / 3]]))[0] < 0


def test_bin_is_open_with_thin_walls_and_a_floor():
    for seed in SEEDS:
        b = _shape("bin", seed)
        lx, ly, h = b.params["size"]
        wall, floor = b.params["wall"], b.params["floor"]
        assert 0.004 <= wall <= 0.008 and 0.004 <= floor <= 0.01 and 0.02 <= h
        centre = np.array([[0.0, 0.0, (floor + h) / 2]])  # in the cavity, above the floor
        assert b.sdf(centre)[0] > 0 and not b.mesh.contains(centre)[0]
        assert b.sdf(np.array([[0.0, 0.0, floor / 2]]))[0] < 0  # the floor
        side = np.array([[lx / 2 - wall / 2, 0.0, h / 2]])  # in the long wall
        assert b.sdf(side)[0] < 0 and b.mesh.contains(side)[0]
        # thin walls around a large cavity: far less solid than the box it fills
        assert b.mesh.volume < 0.6 * lx * ly * h


def test_cluster_is_a_concave_assembly_of_pieces():
    ratios = []
    for seed in range(6):
        c = _shape("cluster", seed)
        assert 3 <= len(c.params["pieces"]) <= 10
        ratios.append(c.mesh.volume / c.mesh.convex_hull.volume)
    # pieces stick out of each other: clearly non-convex on average (a rock's is about 0.9, a box's 1.0)
    assert np.mean(ratios) < 0.8, ratios


def test_slab_is_a_closed_flat_or_elongated_solid():
    forms, sections = set(), set()
    for seed in range(16):
        s = _shape("slab", seed)
        m = s.mesh
        forms.add(s.params["form"])
        sections.add(s.params["section"])
        # a prism: convex and closed (no cavity), unlike a bin
        assert m.volume / m.convex_hull.volume > 0.97, s.name
        ext = np.sort(m.extents)
        assert ext[0] >= 0.005 - s.params["voxel"], (s.name, ext)
        if s.params["form"] == "plate":  # lies on its widest face: thin along z, at most a quarter as thick as wide
            assert m.extents[2] == ext[0] and ext[0] <= 0.25 * ext[1] + s.params["voxel"], (s.name, m.extents)
        else:  # long and narrow
            assert ext[1] <= 0.36 * ext[2] + s.params["voxel"], (s.name, ext)
        centre = (m.bounds[0] + m.bounds[1]) / 2
        assert s.sdf(centre[None])[0] < 0 and m.contains(centre[None])[0]  # solid through its middle
    assert forms == {"plate", "bar"} and sections == {"rectangle", "round", "polygon"}


def test_bottle_variety():
    """Many seeds never repeat and cover every body style."""
    rng_seeds = range(40)
    seen = set()
    bodies = set()
    for s in rng_seeds:
        rng = np.random.default_rng(np.random.SeedSequence([s, zlib.crc32(b"bottle")]))
        built = build_bottle(rng)
        key = json.dumps(built.params, sort_keys=True)
        assert key not in seen
        seen.add(key)
        bodies.add(built.params["body"])
        assert 0.15 <= built.params["height"] <= 0.35
    assert bodies == {"round", "square", "waisted", "flask", "flat"}


def test_catalogue_and_errors():
    items = catalogue("can", count=2, seed=3)
    assert [s.category for s in items] == ["can", "can"]
    assert items[0].seed == shapes.shape_seed("can", 0, 3)
    assert items[0].name != items[1].name
    from implicit3d.data.sources import catalogue_seed

    assert shapes.shape_seed("mug", 5, 7) == catalogue_seed("mug", 5, 7)
    with pytest.raises(ValueError, match="unknown shape category 'teapot'.*bottle"):
        generate("teapot", 0)
    with pytest.raises(ValueError, match="unknown"):
        catalogue("teapot")
    with pytest.raises(ValueError, match="seed"):
        generate("bottle", -1)
    with pytest.raises(ValueError, match="count"):
        catalogue("bottle", count=0)


def test_cli_writes_meshes_and_index(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["shapes", "--category", "can", "-n", "2", "-o", str(out), "--seed", "4", "--format", "ply", "--quiet"])
        == 0
    )
    index = json.loads((out / "shapes.json").read_text())
    assert [r["category"] for r in index["shapes"]] == ["can", "can"]
    for r in index["shapes"]:
        path = out / f"{r['name']}.ply"
        assert path.is_file() and r["file"] == path.name
        mesh = trimesh.load(path, force="mesh")
        assert mesh.is_watertight
        np.testing.assert_allclose(mesh.extents, r["size"], atol=1e-5)
        assert r["seed"] == shapes.shape_seed("can", index["shapes"].index(r), 4)
        assert "height" in r["params"]
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))
    capsys.readouterr()
    assert main(["shapes", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(CATEGORIES)
    assert main(["shapes", "--category", "teapot", "-o", str(out)]) == 2
    assert "unknown category 'teapot'" in capsys.readouterr().err
    assert main(["shapes", "--category", "can,teapot", "-o", str(out)]) == 2  # a list, as prepare takes
    assert "unknown category 'teapot'" in capsys.readouterr().err
    several = tmp_path / "several"
    assert main(["shapes", "--category", "can,bowl", "-n", "1", "-o", str(several), "--quiet"]) == 0
    assert sorted(p.name.split("_")[0] for p in several.glob("*.obj")) == ["bowl", "can"]
    assert main(["shapes", "--category", "can"]) == 2
    capsys.readouterr()
    assert main(["shapes", "--category", "can", "-o", str(tmp_path / "can.ply")]) == 2  # a file name: a folder is meant
    assert "--format ply" in capsys.readouterr().err and not (tmp_path / "can.ply").exists()


def test_cli_default_format_obj_loads_back_watertight(tmp_path):
    out = tmp_path / "obj"
    assert main(["shapes", "--category", "bottle", "-n", "1", "-o", str(out), "--quiet"]) == 0
    (path,) = out.glob("*.obj")
    mesh = trimesh.load(path, force="mesh")
    assert mesh.is_watertight and len(mesh.faces) > 1000


def test_can_styles_include_tall_tubes():
    """Tall solid cylinders (crisps tubes, canisters) are cans, not only hollow vases: a single side view of a
    cylinder 2-4 times as tall as wide must have solid examples in the catalogue."""
    tubes = [generate("can", seed) for seed in range(40)]
    tubes = [s for s in tubes if s.params["style"] == "tube"]
    assert len(tubes) >= 5
    for s in tubes[:3]:
        aspect = s.params["height"] / (2 * s.params["radius"])
        assert 1.5 - 1e-9 <= aspect <= 4.0 + 1e-9 or s.params["height"] in (0.12, 0.28)
        assert s.mesh.is_watertight
        # solid: the mesh fills its cylinder (a hollow tube would fill a fraction of it)
        cyl = np.pi * s.params["radius"] ** 2 * s.params["height"]
        assert s.mesh.volume > 0.9 * cyl



def test_plates_are_thin_open_shells():
    """Plates, shallow dishes and pans (issue 17: completed as solid discs): every style is drawn, each is wider than
    tall, and the shell holds a small part of its cylinder; the point just above the floor's centre is outside."""
    from implicit3d.api import inside

    draws = [generate("plate", seed) for seed in range(12)]
    assert {s.params["style"] for s in draws} == {"plate", "dish", "pan"}
    for s in draws[:6]:
        m = s.mesh
        assert m.is_watertight and m.body_count == 1
        assert 2 * s.params["top_radius"] > 2.5 * s.params["height"]
        cyl = np.pi * s.params["top_radius"] ** 2 * s.params["height"]
        assert m.volume < 0.5 * cyl, (s.name, m.volume / cyl)
        above_floor = np.array([[0.0, 0.0, s.params["floor"] + 0.004]])
        assert not inside(m, above_floor)[0], s.name


def test_tools_are_thin_and_keep_their_gaps():
    """Tools (issue 17: filled in between their parts): every style is drawn, lies flat (<= 4 cm tall), and fills a
    small part of its bounding box; a scissors' finger ring and a clamp's jaw gap stay empty."""
    from implicit3d.api import inside
    from implicit3d.shapes.tools import TOOL_STYLES

    draws = [generate("tool", seed) for seed in range(30)]
    assert {s.params["style"] for s in draws} == set(TOOL_STYLES)
    for s in draws[:12]:
        m = s.mesh
        assert m.is_watertight and m.body_count == 1, s.name
        assert m.extents[2] <= 0.04 + s.params["voxel"], (s.name, m.extents)
        assert m.volume < 0.5 * np.prod(m.extents), s.name
    # the bounding box of the top view holds empty space between the parts
    for style in ("scissors", "clamp", "wrench"):
        s = next(d for d in draws if d.params["style"] == style)
        lo, hi = s.mesh.bounds
        g = np.stack(np.meshgrid(*[np.linspace(lo[k], hi[k], 40) for k in range(2)], [(lo[2] + hi[2]) / 2]), -1)
        filled = inside(s.mesh, g.reshape(-1, 3)).mean()
        assert filled < 0.45, (s.name, filled)


def test_fruit_is_smooth_and_round():
    """Fruit (issue 17: completed too thin behind the visible cap): every style is drawn; round styles are solids of
    revolution that fill their convex hull almost entirely and are about as deep as wide; bananas are long and bent
    (their hull holds space the banana does not)."""
    from implicit3d.shapes.fruit import FRUIT_STYLES

    draws = [generate("fruit", seed) for seed in range(24)]
    assert {s.params["style"] for s in draws} == set(FRUIT_STYLES)
    for s in draws[:12]:
        m = s.mesh
        assert m.is_watertight and m.body_count == 1, s.name
        fill = m.volume / m.convex_hull.volume
        if s.params["style"] == "banana":
            assert m.extents.max() > 2.5 * np.sort(m.extents)[1], (s.name, m.extents)
            assert fill < 0.97, (s.name, fill)
        else:
            assert fill > 0.9, (s.name, fill)
            ex, ey, ez = m.extents
            assert abs(ex - ey) < 2 * s.params["voxel"], (s.name, m.extents)  # round about z
            assert 0.6 < ez / ex < 2.0, (s.name, m.extents)
