"""The reference networks: shapes, layer sizes of docs/reference.md, any channel count."""

import pytest
import torch
from torch import nn

from untwine.nets import ConvEncoder, DeconvDecoder, MLPDecoder, MLPEncoder, build_decoder, build_encoder


@pytest.mark.parametrize("channels", [1, 3])
def test_reference_shapes(channels):
    enc, dec = ConvEncoder(channels, 10), DeconvDecoder(channels, 10)
    mean, logvar = enc(torch.zeros(5, channels, 64, 64))
    assert mean.shape == logvar.shape == (5, 10)
    assert dec(torch.zeros(5, 10)).shape == (5, channels, 64, 64)


def test_reference_layer_sizes():
    enc = ConvEncoder(1, 10)
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    dense = [m for m in enc.modules() if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(1024, 256), (256, 20)]
    dec = DeconvDecoder(1, 10)
    dense = [m for m in dec.modules() if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(10, 256), (256, 1024)]
    deconvs = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [d.out_channels for d in deconvs] == [64, 32, 32, 1]
    # reference parameter count (conv + dense, with biases)
    assert sum(p.numel() for p in enc.parameters()) == (
        (16 * 1 * 32 + 32)
        + (16 * 32 * 32 + 32)
        + (16 * 32 * 64 + 64)
        + (16 * 64 * 64 + 64)
        + (1024 * 256 + 256)
        + (256 * 20 + 20)
    )


def test_picks_mlp_for_other_shapes():
    assert isinstance(build_encoder((2,), 3), MLPEncoder)
    assert isinstance(build_decoder((1, 8, 8), 3), MLPDecoder)
    assert isinstance(build_encoder((3, 64, 64), 3), ConvEncoder)
    assert build_decoder((1, 8, 8), 3)(torch.zeros(4, 3)).shape == (4, 1, 8, 8)
