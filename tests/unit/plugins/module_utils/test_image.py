# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Scene generator, PNG/PPM reading and writing, preprocessing and box scaling."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import builtins
import os
import struct
import zlib

import numpy as np
import pytest

from ansible_collections.tao.fleet.plugins.module_utils import _image
from ansible_collections.tao.fleet.plugins.module_utils._errors import OptionalImportError, TaoFleetError

# PNGs written by Pillow 13.0.0 (libImaging's encoder picks filters Sub, Up and Paeth per row;
# the palette one is 4-bit, the bilevel one 1-bit gray, gray16 16-bit gray) from test patterns,
# each with the RGB bytes Pillow decodes it to (gray16: the high bytes of the values written):
# an independent writer and an independent reader.
PILLOW_PNGS = {
    'rgb': (
        'iVBORw0KGgoAAAANSUhEUgAAAAkAAAAHCAIAAABV+fA3AAAAbUlEQVR4nHXJIQ/CMBRF4UFadUR1xVXkSfT0NP9fT03c'
        'PFVVRcAMAQnJJ05yLsvyiupoju64Oe6O1bE5Hr6i5z8FTeqkTfpEXwoa1EEb9IE+toFGQUlNWtITnUKJsqCDaprpRkZm'
        'PaOg/fed9jfpdUVX4j5XIQAAAABJRU5ErkJggg=='
        ,
        '0000ff2505e84a14d16f2dba9450a3b97d8cdeb47503f55e2840470b1dfc3022e55531ce7a4ab79f6da0c49a89e9'
        'd1720e125b335d44163af33b3fdc604ec58567aeaa8a97cfb780f4ee69192f523e7a3b2157e4465ccd6b6bb69084'
        '9fb5a788dad471ff0b5a244c4349972c2c74cf5179b87688a19ba18ac0c473e5f15c0a28452f692e54b4173791b4'
        '5c969d81a586a6be6fcbe158f00e4115452a3a86135fd1fc42ae9367b37c8cc265b1db4ed6fe37fb2b2020620945'
        'a3f26aeedb'
    ),
    'rgba': (
        'iVBORw0KGgoAAAANSUhEUgAAAAkAAAAHCAYAAADam2dgAAAAe0lEQVR4nIXKoQ7CMBSF4X+kVUdUV1xFrkRPT/NSvOkU'
        '4qaqqmoBwcJIIEF8+Y84EzxungMvgdfAz4FfAp8DXwK/BifZxj9JNlAeqAxUB7JvSdZR7qh0VDuyD8urSdZQbqg0VBuy'
        'g+9NsjvKgUqgGsh287GTbP19elt5AkO5RddTBy7UAAAAAElFTkSuQmCC'
        ,
        '0000ff2505e84a14d16f2dba9450a3b97d8cdeb47503f55e2840470b1dfc3022e55531ce7a4ab79f6da0c49a89e9'
        'd1720e125b335d44163af33b3fdc604ec58567aeaa8a97cfb780f4ee69192f523e7a3b2157e4465ccd6b6bb69084'
        '9fb5a788dad471ff0b5a244c4349972c2c74cf5179b87688a19ba18ac0c473e5f15c0a28452f692e54b4173791b4'
        '5c969d81a586a6be6fcbe158f00e4115452a3a86135fd1fc42ae9367b37c8cc265b1db4ed6fe37fb2b2020620945'
        'a3f26aeedb'
    ),
    'gray': (
        'iVBORw0KGgoAAAANSUhEUgAAAAkAAAAHCAAAAAD/8Di8AAAASElEQVR4nAXBqw2AQBAFwEDWLWLfJ0GdwqBA0Q99cL1c'
        'NTRCJcxMLbm2bf9GOGnb9xVaIMlSKCmpizMJEi8ZSAIPcQayqlBH/Tw1CDAnU48ZAAAAAElFTkSuQmCC'
        ,
        '1d1d1d2828283a3a3a5151516e6e6e919191b9b9b99b9b9b3a3a3a3131313c3c3c4e4e4e656565828282a5a5a5cd'
        'cdcd1919194e4e4e444444505050616161787878959595b8b8b8e1e1e12c2c2c6161615757576262627474748b8b'
        '8ba8a8a8cbcbcb5d5d5d3f3f3f7373736969697474748585859d9d9dbababadcdcdc2222225151518585857a7a7a'
        '858585979797aeaeaecbcbcb575757343434626262b4b4b48b8b8b969696a7a7a7bebebedbdbdb68686844444490'
        '9090c4c4c4'
    ),
    'gray_alpha': (
        'iVBORw0KGgoAAAANSUhEUgAAAAkAAAAHCAQAAABwkq/rAAAAXElEQVR4nC3IoQ0CQRBA0QdZt4idmU1QpzCoQ9EPfUAv'
        'VEMjNALiLj/54h2WX5fOFhdXX29t6tLce7hr5SSUUqZSWulyp5eSjimF7R8ptdClEJ5SuG00DEMYVsMf3lQJL1z9F/8A'
        'AAAASUVORK5CYII='
        ,
        '1d1d1d2828283a3a3a5151516e6e6e919191b9b9b99b9b9b3a3a3a3131313c3c3c4e4e4e656565828282a5a5a5cd'
        'cdcd1919194e4e4e444444505050616161787878959595b8b8b8e1e1e12c2c2c6161615757576262627474748b8b'
        '8ba8a8a8cbcbcb5d5d5d3f3f3f7373736969697474748585859d9d9dbababadcdcdc2222225151518585857a7a7a'
        '858585979797aeaeaecbcbcb575757343434626262b4b4b48b8b8b969696a7a7a7bebebedbdbdb68686844444490'
        '9090c4c4c4'
    ),
    'palette': (
        'iVBORw0KGgoAAAANSUhEUgAAAAkAAAAHBAMAAAAotXpTAAAAJFBMVEXe6lvWwHeKzH8903umnYuVg5lElHmGX6xLYKSa'
        'I5AiVHIVGa3Qo5ACAAAANUlEQVR4nAEqANX/Abv8vZ+NAgDQ4AcAAv0A/fDAAtDu8JAAAgDfzxAAAv7u+fzAAtzeAAIA'
        'vjQUaNfhELcAAAAASUVORK5CYII='
        ,
        '1519ad1519ad1519ad865fac865faca69d8bd6c0773dd37b2254721519ad1519ad4b60a4865fac958399a69d8bd6'
        'c0772254722254721519ad4b60a44b60a4865fac958399d6c077deea5b2254724494794b60a44b60a4865fac9583'
        '99a69d8bd6c0779a23902254724494794b60a44b60a4958399a69d8bd6c077deea5b2254722254724494794b60a4'
        '449479a69d8b8acc7fdeea5b9a23902254724494798acc7f4494798acc7f8acc7fdeea5bdeea5b9a23902254724b'
        '60a48acc7f'
    ),
    'bilevel': (
        'iVBORw0KGgoAAAANSUhEUgAAAAkAAAAHAQAAAADy4FrNAAAAHUlEQVR4nGOYysAYpMegxcCwlIExRIfpGwPDSgYAJ4kE'
        'CNNgAb0AAAAASUVORK5CYII='
        ,
        'ffffff000000000000ffffff000000ffffff000000ffffff000000000000ffffff000000ffffff000000000000ff'
        'ffff000000ffffff000000000000ffffff000000ffffff000000ffffff000000000000ffffff000000ffffff0000'
        '00000000ffffff000000ffffff000000000000ffffff000000ffffff000000ffffff000000000000ffffff000000'
        'ffffff000000000000ffffff000000ffffff000000ffffffffffff000000ffffff000000ffffff000000000000ff'
        'ffff000000'
    ),
    'gray16': (
        'iVBORw0KGgoAAAANSUhEUgAAAAkAAAAHEAAAAACvYOT/AAAAOUlEQVR4nGNkYJCOlI6UiUSQLNw7eSJ5hJBJFp6d6IIs'
        'PDtR1XDvxKeRZyePEIRk4dkJYcDUyUQCAEOJHE2aIVZKAAAAAElFTkSuQmCC'
        ,
        '0000001b1b1b3636365252526d6d6d888888a4a4a4bfbfbfdadada0b0b0b2727274242425d5d5d797979949494af'
        'afafcbcbcbe6e6e61717173232324e4e4e696969848484a0a0a0bbbbbbd6d6d6f2f2f22323233e3e3e5959597575'
        '75909090abababc7c7c7e2e2e2fdfdfd2e2e2e4a4a4a6565658080809c9c9cb7b7b7d2d2d2eeeeee0909093a3a3a'
        '5555557171718c8c8ca8a8a8c3c3c3dededefafafa1515154646466161617d7d7d989898b3b3b3cfcfcfeaeaea05'
        '0505212121'
    ),
}


def pillow_png(name):
    encoded, expected = PILLOW_PNGS[name]
    return base64.b64decode(''.join(encoded)), bytes.fromhex(''.join(expected))


# ---- the scene --------------------------------------------------------------------------------

def test_splitmix64_matches_the_published_sequence():
    """First outputs for seed 0 from the reference splitmix64.c (Vigna, prng.di.unimi.it)."""
    rng = _image._SplitMix64(0)
    assert [rng.next() for _i in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_same_seed_same_scene_and_different_seeds_differ():
    first = _image.demo_scene(7, 4, distractors=2)
    again = _image.demo_scene(7, 4, distractors=2)
    other = _image.demo_scene(8, 4, distractors=2)
    assert first.image == again.image and first.rects == again.rects
    assert other.image != first.image and other.rects != first.rects


@pytest.mark.parametrize('seed', range(12))
@pytest.mark.parametrize('count', [0, 1, 5, 8])
def test_scene_rectangles_are_on_the_grid_apart_and_brightness_separated(seed, count):
    scene = _image.demo_scene(seed, count, distractors=2)
    assert len(scene.rects) == count and len(scene.distractors) == 2
    every = scene.rects + scene.distractors
    for rect in every:
        assert all(edge % 16 == 0 for edge in rect)
        assert 0 <= rect[0] < rect[2] <= 960 and 0 <= rect[1] < rect[3] <= 544
    for i, a in enumerate(every):
        for b in every[i + 1:]:
            gap_x = max(b[0] - a[2], a[0] - b[2])
            gap_y = max(b[1] - a[3], a[1] - b[3])
            assert max(gap_x, gap_y) >= 16, (a, b)
    pixels = np.frombuffer(bytes(scene.image.pixels), np.uint8).reshape(544, 960, 3)
    inside = np.zeros((544, 960), bool)
    for rect in scene.rects:
        patch = pixels[rect[1]:rect[3], rect[0]:rect[2]]
        assert (patch == patch[0, 0]).all() and patch[0, 0].mean() / 255 >= 0.72
        inside[rect[1]:rect[3], rect[0]:rect[2]] = True
    for rect in scene.distractors:
        patch = pixels[rect[1]:rect[3], rect[0]:rect[2]]
        assert 0.23 <= patch[0, 0].mean() / 255 <= 0.30
        inside[rect[1]:rect[3], rect[0]:rect[2]] = True
    assert pixels[~inside].mean(axis=1).max() / 255 <= 0.19


def test_larger_scenes_scale_the_cells():
    scene = _image.demo_scene(5, 3, width=1920, height=1088)
    assert all(edge % 32 == 0 for rect in scene.rects for edge in rect)
    assert (scene.image.width, scene.image.height) == (1920, 1088)


def test_scene_size_off_the_grid_and_crowded_scenes_are_refused():
    with pytest.raises(TaoFleetError) as caught:
        _image.demo_scene(1, 1, width=1000)
    assert caught.value.code == 'scene_size_invalid' and '960x544' in caught.value.fix
    with pytest.raises(TaoFleetError) as caught:
        _image.demo_scene(1, 60)
    assert caught.value.code == 'scene_too_crowded'


# ---- PNG --------------------------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(PILLOW_PNGS))
def test_reads_pngs_written_by_pillow(name):
    data, expected = pillow_png(name)
    image = _image.decode_png(data)
    assert (image.width, image.height) == (9, 7)
    assert bytes(image.pixels) == expected


def png_with_filters(width, height, samples, colour, channels, filters, interlace=0, depth=8, row_bytes=None):
    """A PNG whose rows use the given filter types, filtered per RFC 2083 section 6 (the
    inverse of what the reader does, written independently of it). ``channels``: bytes per
    pixel for filtering; ``row_bytes``: for packed sub-byte samples."""
    stride = row_bytes or width * channels
    previous = bytearray(stride)
    raw = bytearray()
    for y in range(height):
        row = samples[y * stride:(y + 1) * stride]
        kind = filters[y % len(filters)]
        out = bytearray()
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if kind == 0:
                predictor = 0
            elif kind == 1:
                predictor = left
            elif kind == 2:
                predictor = up
            elif kind == 3:
                predictor = (left + up) // 2
            else:
                estimate = left + up - upper_left
                distances = [abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)]
                predictor = (left, up, upper_left)[distances.index(min(distances))]
            out.append((row[i] - predictor) % 256)
        raw += bytes([kind]) + out
        previous = row

    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack('>IIBBBBB', width, height, depth, colour, 0, 0, interlace)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'tEXt', b'Comment\0ancillary, ignored')
            + chunk(b'IDAT', zlib.compress(bytes(raw))[:20]) + chunk(b'IDAT', zlib.compress(bytes(raw))[20:])
            + chunk(b'IEND', b''))


@pytest.mark.parametrize('filters', [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4]])
def test_every_row_filter_on_rgb_and_rgba(filters):
    rng = np.random.RandomState(len(filters) * 10 + filters[0])
    rgb = bytearray(rng.randint(0, 256, 13 * 6 * 3).astype(np.uint8).tobytes())
    assert bytes(_image.decode_png(png_with_filters(13, 6, rgb, 2, 3, filters)).pixels) == bytes(rgb)
    rgba = bytearray(rng.randint(0, 256, 13 * 6 * 4).astype(np.uint8).tobytes())
    expected = bytearray(13 * 6 * 3)
    for channel in range(3):
        expected[channel::3] = rgba[channel::4]
    assert bytes(_image.decode_png(png_with_filters(13, 6, rgba, 6, 4, filters)).pixels) == bytes(expected)


def test_own_png_round_trips_and_is_deterministic():
    scene = _image.demo_scene(3, 3, distractors=2)
    data = _image.encode_png(scene.image)
    assert data == _image.encode_png(_image.demo_scene(3, 3, distractors=2).image)
    assert _image.decode_png(data) == scene.image
    assert len(data) < 20000


def test_interlaced_png_is_refused_with_a_fix():
    samples = bytearray(4 * 4 * 3)
    with pytest.raises(TaoFleetError) as caught:
        _image.decode_png(png_with_filters(4, 4, samples, 2, 3, [0], interlace=1), 'adam7.png')
    assert caught.value.code == 'image_unsupported' and 'interlaced' in str(caught.value)
    assert 'adam7.png' in str(caught.value) and '-interlace none' in caught.value.fix


def test_two_bit_gray_is_scaled_to_full_range():
    # 5 pixels of 2 bits: 0, 1, 2, 3, 1 packed high bits first, then padding
    packed = bytearray([0b00011011, 0b01000000])
    image = _image.decode_png(png_with_filters(5, 1, packed, 0, 1, [1], depth=2, row_bytes=2))
    assert bytes(image.pixels)[0::3] == bytes([0, 85, 170, 255, 85])


def test_damaged_pngs_are_corrupt_not_crashes():
    data = _image.encode_png(_image.demo_scene(2, 1).image)
    flipped = bytearray(data)
    flipped[40] ^= 0xFF
    cases = {
        'truncated': data[:len(data) // 2],
        'crc': bytes(flipped),
        'not png': b'GIF89a' + data[6:],
        'no IHDR': data[:8] + data[33:],
        'bad depth': png_with_filters(2, 2, bytearray(12), 2, 3, [0], depth=4),
    }
    for what, damaged in cases.items():
        with pytest.raises(TaoFleetError) as caught:
            _image.decode_png(damaged, what)
        assert caught.value.code == 'image_corrupt', what


def test_unknown_critical_chunk_is_refused():
    data = _image.encode_png(_image.RgbImage(2, 2))
    body = b'xyz'
    odd = struct.pack('>I', len(body)) + b'ZZZZ' + body + struct.pack('>I', zlib.crc32(b'ZZZZ' + body) & 0xFFFFFFFF)
    with pytest.raises(TaoFleetError) as caught:
        _image.decode_png(data[:33] + odd + data[33:])
    assert caught.value.code == 'image_unsupported'


# ---- PPM --------------------------------------------------------------------------------------

def test_ppm_round_trip_and_pgm_with_comments():
    image = _image.demo_scene(4, 2).image
    assert _image.decode_ppm(_image.encode_ppm(image)) == image
    gray = _image.decode_ppm(b'P5\n# made by hand\n3 1 # width height\n255\n\x00\x80\xff')
    assert bytes(gray.pixels) == b'\x00\x00\x00\x80\x80\x80\xff\xff\xff'


@pytest.mark.parametrize('data, code', [
    (b'P6\n2 2\n65535\n' + b'\0' * 24, 'image_unsupported'),
    (b'P3\n1 1\n255\n0 0 0\n', 'image_unsupported'),
    (b'P6\n4 4\n255\n\0\0\0', 'image_corrupt'),
    (b'P6\nfour 4\n255\n', 'image_corrupt'),
    (b'P6\n4', 'image_corrupt'),
])
def test_bad_ppm(data, code):
    with pytest.raises(TaoFleetError) as caught:
        _image.decode_ppm(data)
    assert caught.value.code == code


def test_load_and_save_by_content(tmp_path):
    image = _image.demo_scene(6, 2).image
    for name in ('a.png', 'b.ppm'):
        _image.save_image(str(tmp_path / name), image)
        assert _image.load_image(str(tmp_path / name)) == image
    os.rename(str(tmp_path / 'a.png'), str(tmp_path / 'a.ppm'))
    assert _image.load_image(str(tmp_path / 'a.ppm')) == image
    (tmp_path / 'c.jpg').write_bytes(b'\xff\xd8\xff\xe0 not supported')
    with pytest.raises(TaoFleetError) as caught:
        _image.load_image(str(tmp_path / 'c.jpg'))
    assert caught.value.code == 'image_unsupported'


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / 'scene.png'
    target.write_bytes(b'old')
    with pytest.raises(TypeError):
        _image.write_atomic(str(target), u'not bytes')
    assert target.read_bytes() == b'old'
    assert sorted(os.listdir(str(tmp_path))) == ['scene.png']


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        _image.write_atomic(str(tmp_path / 'a.png'), b'data')
    finally:
        os.umask(umask)
    assert os.stat(str(tmp_path / 'a.png')).st_mode & 0o777 == 0o644


# ---- preprocessing and scaling ------------------------------------------------------------------

def test_input_tensor_is_rgb_nchw_scaled_to_one():
    image = _image.RgbImage(960, 544)
    image.fill(0, 0, 16, 16, (255, 0, 51))
    tensor = _image.to_input_tensor(image)
    assert tensor.shape == (1, 3, 544, 960) and tensor.dtype == np.float32
    assert tensor[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert tensor[0, :, 16, 16].tolist() == [0.0, 0.0, 0.0]


def upscale(image, factor):
    pixels = np.frombuffer(bytes(image.pixels), np.uint8).reshape(image.height, image.width, 3)
    big = pixels.repeat(factor, axis=0).repeat(factor, axis=1)
    return _image.RgbImage(image.width * factor, image.height * factor, big.tobytes())


@pytest.mark.parametrize('method', _image.RESIZE_METHODS)
def test_downscaling_by_two_is_exact_on_blocky_images(method):
    """Both methods sample centres: a 2x2 block of one colour maps back to that colour."""
    small = _image.demo_scene(9, 4, distractors=1).image
    expected = _image.to_input_tensor(small)
    assert np.array_equal(_image.to_input_tensor(upscale(small, 2), resize=method), expected)


def test_bilinear_interpolates_and_batches_mix_sizes():
    image = _image.RgbImage(2, 1, bytes([0, 0, 0, 255, 255, 255]))
    wide = _image.to_input_tensor(image, width=4, height=1)[0, 0, 0]
    # centres of 4 outputs over 2 inputs: -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    assert wide.tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])
    nearest = _image.to_input_tensor(image, width=4, height=1, resize='nearest')[0, 0, 0]
    assert nearest.tolist() == [0.0, 0.0, 1.0, 1.0]
    batch = _image.to_input_tensor([image, upscale(image, 3)], width=4, height=1)
    assert batch.shape == (2, 3, 1, 4)
    with pytest.raises(ValueError):
        _image.to_input_tensor(image, resize='lanczos')


def test_scale_detections_maps_back_and_keeps_other_keys():
    found = [{'label': 'person', 'confidence': 0.9, 'left': 96.0, 'top': 54.4, 'right': 192.0, 'bottom': 108.8}]
    scaled = _image.scale_detections(found, (960, 544), (1920, 1080))
    assert scaled[0]['label'] == 'person' and scaled[0]['confidence'] == 0.9
    assert [scaled[0][key] for key in ('left', 'top', 'right', 'bottom')] == pytest.approx([192, 108, 384, 216])
    assert found[0]['left'] == 96.0


def test_missing_numpy_is_an_optional_import_error(monkeypatch):
    real_import = builtins.__import__

    def no_numpy(name, *args, **kwargs):
        if name == 'numpy' or name.startswith('numpy.'):
            raise ImportError('No module named numpy')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_numpy)
    with pytest.raises(OptionalImportError) as caught:
        _image.to_input_tensor(_image.RgbImage(4, 4))
    assert caught.value.package == 'numpy' and 'python3-numpy' in caught.value.fix
