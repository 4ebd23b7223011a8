"""Loading libdsa.so and describing its C API (api/dsa.h) to ctypes.

The structures below mirror api/dsa.h field by field; tests/python/test_binding.py checks their
sizes against the library's own behaviour through every op. The library is loaded on first use,
so `import dsa` works (for documentation, packaging checks) where no libdsa.so is present.
"""
import ctypes
import ctypes.util
import glob
import os
import threading

# ---- errors ----------------------------------------------------------------------------------

# api/dsa.h's status codes. Kept here too so that errors raised before the library is loaded
# (a bad argument caught in Python) carry the same names.
STATUS_NAMES = {
    0: "DSA_SUCCESS",
    100: "DSA_ERROR_INVALID_ARGUMENT", 101: "DSA_ERROR_NULL_POINTER", 102: "DSA_ERROR_BAD_DTYPE",
    103: "DSA_ERROR_BAD_SHAPE", 104: "DSA_ERROR_BAD_STRIDE", 105: "DSA_ERROR_OUT_OF_BOUNDS",
    106: "DSA_ERROR_OVERFLOW", 107: "DSA_ERROR_BAD_SELECTOR", 108: "DSA_ERROR_ALIASING",
    109: "DSA_ERROR_WRONG_CONTEXT",
    200: "DSA_ERROR_UNSUPPORTED", 201: "DSA_ERROR_NO_DEVICE", 202: "DSA_ERROR_BACKEND_UNAVAILABLE",
    300: "DSA_ERROR_OUT_OF_MEMORY", 301: "DSA_ERROR_DEVICE_OUT_OF_MEMORY",
    302: "DSA_ERROR_WORKSPACE_TOO_SMALL",
    400: "DSA_ERROR_DRIVER", 401: "DSA_ERROR_DEVICE_LOST",
    500: "DSA_ERROR_COMPILE",
    600: "DSA_ERROR_INTERNAL", 601: "DSA_ERROR_IO",
}
globals().update({name[4:]: code for code, name in STATUS_NAMES.items()})  # ERROR_BAD_SHAPE = 103 ...

KIND_NAMES = ("success", "invalid argument", "unsupported", "out of memory", "driver", "compile",
              "internal")


class DsaError(RuntimeError):
    """A libdsa call failed, or the binding refused an argument before calling it.

    status  -- the dsa_status code (int), e.g. 103
    name    -- its constant name, e.g. "DSA_ERROR_BAD_SHAPE"
    kind    -- its group: "invalid argument", "unsupported", "out of memory", "driver", ...
    message -- libdsa's message naming the argument, the value and what was expected
    """

    def __init__(self, status, message):
        self.status = int(status)
        self.name = STATUS_NAMES.get(self.status, "unknown status")
        group = self.status // 100
        self.kind = KIND_NAMES[group] if 0 <= group < len(KIND_NAMES) else "unknown"
        self.message = message
        super().__init__("%s (%d): %s" % (self.name, self.status, message))


class LibraryNotFoundError(OSError):
    """No loadable libdsa.so was found; the message lists every path tried and why each failed."""


# ---- structures (api/dsa.h) ------------------------------------------------------------------

MAX_RANK = 4

BF16, FP16, FP32, INT32, UINT8, FP8_E4M3 = 1, 2, 3, 4, 5, 6
DTYPE_NAMES = {BF16: "bf16", FP16: "fp16", FP32: "fp32", INT32: "int32", UINT8: "uint8",
               FP8_E4M3: "fp8_e4m3"}
DTYPE_SIZES = {BF16: 2, FP16: 2, FP32: 4, INT32: 4, UINT8: 1, FP8_E4M3: 1}
BACKEND_NAMES = ("cpu", "cuda", "hip", "opencl", "vulkan")


class Tensor(ctypes.Structure):
    _fields_ = [("buffer", ctypes.c_void_p), ("offset", ctypes.c_uint64), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int), ("shape", ctypes.c_int64 * MAX_RANK),
                ("strides", ctypes.c_int64 * MAX_RANK)]


class DeviceInfoStruct(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int), ("index", ctypes.c_int), ("name", ctypes.c_char * 256),
                ("vendor", ctypes.c_char * 128), ("platform", ctypes.c_char * 128),
                ("driver_version", ctypes.c_char * 64), ("runtime_version", ctypes.c_char * 64),
                ("memory_bytes", ctypes.c_uint64), ("max_buffer_bytes", ctypes.c_uint64),
                ("shared_mem_per_block", ctypes.c_uint64), ("compute_units", ctypes.c_uint32),
                ("caps", ctypes.c_uint32), ("subgroup_sizes", ctypes.c_uint32),
                ("matrix_units", ctypes.c_char * 64), ("uuid", ctypes.c_uint8 * 16),
                ("has_uuid", ctypes.c_int), ("is_cpu", ctypes.c_int), ("is_emulation", ctypes.c_int),
                ("features", ctypes.c_char * 256),
                # libdsa writes this struct: room to spare, so that a field added to it in a newer
                # library can never write past Python's memory (fields here stay zero if absent).
                ("_reserve", ctypes.c_char * 2048)]


class ContextDesc(ctypes.Structure):
    _fields_ = [("selector", ctypes.c_char_p), ("native_context", ctypes.c_void_p),
                ("native_queue", ctypes.c_void_p), ("native_device", ctypes.c_void_p),
                ("num_threads", ctypes.c_int)]


def _args(*names):
    return [(n, Tensor) for n in names]


class IndexerArgs(ctypes.Structure):
    _fields_ = _args("q", "k", "k_scale", "weights", "ks", "ke", "logits")


class IndexerDecodeArgs(ctypes.Structure):
    _fields_ = _args("q", "k_cache", "weights", "context_lens", "block_table", "logits")


class TopkArgs(ctypes.Structure):
    _fields_ = _args("scores", "ks", "ke", "lengths", "block_table", "indices") + [
        ("k", ctypes.c_int64), ("form", ctypes.c_int), ("page_size", ctypes.c_int64),
        ("sorted", ctypes.c_int)]


class PrefillArgs(ctypes.Structure):
    _fields_ = _args("q", "kv", "indices", "topk_length", "attn_sink", "out", "max_logits", "lse") + [
        ("sm_scale", ctypes.c_float)]


class DecodeArgs(ctypes.Structure):
    _fields_ = _args("q", "kv_cache", "indices", "topk_length", "attn_sink", "out", "lse") + [
        ("sm_scale", ctypes.c_float)]


class CacheWriteArgs(ctypes.Structure):
    _fields_ = _args("rows", "slots", "cache")


class CacheReadArgs(ctypes.Structure):
    _fields_ = _args("cache", "slots", "out")


class QuantizeArgs(ctypes.Structure):
    _fields_ = _args("x", "q", "scales")


class DequantizeArgs(ctypes.Structure):
    _fields_ = _args("q", "scales", "out")


# dsa_op codes, with each op's argument structure and entry point.
OPS = {
    "indexer_logits": (1, IndexerArgs, "dsa_indexer_logits"),
    "indexer_decode_logits": (2, IndexerDecodeArgs, "dsa_indexer_decode_logits"),
    "topk": (3, TopkArgs, "dsa_topk"),
    "sparse_mla_prefill": (4, PrefillArgs, "dsa_sparse_mla_prefill"),
    "sparse_mla_decode": (5, DecodeArgs, "dsa_sparse_mla_decode"),
    "kv_cache_write": (6, CacheWriteArgs, "dsa_kv_cache_write"),
    "index_cache_write": (7, CacheWriteArgs, "dsa_index_cache_write"),
    "kv_cache_read": (8, CacheReadArgs, "dsa_kv_cache_read"),
    "index_cache_read": (9, CacheReadArgs, "dsa_index_cache_read"),
    "quantize_fp8": (10, QuantizeArgs, "dsa_quantize_fp8"),
    "dequantize_fp8": (11, DequantizeArgs, "dsa_dequantize_fp8"),
}

# ---- loading -----------------------------------------------------------------------------------

_lib = None
_lock = threading.Lock()
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    """Where to look, in order: $DSA_LIBRARY, next to the package, a build tree, the system."""
    env = os.environ.get("DSA_LIBRARY")
    if env:
        # An explicit choice is never second-guessed: it loads, or the error says why.
        return [("$DSA_LIBRARY", env)]
    found = [("next to the package", os.path.join(_PACKAGE_DIR, n)) for n in ("libdsa.so", "libdsa.so.0")]
    # Running from a checkout (python/dsa): the repository's build folders, `build` first.
    root = os.path.dirname(os.path.dirname(_PACKAGE_DIR))
    builds = sorted(glob.glob(os.path.join(root, "build*", "libdsa.so")))
    builds.sort(key=lambda p: os.path.basename(os.path.dirname(p)) != "build")
    found += [("build tree", p) for p in builds]
    found.append(("system", ctypes.util.find_library("dsa")))
    return found


def _prototype(lib):
    c = ctypes
    st, vp, p = c.c_int, c.c_void_p, c.POINTER
    sigs = {
        "dsa_version": (c.c_int, []),
        "dsa_version_string": (c.c_char_p, []),
        "dsa_status_string": (c.c_char_p, [c.c_int]),
        "dsa_last_error": (c.c_char_p, []),
        "dsa_backend_available": (st, [c.c_int, p(c.c_int), p(c.c_char_p)]),
        "dsa_device_count": (st, [p(c.c_int)]),
        "dsa_device_get_info": (st, [c.c_int, p(DeviceInfoStruct)]),
        "dsa_context_create_ex": (st, [p(ContextDesc), p(vp)]),
        "dsa_context_destroy": (st, [vp]),
        "dsa_context_get_info": (st, [vp, p(DeviceInfoStruct)]),
        "dsa_synchronize": (st, [vp]),
        "dsa_buffer_alloc": (st, [vp, c.c_uint64, p(vp)]),
        "dsa_buffer_wrap": (st, [vp, vp, c.c_uint64, p(vp)]),
        "dsa_buffer_free": (st, [vp]),
        "dsa_workspace_size": (st, [vp, c.c_int, vp, p(c.c_uint64)]),
        "dsa_prepare": (st, [vp, c.c_int, vp]),
    }
    for _, (_, struct, fn) in OPS.items():
        sigs[fn] = (st, [vp, p(struct), vp])
    for name, (res, argtypes) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, argtypes
    return lib


def lib():
    """The loaded libdsa (ctypes.CDLL), loading it on first use."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            tried = []
            for where, path in _candidates():
                if not path:
                    tried.append("%s: not found by ctypes.util.find_library('dsa')" % where)
                    continue
                if os.sep in path and not os.path.exists(path):
                    tried.append("%s: %s does not exist" % (where, path))
                    continue
                try:
                    _lib = _prototype(ctypes.CDLL(path))
                    break
                except (OSError, AttributeError) as e:
                    tried.append("%s: %s: %s" % (where, path, e))
            if _lib is None:
                raise LibraryNotFoundError(
                    "libdsa.so could not be loaded; tried:\n  " + "\n  ".join(tried) +
                    "\nSet DSA_LIBRARY to the path of libdsa.so (build it with cmake; see README.md).")
    return _lib


def library_path():
    """The file the loaded library came from (loads it if needed)."""
    return lib()._name


def check(status):
    """Raises DsaError with libdsa's message for a failed status; returns on success."""
    if status != 0:
        raise DsaError(status, lib().dsa_last_error().decode("utf-8", "replace"))


def fail(status, message):
    """Raises DsaError for an argument the binding refuses before calling libdsa."""
    raise DsaError(status, message)
