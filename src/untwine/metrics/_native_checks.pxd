# cython: language_level=3
"""Error messages of the compiled kernels' argument checks (_native_trees.pyx,
_native_logistic.pyx): which argument, what was expected, what came."""


cdef inline str describe(object value):
    """An argument as the message shows it: dtype, shape and contiguity of an array."""
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is None or shape is None:
        return f"an object of type {type(value).__name__}"
    flags = getattr(value, "flags", None)
    layout = "C-contiguous" if flags is not None and flags.c_contiguous else "not C-contiguous"
    return f"an array of dtype {dtype}, shape {tuple(shape)}, {layout}"


cdef inline str mismatch(str name, str expected, object got):
    """The ValueError message for argument ``name``."""
    return f"{name}: expected {expected}; got {describe(got)}"
