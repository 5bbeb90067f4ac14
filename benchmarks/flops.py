"""FLOP counts and the matmul rate they are divided by (no flags: tests
import it)."""

import time

import jax
import jax.numpy as jnp


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
  """float32 matmul throughput of the first device, GFLOP/s (best run)."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda a, b: a @ b)
  f(a, a).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    f(a, a).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * n ** 3 / best / 1e9


def compiled_gflop(jitted, *args) -> float:
  """GFLOP of a jitted function's compiled program, as XLA counts them
  (`cost_analysis()`), for these arguments."""
  analysis = jitted.lower(*args).compile().cost_analysis()
  if isinstance(analysis, list):  # One entry per program in older JAX.
    analysis = analysis[0]
  return float(analysis.get('flops', 0.0)) / 1e9
