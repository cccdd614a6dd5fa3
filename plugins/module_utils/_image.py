# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Images for the smoke test: a scene the PeopleNet stand-in can see, PNG and PPM files, and the
DetectNet_v2 input tensor.

* ``demo_scene(seed, count)`` draws ``count`` bright rectangles ("persons") on a dark background,
  aligned to the 16-pixel grid of PeopleNet's 60x34 output, and returns them with the image. The
  same seed gives the same pixels on every Python (own PRNG; ``random`` is not used because its
  algorithms are not promised stable across versions).
* PNG: writes 8-bit RGB (zlib, filter type 0). Reads every non-interlaced PNG: gray (1, 2, 4, 8,
  16 bits), palette (1, 2, 4, 8), RGB, gray+alpha and RGBA (8, 16), all five row filters. 16-bit
  samples keep their high byte; alpha is dropped, not composited; gAMA/iCCP/tRNS are ignored.
  Not supported (clear ``image_unsupported`` error): interlaced (Adam7) files.
* PPM/PGM: binary ``P6``/``P5`` with maxval 255.
* ``to_input_tensor``: DetectNet_v2 preprocessing (``docs/demo-model.md``; TAO model card for
  PeopleNet: RGB, resize to the network size, x 1/255, no mean, NCHW float32). Needs numpy.
* ``scale_detections``: boxes found on the network input back to the original image size.

Pure standard library except where numpy is named; numpy is imported only when needed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import collections
import os
import struct
import zlib

from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError, TaoFleetError

# PeopleNet's coverage grid (columns, rows) at its 960x544 input: stride 16.
PEOPLENET_GRID = (60, 34)

NUMPY_INSTALL_HINT = ('Install numpy for the Python that Ansible runs on the host '
                      '(ansible_python_interpreter): on JetPack `sudo apt-get install python3-numpy`, '
                      'elsewhere `python3 -m pip install numpy`.')

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# colour type -> samples per pixel, and the bit depths the PNG specification allows for it
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_COLOUR_NAMES = {0: 'gray', 2: 'RGB', 3: 'palette', 4: 'gray+alpha', 6: 'RGBA'}

RESIZE_METHODS = ('bilinear', 'nearest')

DemoScene = collections.namedtuple('DemoScene', ['image', 'rects', 'distractors'])
DemoScene.__doc__ = """A generated test scene.

``image``: RgbImage. ``rects``: the bright rectangles the stand-in reports as ``person``, each
``(left, top, right, bottom)`` in pixels, right/bottom exclusive (pixel edges, as boxes are
decoded). ``distractors``: dim rectangles, same form, that no detector threshold should pass.
"""


def import_numpy(needed_for):
    """numpy, or OptionalImportError saying what to install."""
    try:
        import numpy
    except ImportError:
        raise OptionalImportError('numpy', needed_for, NUMPY_INSTALL_HINT)
    return numpy


class RgbImage:
    """8-bit RGB pixels: rows top to bottom, 3 bytes per pixel."""

    __slots__ = ('width', 'height', 'pixels')

    def __init__(self, width, height, pixels=None):
        if width <= 0 or height <= 0:
            raise ValueError('image size must be positive, got %dx%d' % (width, height))
        size = width * height * 3
        if pixels is None:
            pixels = bytearray(size)
        elif len(pixels) != size:
            raise ValueError('%dx%d RGB needs %d bytes, got %d' % (width, height, size, len(pixels)))
        self.width = width
        self.height = height
        self.pixels = bytearray(pixels)

    def __eq__(self, other):
        return (isinstance(other, RgbImage) and (self.width, self.height) == (other.width, other.height)
                and self.pixels == other.pixels)

    def __repr__(self):
        return 'RgbImage(%d, %d)' % (self.width, self.height)

    def fill(self, left, top, right, bottom, rgb):
        """Paint the rectangle [left, right) x [top, bottom) with one colour."""
        run = bytes(bytearray(rgb)) * (right - left)
        for y in range(top, bottom):
            start = (y * self.width + left) * 3
            self.pixels[start:start + len(run)] = run


class _SplitMix64:
    """splitmix64 (Steele, Lea, Flood, OOPSLA 2014): 64-bit integer arithmetic only, so every
    Python produces the same sequence."""

    _MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self._MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self._MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return z ^ (z >> 31)

    def between(self, low, high):
        """An integer in [low, high]; the modulo bias (< 2**-50 here) does not matter for scenes."""
        return low + self.next() % (high - low + 1)


def _cells_apart(a, b):
    """True when cell rectangles a and b (c0, r0, c1, r1; ends exclusive) have at least one
    empty cell between them, so that no row or column run of bright cells joins them."""
    return a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def demo_scene(seed, count, width=960, height=544, distractors=0, grid=PEOPLENET_GRID):
    """A dark image with ``count`` bright and ``distractors`` dim rectangles on the model's grid.

    Rectangles are 2-8 cells wide and 4-16 cells tall, never touching (one empty cell between
    any two), each a random colour with every channel in 185-255 (mean brightness >= 0.72);
    distractors have every channel in 60-76 (mean <= 0.30); the background 16-48 (<= 0.19).
    ``width``/``height`` must be multiples of the grid so that cells land exactly on the
    network's grid after resizing to 960x544 (e.g. 1920x1088: 32-pixel cells).
    """
    columns, rows = grid
    if width % columns or height % rows:
        raise TaoFleetError(
            'Scene size %dx%d does not divide into the %dx%d grid.' % (width, height, columns, rows),
            cause='the stand-in recovers rectangles exactly only when they lie on its grid cells',
            fix='use a width that is a multiple of %d and a height that is a multiple of %d '
                '(960x544, 1920x1088, ...)' % (columns, rows),
            code='scene_size_invalid')
    if count < 0 or distractors < 0:
        raise ValueError('count and distractors must be >= 0')
    cell_w, cell_h = width // columns, height // rows
    rng = _SplitMix64(seed)
    background = tuple(rng.between(16, 48) for _channel in range(3))
    image = RgbImage(width, height)
    image.fill(0, 0, width, height, background)

    placed = []

    def place():
        for _attempt in range(2000):
            cols, rws = rng.between(2, 8), rng.between(4, 16)
            c0, r0 = rng.between(0, columns - cols), rng.between(0, rows - rws)
            cells = (c0, r0, c0 + cols, r0 + rws)
            if all(_cells_apart(cells, other) for other in placed):
                placed.append(cells)
                return cells
        raise TaoFleetError(
            'Cannot place %d rectangles and %d distractors on a %dx%d grid.'
            % (count, distractors, columns, rows),
            cause='the grid is too crowded for rectangles that must not touch',
            fix='ask for fewer rectangles (up to about 10 fit)',
            code='scene_too_crowded')

    def draw(cells, low, high):
        colour = tuple(rng.between(low, high) for _channel in range(3))
        box = (cells[0] * cell_w, cells[1] * cell_h, cells[2] * cell_w, cells[3] * cell_h)
        image.fill(box[0], box[1], box[2], box[3], colour)
        return box

    people = [place() for _i in range(count)]
    dim = [place() for _i in range(distractors)]
    rects = [draw(cells, 185, 255) for cells in people]
    dim_rects = [draw(cells, 60, 76) for cells in dim]
    return DemoScene(image, rects, dim_rects)


def _png_chunk(kind, body):
    return (struct.pack('>I', len(body)) + kind + body
            + struct.pack('>I', zlib.crc32(kind + body) & 0xFFFFFFFF))


def encode_png(image):
    """8-bit RGB PNG bytes; filter type 0 on every row (rows repeat, so deflate does well)."""
    stride = image.width * 3
    raw = bytearray()
    for y in range(image.height):
        raw.append(0)
        raw += image.pixels[y * stride:(y + 1) * stride]
    header = struct.pack('>IIBBBBB', image.width, image.height, 8, 2, 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b'IHDR', header)
            + _png_chunk(b'IDAT', zlib.compress(bytes(raw), 9)) + _png_chunk(b'IEND', b''))


def _image_error(source, what, cause, fix, code):
    return TaoFleetError('Cannot read image %s: %s.' % (source, what), cause=cause, fix=fix, code=code)


def _corrupt(source, what):
    return _image_error(source, what, 'the file is damaged or not what its name says',
                        'regenerate or re-download the image', 'image_corrupt')


def _unsupported(source, what):
    return _image_error(source, what, 'this reader handles non-interlaced PNG and binary PPM/PGM only',
                        'convert the image, e.g. `convert in.png -interlace none PNG24:out.png`, '
                        'or save it as a non-interlaced RGB PNG', 'image_unsupported')


def _unfilter(raw, height, stride, bpp, source):
    """Undo the PNG row filters (None, Sub, Up, Average, Paeth): RFC 2083 section 6."""
    out = bytearray(height * stride)
    previous = bytearray(stride)
    position = 0
    for y in range(height):
        kind = raw[position]
        row = bytearray(raw[position + 1:position + 1 + stride])
        position += stride + 1
        if kind == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous))
        elif kind == 3:
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                if i >= bpp:
                    a, c = row[i - bpp], previous[i - bpp]
                else:
                    a = c = 0
                b = previous[i]
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                if pa <= pb and pa <= pc:
                    predictor = a
                elif pb <= pc:
                    predictor = b
                else:
                    predictor = c
                row[i] = (row[i] + predictor) & 0xFF
        elif kind != 0:
            raise _corrupt(source, 'unknown PNG row filter %d in row %d' % (kind, y))
        out[y * stride:(y + 1) * stride] = row
        previous = row
    return out


def decode_png(data, source='<bytes>'):
    """RgbImage from PNG bytes (see the module docstring for what is supported)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise _corrupt(source, 'no PNG signature')
    position = len(_PNG_SIGNATURE)
    header = None
    palette = None
    compressed = []
    while True:
        if position + 12 > len(data):
            raise _corrupt(source, 'file ends before the IEND chunk (truncated)')
        length, kind = struct.unpack('>I4s', data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        crc = data[position + 8 + length:position + 12 + length]
        if len(crc) < 4:
            raise _corrupt(source, 'chunk %r runs past the end of the file (truncated)' % kind)
        if zlib.crc32(kind + body) & 0xFFFFFFFF != struct.unpack('>I', crc)[0]:
            raise _corrupt(source, 'CRC mismatch in chunk %r' % kind)
        position += 12 + length
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'PLTE':
            palette = body
        elif kind == b'IDAT':
            compressed.append(body)
        elif kind == b'IEND':
            break
        elif not bytearray(kind)[0] & 0x20:
            raise _unsupported(source, 'unknown critical chunk %r' % kind)
    if header is None:
        raise _corrupt(source, 'no IHDR chunk')
    width, height, depth, colour, compression, filtering, interlace = header
    if colour not in _PNG_CHANNELS or depth not in _PNG_DEPTHS[colour] or compression or filtering:
        raise _corrupt(source, 'invalid IHDR (colour type %d, bit depth %d)' % (colour, depth))
    if interlace:
        raise _unsupported(source, 'interlaced (Adam7) PNG')
    if colour == 3 and (palette is None or len(palette) % 3):
        raise _corrupt(source, 'palette PNG without a valid PLTE chunk')
    try:
        raw = zlib.decompress(b''.join(compressed))
    except zlib.error as err:
        raise _corrupt(source, 'image data does not inflate (%s)' % err)
    bits = _PNG_CHANNELS[colour] * depth
    stride = (width * bits + 7) // 8
    if len(raw) != height * (stride + 1):
        raise _corrupt(source, 'image data is %d bytes, %dx%d %d-bit %s needs %d'
                       % (len(raw), width, height, depth, _PNG_COLOUR_NAMES[colour], height * (stride + 1)))
    samples = _unfilter(raw, height, stride, max(1, bits // 8), source)
    if depth == 16:
        samples = samples[0::2]
    elif depth < 8:
        samples = _unpack(samples, height, stride, width, depth, scale=colour == 0)
    return RgbImage(width, height, _to_rgb(samples, colour, width * height, palette, source))


def _unpack(packed, height, stride, width, depth, scale):
    """1/2/4-bit samples (first pixel in the high bits) to one byte each; gray levels are scaled
    to 0-255 (``scale``), palette indices are not."""
    per_byte = 8 // depth
    mask = (1 << depth) - 1
    factor = 255 // mask if scale else 1
    shifts = [8 - depth * (k + 1) for k in range(per_byte)]
    samples = bytearray()
    for y in range(height):
        row = bytearray()
        for byte in packed[y * stride:(y + 1) * stride]:
            row.extend(((byte >> shift) & mask) * factor for shift in shifts)
        samples += row[:width]
    return samples


def _to_rgb(samples, colour, count, palette, source):
    if colour == 2:
        return samples
    rgb = bytearray(count * 3)
    if colour == 3:
        entries = len(palette) // 3
        if max(samples) >= entries:
            raise _corrupt(source, 'palette index beyond the %d PLTE entries' % entries)
        padded = palette + bytes(3 * (256 - entries))
        indices = bytes(samples)
        for channel in range(3):
            rgb[channel::3] = indices.translate(padded[channel::3])
        return rgb
    step = _PNG_CHANNELS[colour]
    if colour in (0, 4):
        gray = samples[0::step]
        for channel in range(3):
            rgb[channel::3] = gray
        return rgb
    for channel in range(3):
        rgb[channel::3] = samples[channel::step]
    return rgb


def encode_ppm(image):
    return b'P6\n%d %d\n255\n' % (image.width, image.height) + bytes(image.pixels)


def decode_ppm(data, source='<bytes>'):
    """RgbImage from binary PPM (P6) or PGM (P5), maxval 255, ``#`` comments allowed."""
    fields = []
    position = 0
    while len(fields) < 4:
        while position < len(data) and data[position:position + 1].isspace():
            position += 1
        if data[position:position + 1] == b'#':
            end = data.find(b'\n', position)
            position = len(data) if end < 0 else end + 1
            continue
        start = position
        while position < len(data) and not data[position:position + 1].isspace():
            position += 1
        if start == position:
            raise _corrupt(source, 'PPM header ends early')
        fields.append(data[start:position])
    magic = fields[0]
    if magic not in (b'P6', b'P5'):
        raise _unsupported(source, 'PNM type %r' % magic)
    try:
        width, height, maxval = (int(field) for field in fields[1:])
    except ValueError:
        raise _corrupt(source, 'PPM header is not numeric')
    if maxval != 255:
        raise _unsupported(source, 'PNM maxval %d (16-bit or scaled samples)' % maxval)
    pixels = data[position + 1:]
    channels = 3 if magic == b'P6' else 1
    if width <= 0 or height <= 0 or len(pixels) < width * height * channels:
        raise _corrupt(source, 'pixel data shorter than %dx%d (truncated)' % (width, height))
    pixels = bytearray(pixels[:width * height * channels])
    if channels == 1:
        return RgbImage(width, height, _to_rgb(pixels, 0, width * height, None, source))
    return RgbImage(width, height, pixels)


def load_image(path):
    """RgbImage from a PNG or PPM/PGM file (chosen by content, not name)."""
    with open(path, 'rb') as handle:
        data = handle.read()
    if data.startswith(_PNG_SIGNATURE):
        return decode_png(data, path)
    if data[:2] in (b'P6', b'P5'):
        return decode_ppm(data, path)
    raise _unsupported(path, 'neither PNG nor binary PPM/PGM')


def write_atomic(path, data):
    """Write bytes so that ``path`` holds either its old content or all of ``data``. The file
    gets the usual permissions (0666 less the umask), as a plain ``open`` would give it."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, '.%s.%s.tmp' % (os.path.basename(path),
                                                        binascii.hexlify(os.urandom(6)).decode()))
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save_image(path, image):
    """Write PNG (``.png``) or PPM (any other name) atomically."""
    data = encode_png(image) if path.lower().endswith('.png') else encode_ppm(image)
    write_atomic(path, data)


def _resize(numpy, pixels, width, height, method):
    """Resize an (H, W, 3) uint8 array to float32 (height, width, 3), sample centres aligned
    (OpenCV INTER_LINEAR / PIL NEAREST conventions, no anti-aliasing)."""
    source_h, source_w = pixels.shape[:2]

    def axis(size, source_size):
        centres = (numpy.arange(size, dtype=numpy.float64) + 0.5) * (source_size / size)
        if method == 'nearest':
            return numpy.minimum(numpy.floor(centres).astype(numpy.intp), source_size - 1), None, None
        position = numpy.clip(centres - 0.5, 0, source_size - 1)
        low = numpy.floor(position).astype(numpy.intp)
        high = numpy.minimum(low + 1, source_size - 1)
        return low, high, (position - low).astype(numpy.float32)

    x0, x1, ax = axis(width, source_w)
    y0, y1, ay = axis(height, source_h)
    if method == 'nearest':
        return pixels[y0][:, x0].astype(numpy.float32)
    values = pixels.astype(numpy.float32)
    ax = ax[None, :, None]
    top = values[y0][:, x0] * (1 - ax) + values[y0][:, x1] * ax
    bottom = values[y1][:, x0] * (1 - ax) + values[y1][:, x1] * ax
    ay = ay[:, None, None]
    return top * (1 - ay) + bottom * ay


def to_input_tensor(images, width=960, height=544, resize='bilinear'):
    """DetectNet_v2 input: float32 array (N, 3, height, width), RGB, values x 1/255, no mean.

    ``images``: one RgbImage or a list (the batch). Images of another size are resized with
    ``resize`` (``bilinear`` or ``nearest``, sample centres aligned, no anti-aliasing: use
    images at the network size or an integer multiple of it for exact results).
    """
    if resize not in RESIZE_METHODS:
        raise ValueError('resize must be one of %s, got %r' % (', '.join(RESIZE_METHODS), resize))
    numpy = import_numpy('DetectNet_v2 preprocessing of the smoke-test image')
    if isinstance(images, RgbImage):
        images = [images]
    batch = numpy.empty((len(images), 3, height, width), dtype=numpy.float32)
    for index, image in enumerate(images):
        pixels = numpy.frombuffer(bytes(image.pixels), dtype=numpy.uint8).reshape(image.height, image.width, 3)
        if (image.width, image.height) == (width, height):
            values = pixels.astype(numpy.float32)
        else:
            values = _resize(numpy, pixels, width, height, resize)
        batch[index] = values.transpose(2, 0, 1) / numpy.float32(255.0)
    return batch


def scale_detections(detections, network_size, image_size):
    """Detections (dicts with left/top/right/bottom on the network input) mapped onto an image of
    ``image_size`` (width, height) from ``network_size`` (width, height); other keys kept."""
    scale_x = image_size[0] / network_size[0]
    scale_y = image_size[1] / network_size[1]
    scaled = []
    for detection in detections:
        moved = dict(detection)
        moved['left'] = detection['left'] * scale_x
        moved['right'] = detection['right'] * scale_x
        moved['top'] = detection['top'] * scale_y
        moved['bottom'] = detection['bottom'] * scale_y
        scaled.append(moved)
    return scaled
