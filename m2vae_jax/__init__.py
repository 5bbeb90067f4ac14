"""m2vae_jax: semi-supervised M2 variational autoencoders in JAX/Flax."""

__version__ = '0.1.0'
