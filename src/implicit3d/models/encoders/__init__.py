"""Encoders: global ResNet-PointNet, local-pool PointNet + U-Nets, IF-Net voxel pyramid."""
