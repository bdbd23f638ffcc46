"""Evaluation of reconstructions: IoU, Chamfer, normal consistency, F-score; classical baselines."""
