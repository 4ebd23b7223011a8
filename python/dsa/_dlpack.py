"""Reading arrays through DLPack, without copying them.

Any object with __dlpack__ / __dlpack_device__ (PyTorch tensors, NumPy arrays, CuPy arrays) hands
out a capsule holding a DLManagedTensor. The layout below is the one the DLPack specification
fixes (dlpack.h, DLPACK_VERSION 0.x, the "legacy" unversioned capsule named "dltensor"), which
every producer still offers when the consumer asks for no max_version.

The capsule is not renamed to "used_dltensor": the producer's capsule destructor then frees the
managed tensor when the capsule is collected, and the View keeps the capsule (and the array)
alive for as long as libdsa may read the memory in the call.
"""
import ctypes

from . import _lib as L

# DLDeviceType values used here.
KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED = 1, 2, 3, 13
DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal",
                10: "rocm", 11: "rocm_host", 13: "cuda_managed", 14: "oneapi"}

# DLDataTypeCode values used here.
KDL_INT, KDL_UINT, KDL_FLOAT, KDL_BFLOAT, KDL_FLOAT8_E4M3FN = 0, 1, 2, 4, 10


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype, _get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_is_valid.restype, _is_valid.argtypes = ctypes.c_int, [ctypes.py_object, ctypes.c_char_p]

# What each DLPack (code, bits) is as a libdsa dtype; bf16/fp8 held as raw integers need dtype=.
_NATIVE = {(KDL_FLOAT, 16): L.FP16, (KDL_FLOAT, 32): L.FP32, (KDL_BFLOAT, 16): L.BF16,
           (KDL_INT, 32): L.INT32, (KDL_UINT, 8): L.UINT8, (KDL_FLOAT8_E4M3FN, 8): L.FP8_E4M3}
# An explicit dtype may reinterpret integers of the same width (NumPy has no bf16 or fp8).
_REINTERPRET = {L.BF16: {(KDL_UINT, 16), (KDL_INT, 16)},
                L.FP8_E4M3: {(KDL_UINT, 8), (KDL_INT, 8)},
                L.UINT8: {(KDL_INT, 8), (KDL_FLOAT8_E4M3FN, 8)}}
DTYPE_ALIASES = {"bf16": L.BF16, "bfloat16": L.BF16, "fp16": L.FP16, "float16": L.FP16,
                 "fp32": L.FP32, "float32": L.FP32, "int32": L.INT32, "uint8": L.UINT8,
                 "fp8": L.FP8_E4M3, "fp8_e4m3": L.FP8_E4M3, "float8_e4m3fn": L.FP8_E4M3,
                 "e4m3": L.FP8_E4M3}


def dtype_code(dtype, what="dtype"):
    """A libdsa dtype from a name ("bf16", "fp8", ...) or a code; DsaError otherwise."""
    if isinstance(dtype, int) and dtype in L.DTYPE_NAMES:
        return dtype
    code = DTYPE_ALIASES.get(str(dtype).lower())
    if code is None:
        L.fail(L.ERROR_BAD_DTYPE, "%s is %r, expected one of %s" % (what, dtype, ", ".join(sorted(DTYPE_ALIASES))))
    return code


class Typed:
    """An array with an explicit libdsa dtype: dsa.tensor(np_uint16_array, "bf16").

    Passes __dlpack__ through, so it can go wherever an array can."""

    def __init__(self, array, dtype):
        self.array = array.array if isinstance(array, Typed) else array
        self.dtype = dtype_code(dtype)

    def __dlpack__(self, *args, **kwargs):
        return self.array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def __getattr__(self, name):  # shape, device ... of the underlying array
        if name == "array":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.array, name)

    def __repr__(self):
        return "dsa.tensor(%r, %r)" % (self.array, L.DTYPE_NAMES[self.dtype])


class Squeezed:
    """An array seen without one of its size-1 dimensions (no copy)."""

    def __init__(self, array, dim):
        self.array, self.dim = array, dim

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    @property
    def shape(self):
        s = tuple(self.array.shape)
        return s[:self.dim] + s[self.dim + 1:]

    def dsa_view(self, name, stream):
        return view_of(self.array, name, stream).drop_dim(self.dim, name)


def unwrap(obj):
    """The producer's own array under the binding's wrappers."""
    while isinstance(obj, (Typed, Squeezed)):
        obj = obj.array
    return obj


def is_torch(obj):
    return type(obj).__module__.split(".")[0] == "torch"


class View:
    """A strided view of device or host memory, read from a DLPack capsule.

    data     -- address of element [0, ..., 0] (data pointer + byte_offset)
    device   -- (DLDeviceType, device_id)
    shape, strides -- tuples, strides in elements
    dtype    -- the libdsa dtype code
    keep     -- objects that must stay alive while the memory is used
    """

    def __init__(self, data, device, shape, strides, dtype, keep):
        self.data, self.device, self.shape, self.strides = data, device, shape, strides
        self.dtype, self.keep = dtype, keep

    @property
    def itemsize(self):
        return L.DTYPE_SIZES[self.dtype]

    def span(self):
        """(first byte, end byte) that the view touches; (data, data) when it has no element."""
        if any(n == 0 for n in self.shape):
            return self.data, self.data
        lo = hi = 0
        for n, s in zip(self.shape, self.strides):
            if s < 0:
                lo += (n - 1) * s
            else:
                hi += (n - 1) * s
        return self.data + lo * self.itemsize, self.data + (hi + 1) * self.itemsize

    def drop_dim(self, dim, name):
        """The view without dimension `dim`, which must have size 1 (FlashMLA's h_kv = 1)."""
        if len(self.shape) <= dim or self.shape[dim] != 1:
            L.fail(L.ERROR_BAD_SHAPE, "%s has shape %s; expected size 1 in dimension %d" % (name, list(self.shape), dim))
        shape = self.shape[:dim] + self.shape[dim + 1:]
        strides = self.strides[:dim] + self.strides[dim + 1:]
        return View(self.data, self.device, shape, strides, self.dtype, self.keep)


def _torch_exportable(t):
    """A torch tensor DLPack can export without a copy: detached; fp8 seen as its bytes (torch
    versions differ in whether DLPack knows float8), with the dtype remembered."""
    import torch  # only reached for torch tensors
    dtype = None
    if t.requires_grad:
        t = t.detach()
    if t.dtype == torch.float8_e4m3fn:
        t, dtype = t.view(torch.uint8), L.FP8_E4M3
    elif str(t.dtype).startswith("torch.float8"):
        L.fail(L.ERROR_BAD_DTYPE, "%s is not e4m3fn (OCP E4M3FN is libdsa's fp8)" % t.dtype)
    return t, dtype


def view_of(obj, name, stream=None):
    """The View of an array-like for argument `name` of an op (DsaError naming it if unusable).

    stream -- for CUDA arrays, the stream (DLPack integer) the consumer will use; the producer
              orders its pending work before it (a no-op when it is the producer's own stream).
    """
    if isinstance(obj, Squeezed):
        return obj.dsa_view(name, stream)
    dtype = None
    if isinstance(obj, Typed):
        dtype, obj = obj.dtype, obj.array
    if is_torch(obj):
        obj, torch_dtype = _torch_exportable(obj)
        dtype = dtype or torch_dtype
    if not hasattr(obj, "__dlpack__") or not hasattr(obj, "__dlpack_device__"):
        L.fail(L.ERROR_INVALID_ARGUMENT, "%s is a %s, expected an array with __dlpack__ (a NumPy array, "
               "a PyTorch tensor, a CuPy array)" % (name, type(obj).__name__))
    try:
        dev_type, dev_id = obj.__dlpack_device__()
        if dev_type == KDL_CUDA and stream is not None:
            capsule = obj.__dlpack__(stream=stream)
        else:
            capsule = obj.__dlpack__()
    except (TypeError, ValueError, RuntimeError, BufferError) as e:
        L.fail(L.ERROR_INVALID_ARGUMENT, "%s: its __dlpack__ failed: %s" % (name, e))
    if not _is_valid(capsule, b"dltensor"):
        L.fail(L.ERROR_INVALID_ARGUMENT, "%s: __dlpack__ returned %r, expected an unused 'dltensor' capsule"
               % (name, capsule))
    m = _DLManagedTensor.from_address(_get_pointer(capsule, b"dltensor"))
    t = m.dl_tensor
    ndim = t.ndim
    if ndim < 1 or ndim > L.MAX_RANK:
        L.fail(L.ERROR_BAD_SHAPE, "%s has %d dimensions, expected 1..%d" % (name, ndim, L.MAX_RANK))
    shape = tuple(t.shape[i] for i in range(ndim))
    if t.strides and all(shape):
        strides = tuple(t.strides[i] for i in range(ndim))
    else:  # NULL strides, or an empty array (NumPy 2 reports 0 strides there): compact row-major
        strides, acc = [], 1
        for n in reversed(shape):
            strides.insert(0, acc)
            acc *= n
        strides = tuple(strides)
    code = (t.dtype.code, t.dtype.bits)
    if t.dtype.lanes != 1:
        L.fail(L.ERROR_BAD_DTYPE, "%s has %d-lane vector elements, expected scalars" % (name, t.dtype.lanes))
    native = _NATIVE.get(code)
    if dtype is None:
        dtype = native
    elif dtype != native and code not in _REINTERPRET.get(dtype, ()):
        L.fail(L.ERROR_BAD_DTYPE, "%s holds DLPack type (code %d, %d bits), which cannot be read as %s "
               "(bf16 needs 16-bit integers, fp8 8-bit integers)" % (name, code[0], code[1], L.DTYPE_NAMES[dtype]))
    if dtype is None:
        L.fail(L.ERROR_BAD_DTYPE, "%s has DLPack type (code %d, %d bits), which libdsa does not take; "
               "bf16 or fp8 held as uint16/uint8 need dsa.tensor(array, 'bf16' or 'fp8')" % (name, code[0], code[1]))
    # A dimension of size 1 is never stepped over: give it the packed stride, so that producers
    # that report any value there (allowed by DLPack) do not look like overlapping views.
    fixed, acc = list(strides), 1
    for d in reversed(range(ndim)):
        if shape[d] == 1:
            fixed[d] = acc
        acc = max(acc, shape[d] * fixed[d]) if shape[d] else acc
    data = (t.data or 0) + t.byte_offset
    if data % L.DTYPE_SIZES[dtype] and all(shape):
        # libdsa checks offsets within a buffer; the buffer here starts at the view, so the
        # element alignment of the address itself is checked here (kernels load whole elements).
        L.fail(L.ERROR_INVALID_ARGUMENT, "%s starts at address 0x%x, which is not a multiple of its element size "
               "(%d bytes, %s)" % (name, data, L.DTYPE_SIZES[dtype], L.DTYPE_NAMES[dtype]))
    return View(data, (dev_type, dev_id), shape, tuple(fixed), dtype, (capsule, obj))
