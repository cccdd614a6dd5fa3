/* The PeopleNet stand-in (tests/fleet/demo_model.py) as two CUDA kernels: the same maths as its ONNX
 * graph, so that the GPU-machine run can put a kernel where TensorRT's execute_async_v3 would go and
 * compare the result with onnxruntime on the stand-in ONNX.
 *
 * standin_cells: one thread per output cell: mean brightness of its 3x16x16 input block; coverage
 *   person = sigmoid(40 b - 20), bag = face = sigmoid(-12); run mask = sigmoid(1000 b - 500).
 * standin_boxes: one thread per cell: the first/last column and row of the bright run the cell lies
 *   in (ONNX: 2-tap Conv + Relu, times the position, MaxPool as wide as the grid), then DetectNet_v2's
 *   box encoding bbox = scale * extent + bias, the same planes for all three classes.
 *
 * pycuda's SourceModule wraps this in extern "C"; tests/gpu/test_standin_kernel_cpu.py compiles the
 * same file with gcc (__global__ defined empty, the launch grid as loops) to check it against
 * onnxruntime on a machine without a GPU. No shared memory, no atomics: each thread writes only
 * its own cells.
 */

#define STANDIN_STRIDE 16
#define STANDIN_GRID_W 60
#define STANDIN_GRID_H 34
#define STANDIN_CLASSES 3
#define STANDIN_NET_W (STANDIN_GRID_W * STANDIN_STRIDE)
#define STANDIN_NET_H (STANDIN_GRID_H * STANDIN_STRIDE)
#define STANDIN_CELLS (STANDIN_GRID_W * STANDIN_GRID_H)

__global__ void standin_cells(const float *input, float *coverage, float *mask, int batch)
{
    int cell = blockIdx.x * blockDim.x + threadIdx.x;
    if (cell >= batch * STANDIN_CELLS)
        return;
    int n = cell / STANDIN_CELLS;
    int row = (cell / STANDIN_GRID_W) % STANDIN_GRID_H;
    int col = cell % STANDIN_GRID_W;
    float sum = 0.0f;
    for (int channel = 0; channel < 3; channel++) {
        const float *plane = input + ((long)(n * 3 + channel) * STANDIN_NET_H) * STANDIN_NET_W;
        for (int y = 0; y < STANDIN_STRIDE; y++) {
            const float *line = plane + (long)(row * STANDIN_STRIDE + y) * STANDIN_NET_W + col * STANDIN_STRIDE;
            for (int x = 0; x < STANDIN_STRIDE; x++)
                sum += line[x];
        }
    }
    float brightness = sum * (1.0f / (3.0f * STANDIN_STRIDE * STANDIN_STRIDE));
    int at = row * STANDIN_GRID_W + col;
    float *cov = coverage + (long)n * STANDIN_CLASSES * STANDIN_CELLS;
    cov[at] = 1.0f / (1.0f + expf(-(40.0f * brightness - 20.0f)));
    cov[STANDIN_CELLS + at] = 1.0f / (1.0f + expf(12.0f));
    cov[2 * STANDIN_CELLS + at] = 1.0f / (1.0f + expf(12.0f));
    mask[(long)n * STANDIN_CELLS + at] = 1.0f / (1.0f + expf(-(1000.0f * brightness - 500.0f)));
}

__global__ void standin_boxes(const float *mask, float *bbox, int batch)
{
    int cell = blockIdx.x * blockDim.x + threadIdx.x;
    if (cell >= batch * STANDIN_CELLS)
        return;
    int n = cell / STANDIN_CELLS;
    int row = (cell / STANDIN_GRID_W) % STANDIN_GRID_H;
    int col = cell % STANDIN_GRID_W;
    const float *m = mask + (long)n * STANDIN_CELLS;
    float left = 0.0f, right = 0.0f, top = 0.0f, bottom = 0.0f;
    /* a run starts where the mask rises (left/top) and ends where it falls (right/bottom); each
     * mark carries its position (1-based from its side), and the cell keeps the largest one on
     * its side, as the graph's one-sided MaxPool does */
    for (int c = 0; c <= col; c++) {
        float before = c > 0 ? m[row * STANDIN_GRID_W + c - 1] : 0.0f;
        float rise = m[row * STANDIN_GRID_W + c] - before;
        left = fmaxf(left, fmaxf(rise, 0.0f) * (float)(c + 1));
    }
    for (int c = col; c < STANDIN_GRID_W; c++) {
        float after = c + 1 < STANDIN_GRID_W ? m[row * STANDIN_GRID_W + c + 1] : 0.0f;
        float fall = m[row * STANDIN_GRID_W + c] - after;
        right = fmaxf(right, fmaxf(fall, 0.0f) * (float)(STANDIN_GRID_W - c));
    }
    for (int r = 0; r <= row; r++) {
        float before = r > 0 ? m[(r - 1) * STANDIN_GRID_W + col] : 0.0f;
        float rise = m[r * STANDIN_GRID_W + col] - before;
        top = fmaxf(top, fmaxf(rise, 0.0f) * (float)(r + 1));
    }
    for (int r = row; r < STANDIN_GRID_H; r++) {
        float after = r + 1 < STANDIN_GRID_H ? m[(r + 1) * STANDIN_GRID_W + col] : 0.0f;
        float fall = m[r * STANDIN_GRID_W + col] - after;
        bottom = fmaxf(bottom, fmaxf(fall, 0.0f) * (float)(STANDIN_GRID_H - r));
    }
    /* bbox = centre - x1 / 35 ... with x1 = 16 (left - 1), x2 = 16 (60 + 1 - right): the ONNX graph's
     * conv weight -16/35 and its bias planes (float64 maths stored as float32) */
    float scale = (float)(-16.0 / 35.0);
    float planes[4];
    planes[0] = scale * left + (float)((col * 16.0 + 0.5 + 16.0) / 35.0);
    planes[1] = scale * top + (float)((row * 16.0 + 0.5 + 16.0) / 35.0);
    planes[2] = scale * right + (float)((16.0 * (STANDIN_GRID_W + 1) - col * 16.0 - 0.5) / 35.0);
    planes[3] = scale * bottom + (float)((16.0 * (STANDIN_GRID_H + 1) - row * 16.0 - 0.5) / 35.0);
    float *out = bbox + (long)n * 4 * STANDIN_CLASSES * STANDIN_CELLS;
    for (int k = 0; k < STANDIN_CLASSES; k++)
        for (int p = 0; p < 4; p++)
            out[(4 * k + p) * STANDIN_CELLS + row * STANDIN_GRID_W + col] = planes[p];
}
