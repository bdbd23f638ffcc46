"""Mesh extraction from implicit functions: batched field evaluation, dense grids, MISE, marching cubes, export in
the input's original coordinates (see ``docs/extraction.md``)."""

from implicit3d.extraction.dense import Extraction, extract_dense
from implicit3d.extraction.field import CountingField, MeanField, ModelField, evaluate_batched
from implicit3d.extraction.generator import MeshGenerator, to_world
from implicit3d.extraction.mise import extract_mise
from implicit3d.extraction.simplify import simplify_mesh, vertex_clustering

__all__ = [
    "CountingField",
    "Extraction",
    "MeshGenerator",
    "MeanField",
    "ModelField",
    "evaluate_batched",
    "extract_dense",
    "extract_mise",
    "simplify_mesh",
    "to_world",
    "vertex_clustering",
]
