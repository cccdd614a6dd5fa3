"""NOT pycuda: an import-only stand-in for tests/conformance (no CUDA here, and pycuda builds only against a
CUDA toolkit). tao-deploy's engine/builder.py imports pycuda.driver through engine/calibrator.py at module level;
its fp16/fp32 build path never calls it. Any use of ``pycuda.driver`` raises, so nothing passes on a fake GPU.
"""
