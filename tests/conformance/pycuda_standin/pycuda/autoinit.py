"""NOT pycuda.autoinit: creates no CUDA context (see the package docstring)."""
