"""The one thing the binding asks of the CUDA driver itself: the device's primary context.

PyTorch and CuPy run in the primary context of each device. Handing that context to libdsa with
the application's stream means libdsa never depends on which context happens to be current on
the calling thread (none, on a thread that has not touched CUDA yet). libcuda is already loaded
by libdsa's CUDA backend when this runs; the binding holds a reference on the primary context
while its libdsa context lives.
"""
import ctypes

from . import _lib as L

_cu = None


def _driver():
    global _cu
    if _cu is None:
        try:
            cu = ctypes.CDLL("libcuda.so.1")
        except OSError as e:
            L.fail(L.ERROR_BACKEND_UNAVAILABLE, "CUDA arrays need the CUDA driver: %s" % e)
        cu.cuInit.argtypes = [ctypes.c_uint]
        cu.cuDeviceGet.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        cu.cuDevicePrimaryCtxRetain.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        # cuda.h maps cuDevicePrimaryCtxRelease to its _v2 since CUDA 11; older drivers lack it.
        cu.release = getattr(cu, "cuDevicePrimaryCtxRelease_v2", None) or cu.cuDevicePrimaryCtxRelease
        cu.release.argtypes = [ctypes.c_int]
        _cu = cu
    return _cu


def _call(name, *args):
    r = getattr(_driver(), name)(*args)
    if r != 0:
        L.fail(L.ERROR_DRIVER, "%s failed with CUresult %d" % (name, r))


def retain_primary(ordinal):
    """(CUcontext as int, release function) for CUDA device `ordinal`."""
    dev, ctx = ctypes.c_int(), ctypes.c_void_p()
    _call("cuInit", 0)
    _call("cuDeviceGet", ctypes.byref(dev), int(ordinal))
    _call("cuDevicePrimaryCtxRetain", ctypes.byref(ctx), dev.value)
    released = []

    def release():
        if not released:
            released.append(True)
            _driver().release(dev.value)

    return ctx.value, release
