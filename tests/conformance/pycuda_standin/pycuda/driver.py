"""NOT pycuda.driver: every attribute read raises (see the package docstring)."""


def __getattr__(name):
    raise RuntimeError('pycuda stand-in (tests/conformance): pycuda.driver.%s was used; no CUDA here' % name)
