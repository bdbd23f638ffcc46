import numpy as np
import pytest
import trimesh

from implicit3d.data.sources import (
    Y_UP_TO_Z_UP,
    BrokenMeshError,
    MeshItem,
    catalogue_seed,
    load_mesh,
    resolve_source,
    safe_name,
)
from implicit3d.errors import UserError


def _write_box(path, extents=(1, 2, 3)):
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents).export(path)


def test_folder_source_categories_and_formats(tmp_path):
    _write_box(tmp_path / "mugs" / "a.obj")
    _write_box(tmp_path / "mugs" / "sub" / "b.stl")
    _write_box(tmp_path / "bowls" / "c.ply")
    _write_box(tmp_path / "bowls" / "c.off")  # same stem: disambiguated
    _write_box(tmp_path / "top.glb")
    (tmp_path / "notes.txt").write_text("not a mesh")
    items = resolve_source(str(tmp_path))
    keys = [it.key for it in items]
    root_cat = safe_name(tmp_path.name)
    assert keys == sorted(keys)
    assert set(keys) == {"mugs/a", "mugs/b", "bowls/c_off", "bowls/c_ply", f"{root_cat}/top"}
    for it in items:
        m = load_mesh(it)
        np.testing.assert_allclose(sorted(m.extents), [1, 2, 3], atol=1e-6)
    # --count: the first N of each category (a subset spans every category, not the first one only)
    assert [it.key for it in resolve_source(str(tmp_path), count=1)] == ["bowls/c_off", "mugs/a", f"{root_cat}/top"]
    assert [it.key for it in resolve_source(str(tmp_path), count=2)] == keys


def test_glb_scene_is_merged(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box((1, 1, 1)), node_name="a")
    scene.add_geometry(
        trimesh.creation.box((1, 1, 1)), node_name="b", transform=trimesh.transformations.translation_matrix([3, 0, 0])
    )
    scene.export(tmp_path / "two.glb")
    (item,) = resolve_source(str(tmp_path))
    m = load_mesh(item)
    assert len(m.faces) == 24
    np.testing.assert_allclose(m.bounds, [[-0.5, -0.5, -0.5], [3.5, 0.5, 0.5]], atol=1e-6)


def test_broken_files_raise_clear_errors(tmp_path):
    (tmp_path / "garbage.ply").write_bytes(b"ply\nformat nonsense\n\x00\x01")
    (tmp_path / "empty.obj").write_text("# nothing here\n")
    (tmp_path / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    items = {it.name: it for it in resolve_source(str(tmp_path))}
    assert set(items) == {"garbage", "empty", "points", "nan"}
    for it in items.values():
        with pytest.raises(BrokenMeshError) as exc:
            load_mesh(it)
        assert str(exc.value)


def test_shapenet_layouts_rotate_y_up(tmp_path):
    # v1: <synset>/<model>/model.obj ; v2: <synset>/<model>/models/model_normalized.obj
    _write_box(tmp_path / "02876657" / "m1" / "model.obj", (0.1, 0.5, 0.2))  # tall along y
    _write_box(tmp_path / "03797390" / "m2" / "models" / "model_normalized.obj", (0.1, 0.5, 0.2))
    (tmp_path / "03797390" / "m2" / "models" / "model_normalized.json").write_text("{}")
    items = resolve_source(str(tmp_path))
    assert [it.key for it in items] == ["02876657/m1", "03797390/m2"]
    for it in items:
        assert it.up == "y"
        m = load_mesh(it)
        np.testing.assert_allclose(m.extents, [0.1, 0.2, 0.5], atol=1e-6)  # y-up height is now along z
    np.testing.assert_allclose(Y_UP_TO_Z_UP @ [0, 1, 0], [0, 0, 1])
    assert np.linalg.det(Y_UP_TO_Z_UP) == pytest.approx(1.0)


def test_shapenet_is_told_from_folders_by_its_synset_ids(tmp_path):
    """A folder of one's own meshes that holds a `<category>/<object>/model.obj` is a plain folder (not every mesh
    lost, not turned y-up); a ShapeNet tree with other meshes beside it is refused, naming both; `--up z` for a
    ShapeNet tree is said not to be used."""
    from implicit3d.errors import InputWarning, UserError

    mine = tmp_path / "mine"
    _write_box(mine / "mugs" / "mug1" / "model.obj", (0.1, 0.5, 0.2))
    _write_box(mine / "mugs" / "cup.obj", (0.1, 0.2, 0.3))
    _write_box(mine / "bowl.ply", (0.3, 0.3, 0.1))
    items = resolve_source(str(mine))
    assert len(items) == 3 and all(it.up == "z" for it in items)
    sn = tmp_path / "sn"
    _write_box(sn / "02876657" / "m1" / "model.obj", (0.1, 0.5, 0.2))
    assert [it.up for it in resolve_source(str(sn))] == ["y"]
    with pytest.warns(InputWarning, match="a ShapeNet tree, whose models are y-up: --up z is not used"):
        resolve_source(str(sn), up="z")
    _write_box(sn / "extra" / "thing.obj", (0.1, 0.1, 0.1))
    with pytest.raises(UserError, match=r"mixes a ShapeNet tree \(1 models such as 02876657/m1/model.obj.* 1 other "
                       r"mesh files \(such as extra/thing.obj\)"):
        resolve_source(str(sn))


def test_catalogue_source():
    items = resolve_source("catalogue:bottle", count=3, seed=5)
    assert [it.key for it in items] == ["bottle/bottle_00000", "bottle/bottle_00001", "bottle/bottle_00002"]
    assert all(it.metric and it.kind == "catalogue" for it in items)
    assert len({it.seed for it in items}) == 3
    assert items[1].seed == catalogue_seed("bottle", 1, 5) != catalogue_seed("bottle", 1, 6)
    m = load_mesh(items[0])
    assert isinstance(m, trimesh.Trimesh) and len(m.faces) > 0


def test_catalogue_source_per_category_counts():
    items = resolve_source("catalogue:bottle,can=3,vase=1", count=2, seed=5)
    assert [it.key for it in items] == [
        "bottle/bottle_00000", "bottle/bottle_00001", "can/can_00000", "can/can_00001", "can/can_00002",
        "vase/vase_00000",
    ]
    everything = resolve_source("catalogue:all,can=3", count=1, seed=5)
    by_category = {c: sum(it.category == c for it in everything) for c in {it.category for it in everything}}
    assert by_category["can"] == 3 and by_category["bottle"] == 1 and len(by_category) >= 13
    # a count per category needs no --count
    assert len(resolve_source("catalogue:can=2")) == 2
    # the first shapes are the same as without the override
    assert everything[0].seed == resolve_source("catalogue:all", count=1, seed=5)[0].seed


def test_source_errors(tmp_path):
    with pytest.raises(UserError, match="unknown catalogue category"):
        resolve_source("catalogue:spaceship", count=1)
    with pytest.raises(UserError, match="--count"):
        resolve_source("catalogue:bottle")
    with pytest.raises(UserError, match="must be an integer"):
        resolve_source("catalogue:bottle=many")
    with pytest.raises(UserError, match=">= 1"):
        resolve_source("catalogue:bottle=0")
    with pytest.raises(UserError, match="unknown catalogue category"):
        resolve_source("catalogue:all=3")
    with pytest.raises(UserError, match="does not exist"):
        resolve_source(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="no mesh files"):
        resolve_source(str(tmp_path))


def test_safe_name():
    assert safe_name("a b/c") == "a_b_c"
    assert safe_name("..") == "unnamed"
    assert MeshItem("n", "c", "file", "x").key == "c/n"


def test_names_that_clean_up_alike_stay_apart(tmp_path):
    """Spaces, accents and non-Latin scripts: every file its own shape, every folder its own category."""
    for name in ("my cup.obj", "my_cup.obj", "日本.obj", "中文.obj", "tasse à café.obj", "tasse_caf.obj"):
        _write_box(tmp_path / "cups" / name)
    _write_box(tmp_path / "椅子" / "a.obj")
    _write_box(tmp_path / "桌子" / "a.obj")
    _write_box(tmp_path / "桌子" / "b.obj")
    items = resolve_source(str(tmp_path))
    keys = [it.key for it in items]
    assert len(keys) == len(set(keys)) == 9
    assert len({it.origin for it in items}) == 9
    assert "cups/tasse_a_cafe" in keys and "cups/tasse_caf" in keys  # accents folded, not dropped
    cups = {it.name for it in items if it.category == "cups"}
    assert {n for n in cups if n.startswith("my_cup_")} and len(cups) == 6
    assert len({it.category for it in items}) == 3  # the two CJK folders stay two categories
    # stable: the same names on another listing, and a name no other file shares is left as it is
    assert [it.key for it in resolve_source(str(tmp_path))] == keys
    assert safe_name("tasse à café") == "tasse_a_cafe"


def test_a_dataset_built_inside_the_source_folder_is_left_out(tmp_path):
    _write_box(tmp_path / "src" / "mugs" / "a.obj")
    built = tmp_path / "src" / "prepared"
    _write_box(built / "mugs" / "a" / "mesh.ply")
    (built / "manifest.json").write_text('{"format_version": 1, "source": "x", "settings": {}}')
    _write_box(tmp_path / "src" / "other" / "manifest_like" / "b.obj")
    (tmp_path / "src" / "other" / "manifest.json").write_text('{"name": "not ours"}')  # someone else's file
    with pytest.warns(UserWarning, match="a dataset built by prepare, inside the source folder"):
        keys = [it.key for it in resolve_source(str(tmp_path / "src"))]
    assert keys == ["mugs/a", "other/b"]
