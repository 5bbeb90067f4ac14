"""Flax (linen) networks: MLPs for MNIST, DeepLabv3+ for segmentation."""
