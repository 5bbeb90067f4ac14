"""Depthwise (and 1x1) convolutions in the forms XLA's CPU backend runs fast.

XLA's CPU backend runs grouped (depthwise) convolutions far below the
machine's speed: a 3x3 depthwise conv on [8, 32, 32, 96] took 42 ms forward
and 70 ms backward here, the same result as nine shifted multiply-adds took
0.6 ms and 6 ms. MobileNetV2 is mostly depthwise convs, so on a CPU this
decides whether the segmentation models train in minutes or hours. On other
backends (cuDNN, TPU) the native convolution is used.
"""

import functools

import jax
from jax import lax
import jax.numpy as jnp


def _is_depthwise_nhwc(lhs, rhs, dimension_numbers, feature_group_count,
                       lhs_dilation) -> bool:
  if lhs.ndim != 4 or rhs.shape[2] != 1 or rhs.shape[3] != lhs.shape[3]:
    return False
  if feature_group_count != lhs.shape[3]:
    return False
  if lhs_dilation is not None and tuple(lhs_dilation) != (1, 1):
    return False
  dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
  return (tuple(dn.lhs_spec) == (0, 3, 1, 2)
          and tuple(dn.rhs_spec) == (3, 2, 0, 1)
          and tuple(dn.out_spec) == (0, 3, 1, 2))


def _is_pointwise_nhwc(lhs, rhs, window_strides, padding, lhs_dilation,
                       dimension_numbers, feature_group_count) -> bool:
  if lhs.ndim != 4 or rhs.shape[:2] != (1, 1) or feature_group_count != 1:
    return False
  if tuple(window_strides) != (1, 1) or (
      lhs_dilation is not None and tuple(lhs_dilation) != (1, 1)):
    return False
  if not isinstance(padding, str) and any(p != (0, 0) for p in map(
      tuple, padding)):
    return False
  dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
  return (tuple(dn.lhs_spec) == (0, 3, 1, 2)
          and tuple(dn.rhs_spec) == (3, 2, 0, 1)
          and tuple(dn.out_spec) == (0, 3, 1, 2))


def _taps(xpad: jax.Array, k: jax.Array, out_hw: tuple[int, int],
          strides: tuple[int, int], dilation: tuple[int, int]) -> jax.Array:
  """sum over taps (i, j) of the strided window of xpad at (i d, j d)
  times k[i, j]: the depthwise correlation, [batch, out_h, out_w, c]."""
  dh, dw = dilation
  out = None
  for i in range(k.shape[0]):
    for j in range(k.shape[1]):
      term = _window(xpad, i * dh, j * dw, out_hw, strides) * k[i, j, 0]
      out = term if out is None else out + term
  return out


def _window(xpad, top, left, out_hw, strides):
  (sh, sw), (out_h, out_w) = strides, out_hw
  return lax.slice(xpad, (0, top, left, 0),
                   (xpad.shape[0], top + (out_h - 1) * sh + 1,
                    left + (out_w - 1) * sw + 1, xpad.shape[3]),
                   (1, sh, sw, 1))


def _padded(x, padding):
  (ph0, ph1), (pw0, pw1) = padding
  return jnp.pad(x, ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _depthwise(x, k, strides, dilation, padding):
  xpad = _padded(x, padding)
  return _taps(xpad, k, _out_hw(x, k, strides, dilation, padding), strides,
               dilation)


def _out_hw(x, k, strides, dilation, padding):
  return tuple((n + p0 + p1 - (kn - 1) * d - 1) // s + 1
               for n, (p0, p1), kn, d, s in zip(
                   x.shape[1:3], padding, k.shape[:2], dilation, strides))


def _depthwise_fwd(x, k, strides, dilation, padding):
  return _depthwise(x, k, strides, dilation, padding), (x, k)


def _kernel_grad(xpad, g, kernel_hw, strides, dilation):
  """dk [kh, kw, 1, c]: each tap's window of xpad times g, summed.

  A loop, not nine reductions side by side: a loop body cannot fuse what
  computed g or xpad into each tap's reduction, and XLA's CPU backend,
  given the nine at once, ran them ~3x slower.
  """
  kh, kw = kernel_hw
  (dh, dw), out_hw = dilation, g.shape[1:3]
  span = tuple((n - 1) * s + 1 for n, s in zip(out_hw, strides))

  def tap(t, dk):
    i, j = t // kw, t % kw
    window = lax.dynamic_slice(
        xpad, (0, i * dh, j * dw, 0), (xpad.shape[0], *span, xpad.shape[3]))
    if strides != (1, 1):
      window = window[:, ::strides[0], ::strides[1]]
    return dk.at[t].set(jnp.sum(window * g, axis=(0, 1, 2)))

  dk = lax.fori_loop(0, kh * kw, tap, jnp.zeros((kh * kw, g.shape[3]),
                                                g.dtype))
  return dk.reshape(kh, kw, 1, g.shape[3])


def _depthwise_bwd(strides, dilation, padding, residuals, g):
  """Both gradients by shifts too: autodiff of the forward's slices
  transposes each into a pad of the whole input, ~20x slower on a CPU.

  dk[i, j] sums the tap's window times g. dx correlates g, dilated by the
  stride and padded by the kernel's extent, with the flipped kernel: the
  transposed convolution, cropped to x's rows and columns.
  """
  x, k = residuals
  (ph0, ph1), (pw0, pw1) = padding
  (sh, sw), (dh, dw) = strides, dilation
  kh, kw = k.shape[:2]
  out_hw = g.shape[1:3]
  xpad = _padded(x, padding)
  dk = _kernel_grad(xpad, g, (kh, kw), strides, dilation)
  eh, ew = (kh - 1) * dh, (kw - 1) * dw  # the kernel's extent - 1
  _, h, w, _ = x.shape
  rows = (h + ph0 + ph1) - ((out_hw[0] - 1) * sh + 1)
  cols = (w + pw0 + pw1) - ((out_hw[1] - 1) * sw + 1)
  gpad = lax.pad(g, jnp.zeros((), g.dtype),
                 ((0, 0, 0), (eh, rows, sh - 1), (ew, cols, sw - 1),
                  (0, 0, 0)))
  gpad = gpad[:, ph0:ph0 + h + eh, pw0:pw0 + w + ew]
  dx = _taps(gpad, k[::-1, ::-1], (h, w), (1, 1), dilation)
  return dx.astype(x.dtype), dk.astype(k.dtype)


_depthwise.defvjp(_depthwise_fwd, _depthwise_bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, precision=None, **kwargs):
  """`lax.conv_general_dilated`, computed by shifts for depthwise NHWC convs
  on the CPU (pass it as `nn.Conv(conv_general_dilated=...)`).

  Args and returns: as `lax.conv_general_dilated`; lhs [batch, height,
  width, channels], rhs [kh, kw, 1, channels] in the depthwise case.
  """
  if jax.default_backend() == 'cpu' and not kwargs and _is_pointwise_nhwc(
      lhs, rhs, window_strides, padding, lhs_dilation, dimension_numbers,
      feature_group_count):
    # A matmul over the channels: XLA's CPU backend computes the kernel
    # gradient of a 1x1 convolution as a convolution whose window is the
    # whole image, ~10x slower than this product's.
    return lax.dot_general(lhs, rhs[0, 0], (((3,), (0,)), ((), ())),
                           precision=precision)
  native = lambda: lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
      rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
      feature_group_count=feature_group_count, precision=precision, **kwargs)
  if (jax.default_backend() != 'cpu' or kwargs or not _is_depthwise_nhwc(
      lhs, rhs, dimension_numbers, feature_group_count, lhs_dilation)):
    return native()
  kh, kw = rhs.shape[:2]
  dilation = tuple(rhs_dilation or (1, 1))
  strides = tuple(window_strides)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(
        lhs.shape[1:3], ((kh - 1) * dilation[0] + 1,
                         (kw - 1) * dilation[1] + 1), strides, padding)
  padding = tuple(tuple(int(p) for p in pair) for pair in padding)
  return _depthwise(lhs, rhs, strides, dilation, padding)
