# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The stand-in's CUDA kernels (standin_kernel.cu) as an execute step, on the GPU (pycuda) or on the CPU
(gcc, for checking the kernel maths on a machine without a GPU).

``GpuStandin(cuda, SourceModule, batch)`` is what the GPU-machine run plugs into ``_runtime.CudaRun``
in place of TensorRT's ``execute_async_v3``: called with the device addresses by tensor name
(``input_1:0``, ``output_cov/Sigmoid:0``, ``output_bbox/BiasAdd:0``, or the .etlt names given as
``names``) and the stream, it launches both kernels on that stream. ``cpu_standin(tensor)`` runs the same source compiled by gcc.
"""

from __future__ import absolute_import, division, print_function

import ctypes
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_SOURCE = os.path.join(HERE, 'standin_kernel.cu')
INPUT, COVERAGE, BBOX = 'input_1:0', 'output_cov/Sigmoid:0', 'output_bbox/BiasAdd:0'
GRID_W, GRID_H, CLASSES = 60, 34, 3
THREADS = 128

# The launch grid as loops, so that gcc runs the CUDA source unchanged (no shared memory is used).
CPU_HARNESS = r'''
#include <math.h>
struct standin_index { unsigned int x, y, z; };
static struct standin_index blockIdx, threadIdx, blockDim;
#define __global__ static
#include "%(source)s"
static void launch(int which, const float *a, float *b, float *c, int batch)
{
    unsigned int cells = (unsigned int)(batch * STANDIN_CELLS);
    blockDim.x = %(threads)d;
    for (blockIdx.x = 0; blockIdx.x * blockDim.x < cells; blockIdx.x++)
        for (threadIdx.x = 0; threadIdx.x < blockDim.x; threadIdx.x++) {
            if (which == 0) standin_cells(a, b, c, batch);
            else standin_boxes(a, b, batch);
        }
}
void standin_cells_cpu(const float *input, float *coverage, float *mask, int batch)
{
    launch(0, input, coverage, mask, batch);
}
void standin_boxes_cpu(const float *mask, float *bbox, int batch)
{
    launch(1, mask, bbox, 0, batch);
}
'''


def source():
    with open(KERNEL_SOURCE) as handle:
        return handle.read()


class GpuStandin(object):
    """Execute step for ``CudaRun``: both kernels on the run's stream; owns its mask scratch buffer."""

    def __init__(self, cuda, source_module, batch, names=(INPUT, COVERAGE, BBOX)):
        self.cuda = cuda
        self.batch = int(batch)
        self.names = names
        module = source_module(source())
        self.cells = module.get_function('standin_cells')
        self.boxes = module.get_function('standin_boxes')
        self.mask = cuda.mem_alloc(self.batch * GRID_W * GRID_H * 4)
        self.launches = 0

    def __call__(self, addresses, stream):
        import numpy
        cells = self.batch * GRID_W * GRID_H
        grid = ((cells + THREADS - 1) // THREADS, 1)
        block = (THREADS, 1, 1)
        batch = numpy.int32(self.batch)
        image, coverage, bbox = (numpy.uintp(addresses[name]) for name in self.names)
        self.cells(image, coverage, self.mask, batch, block=block, grid=grid, stream=stream)
        self.boxes(self.mask, bbox, batch, block=block, grid=grid, stream=stream)
        self.launches += 1

    def close(self):
        """Free the scratch buffer and drop the kernels (their module unloads) while the context is current."""
        if self.mask is not None:
            self.mask.free()
            self.mask = None
        self.cells = self.boxes = None


def build_cpu_library(directory):
    """Compile standin_kernel.cu with gcc into ``directory``; returns the ctypes library."""
    harness = os.path.join(directory, 'standin_cpu.c')
    with open(harness, 'w') as handle:
        handle.write(CPU_HARNESS % {'source': KERNEL_SOURCE, 'threads': THREADS})
    library = os.path.join(directory, 'standin_cpu.so')
    subprocess.check_call(['gcc', '-O2', '-shared', '-fPIC', '-x', 'c', harness, '-o', library, '-lm'])
    return ctypes.CDLL(library)


def cpu_standin(tensor, library=None):
    """(coverage, bbox) of the stand-in for an NCHW float32 tensor, from the CUDA source run by gcc."""
    import numpy
    tensor = numpy.ascontiguousarray(tensor, dtype=numpy.float32)
    batch = tensor.shape[0]
    owned = None
    if library is None:
        owned = tempfile.mkdtemp(prefix='standin-cpu-')
        library = build_cpu_library(owned)
    coverage = numpy.zeros((batch, CLASSES, GRID_H, GRID_W), numpy.float32)
    mask = numpy.zeros((batch, GRID_H, GRID_W), numpy.float32)
    bbox = numpy.zeros((batch, 4 * CLASSES, GRID_H, GRID_W), numpy.float32)
    pointer = ctypes.POINTER(ctypes.c_float)
    library.standin_cells_cpu(tensor.ctypes.data_as(pointer), coverage.ctypes.data_as(pointer),
                              mask.ctypes.data_as(pointer), ctypes.c_int(batch))
    library.standin_boxes_cpu(mask.ctypes.data_as(pointer), bbox.ctypes.data_as(pointer), ctypes.c_int(batch))
    return coverage, bbox
