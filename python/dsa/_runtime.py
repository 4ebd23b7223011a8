"""Devices, contexts, and running one op on DLPack views.

An op call wraps the caller's memory in libdsa buffers (dsa_buffer_wrap: no copy), builds the
dsa_tensor views with their strides, runs the op on the context's queue and frees the wrappers
(freeing a wrapper does not wait for the queue). Outputs are written in place.

Which context runs an op: the one passed as ctx=, else one chosen from the arrays' device and
cached for the process: the CPU backend for host memory; for CUDA memory, a context on that
device whose queue is the producer's current stream (torch.cuda.current_stream(), CuPy's current
stream, else the legacy default stream), so work is ordered with the application's own.
"""
import atexit
import ctypes
import threading

from . import _cuda
from . import _dlpack as D
from . import _lib as L


class DeviceInfo:
    """One device as dsa_device_info describes it (api/dsa.h)."""

    def __init__(self, s):
        self.backend = L.BACKEND_NAMES[s.backend] if 0 <= s.backend < len(L.BACKEND_NAMES) else str(s.backend)
        self.index = s.index
        for f in ("name", "vendor", "platform", "driver_version", "runtime_version", "matrix_units", "features"):
            setattr(self, f, getattr(s, f).decode("utf-8", "replace"))
        for f in ("memory_bytes", "max_buffer_bytes", "shared_mem_per_block", "compute_units", "caps",
                  "subgroup_sizes"):
            setattr(self, f, int(getattr(s, f)))
        self.uuid = bytes(s.uuid) if s.has_uuid else None
        self.is_cpu, self.is_emulation = bool(s.is_cpu), bool(s.is_emulation)

    @property
    def selector(self):
        """The selector that names exactly this device: "cpu", "cuda:0", "opencl:1" ..."""
        return "cpu" if self.backend == "cpu" else "%s:%d" % (self.backend, self.index)

    def __repr__(self):
        return "<dsa.DeviceInfo %s: %s (%s)>" % (self.selector, self.name, self.vendor)


def devices():
    """Every device of every available backend, in libdsa's order (dsa_device_count/get_info)."""
    lib, n = L.lib(), ctypes.c_int()
    L.check(lib.dsa_device_count(ctypes.byref(n)))
    out = []
    for i in range(n.value):
        s = L.DeviceInfoStruct()
        L.check(lib.dsa_device_get_info(i, ctypes.byref(s)))
        out.append(DeviceInfo(s))
    return out


def backend_available(backend):
    """(available, reason) for a backend name: "cpu", "cuda", "hip", "opencl", "vulkan"."""
    if backend not in L.BACKEND_NAMES:
        L.fail(L.ERROR_INVALID_ARGUMENT, "backend is %r, expected one of %s" % (backend, ", ".join(L.BACKEND_NAMES)))
    avail, reason = ctypes.c_int(), ctypes.c_char_p()
    L.check(L.lib().dsa_backend_available(L.BACKEND_NAMES.index(backend), ctypes.byref(avail), ctypes.byref(reason)))
    return bool(avail.value), (reason.value or b"").decode("utf-8", "replace")


def version():
    """The loaded library's version string ("0.1.0")."""
    return L.lib().dsa_version_string().decode()


class Context:
    """A libdsa context: one device and one in-order queue (dsa_context_create_ex).

    selector       -- "auto" (DSA_DEVICE if set), "cpu", "cuda:0", "opencl:pocl", "vulkan:llvmpipe" ...
    native_context, native_queue, native_device -- the application's handles as integers (CUDA:
                      CUcontext, CUstream), or None for the library's own
    num_threads    -- CPU backend worker threads (0: all cores)

    Use it as a context manager, or call close(). Ops take it as ctx=.
    """

    def __init__(self, selector="auto", native_context=None, native_queue=None, native_device=None,
                 num_threads=0):
        lib = L.lib()
        self._handle = None
        self._lock = threading.Lock()  # libdsa contexts are not locked; Python threads may share one
        self._scratch = None           # a small buffer of its own for views with no element
        self._on_close = []
        desc = L.ContextDesc(selector.encode() if selector else None, native_context, native_queue,
                             native_device, int(num_threads))
        h = ctypes.c_void_p()
        L.check(lib.dsa_context_create_ex(ctypes.byref(desc), ctypes.byref(h)))
        self._handle = h
        info = L.DeviceInfoStruct()
        L.check(lib.dsa_context_get_info(h, ctypes.byref(info)))
        self.device = DeviceInfo(info)
        self.native_queue = native_queue

    @property
    def backend(self):
        return self.device.backend

    def synchronize(self):
        """Waits for every op enqueued on this context's queue."""
        with self._lock:
            L.check(L.lib().dsa_synchronize(self._live()))

    def _live(self):
        if self._handle is None:
            L.fail(L.ERROR_INVALID_ARGUMENT, "the context was closed")
        return self._handle

    def close(self):
        """Waits for outstanding work and frees the context. Closing twice is harmless."""
        with self._lock:
            if self._handle is None:
                return
            lib = L.lib()
            if self._scratch:
                lib.dsa_buffer_free(self._scratch)
                self._scratch = None
            st = lib.dsa_context_destroy(self._handle)
            self._handle = None
            for fn in self._on_close:
                fn()
            L.check(st)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._handle is None else "open"
        return "<dsa.Context %s (%s), %s>" % (self.device.selector, self.device.name, state)

    def scratch(self):
        """A small owned buffer that views with no element point into (a wrapper needs memory)."""
        if self._scratch is None:
            b = ctypes.c_void_p()
            L.check(L.lib().dsa_buffer_alloc(self._handle, 256, ctypes.byref(b)))
            self._scratch = b
        return self._scratch


# ---- contexts chosen from the arrays ----------------------------------------------------------

_cache = {}
_cache_lock = threading.Lock()
HOST_DEVICES = (D.KDL_CPU, D.KDL_CUDA_HOST, D.KDL_CUDA_MANAGED)


def _close_all():
    for ctx in list(_cache.values()):
        try:
            ctx.close()
        except Exception:  # at exit, a driver may already be gone; nothing is left to protect
            pass
    _cache.clear()


atexit.register(_close_all)


def cuda_stream_of(obj, device_id):
    """The CUstream (int) the producer of a CUDA array is working on now; 1 = the legacy default
    stream (DLPack's and the driver's CU_STREAM_LEGACY), which 0 also means in PyTorch/CuPy."""
    obj = D.unwrap(obj)
    mod = type(obj).__module__.split(".")[0]
    s = 0
    if mod == "torch":
        import torch
        s = torch.cuda.current_stream(device_id).cuda_stream
    elif mod == "cupy":
        import cupy
        with cupy.cuda.Device(device_id):
            s = cupy.cuda.get_current_stream().ptr
    return s or 1


def default_context(dev_type, dev_id, stream):
    """The cached context for memory on this device, running on `stream` for CUDA."""
    if dev_type in HOST_DEVICES:
        key = ("cpu",)
    elif dev_type == D.KDL_CUDA:
        key = ("cuda", dev_id, stream)
    else:
        L.fail(L.ERROR_UNSUPPORTED, "arrays on DLPack device %s:%d are not supported by the binding yet (host "
               "memory and CUDA memory are)" % (D.DEVICE_NAMES.get(dev_type, dev_type), dev_id))
    with _cache_lock:
        ctx = _cache.get(key)
        if ctx is None:
            if key[0] == "cpu":
                ctx = Context("cpu")
            else:
                # The device's primary context (PyTorch's and CuPy's), held while ours lives, so
                # that no CUDA context needs to be current on the calling thread.
                primary, release = _cuda.retain_primary(dev_id)
                try:
                    ctx = Context("cuda:%d" % dev_id, native_context=primary, native_queue=stream)
                except BaseException:
                    release()
                    raise
                ctx._on_close.append(release)
            _cache[key] = ctx
    return ctx


def _check_placement(ctx, view, name):
    """Host arrays need the CPU backend, CUDA arrays a CUDA context of their device."""
    t, i = view.device
    if ctx.backend == "cpu" and t in HOST_DEVICES:
        return
    if ctx.backend == "cuda" and t in (D.KDL_CUDA, D.KDL_CUDA_MANAGED) and i == ctx.device.index:
        return
    L.fail(L.ERROR_WRONG_CONTEXT, "%s lives on DLPack device %s:%d, which the context %s cannot read in place "
           "(host arrays run on the cpu backend, CUDA arrays on a cuda context of their device)"
           % (name, D.DEVICE_NAMES.get(t, t), i, ctx.device.selector))


# ---- one op call --------------------------------------------------------------------------------

def resolve(arrays, ctx=None):
    """Views of the named arrays (None for absent ones) and the context to run them on.

    arrays -- list of (name, array or None); all present ones must be on one device."""
    first = next(((n, a) for n, a in arrays if a is not None), None)
    if first is None:
        L.fail(L.ERROR_NULL_POINTER, "no array given")
    try:
        dev_type, dev_id = first[1].__dlpack_device__()
    except AttributeError:
        dev_type = dev_id = None  # view_of says what is wrong with it
    stream = None
    if ctx is None and dev_type == D.KDL_CUDA:
        stream = cuda_stream_of(first[1], dev_id)
    elif ctx is not None and ctx.backend == "cuda":
        stream = ctx.native_queue or None  # the producer orders its work before this stream
    views = {}
    for name, a in arrays:
        views[name] = None if a is None else D.view_of(a, name, stream)
    for name, v in views.items():
        if v is not None and v.device != views[first[0]].device:
            L.fail(L.ERROR_WRONG_CONTEXT, "%s is on DLPack device %s but %s is on %s; an op runs on one device"
                   % (name, v.device, first[0], views[first[0]].device))
    if ctx is None:
        ctx = default_context(dev_type, dev_id, stream)
    for name, v in views.items():
        if v is not None:
            _check_placement(ctx, v, name)
    return views, ctx


def _group(views):
    """Views whose bytes overlap share one wrapper, so libdsa sees them in one buffer and its
    aliasing check applies; disjoint views get their own (they may lie in different allocations).
    Returns [(start, end, [names])]."""
    spans = sorted((v.span() + (n,)) for n, v in views.items() if v is not None and v.span()[1] > v.span()[0])
    groups = []
    for lo, hi, n in spans:
        if groups and lo < groups[-1][1]:
            g = groups[-1]
            groups[-1] = (g[0], max(g[1], hi), g[2] + [n])
        else:
            groups.append((lo, hi, [n]))
    return groups


def run(ctx, op, views, scalars=None):
    """Runs libdsa op `op` with the views (name -> View or None) and scalar fields."""
    code, struct, fn = L.OPS[op]
    lib = L.lib()
    args = struct()
    for name, value in (scalars or {}).items():
        setattr(args, name, value)
    with ctx._lock:
        handle = ctx._live()
        wrappers = []
        try:
            where = {}
            for lo, hi, names in _group(views):
                b = ctypes.c_void_p()
                L.check(lib.dsa_buffer_wrap(handle, ctypes.c_void_p(lo), hi - lo, ctypes.byref(b)))
                wrappers.append(b)
                for n in names:
                    where[n] = (b, lo)
            for name, v in views.items():
                if v is None:
                    continue  # the all-zero struct is dsa_tensor_none()
                buf, base = where.get(name) or (ctx.scratch(), None)
                t = getattr(args, name)
                t.buffer = buf
                # Element [0, ..., 0] sits at `data` (above the lowest address when a stride is
                # negative, which libdsa then rejects by name: BAD_STRIDE).
                t.offset = v.data - base if base is not None else 0
                t.dtype, t.rank = v.dtype, len(v.shape)
                for d, (n, s) in enumerate(zip(v.shape, v.strides)):
                    t.shape[d], t.strides[d] = n, s
            L.check(getattr(lib, fn)(handle, ctypes.byref(args), None))
        finally:
            for b in wrappers:
                lib.dsa_buffer_free(b)
