"""implicit3d: implicit 3D shape functions (occupancy, signed distance) and shape completion."""

__version__ = "0.1.0"
