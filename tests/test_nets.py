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


# -- the encoder's normalisation (ModelConfig.encoder_norm) ------------------------------------------------------


def test_the_reference_encoders_are_unchanged_by_the_norm_option():
    """encoder_norm = "none" builds exactly the reference layers, in the reference order (the state-dict keys of
    every run trained before the option), with the same initial weights from the same seed."""
    for build, args in ((ConvEncoder, (1, 10)), (MLPEncoder, ((6,), 3))):
        torch.manual_seed(0)
        plain = build(*args)
        torch.manual_seed(0)
        none = build(*args, norm="none")
        assert [type(m) for m in plain.features] == [type(m) for m in none.features]
        assert not any(isinstance(m, (nn.GroupNorm, nn.LayerNorm)) for m in none.modules())
        a, b = plain.state_dict(), none.state_dict()
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert [k for k in ConvEncoder(1, 10).state_dict() if k.endswith("weight")] == [
        f"features.{i}.weight" for i in (0, 2, 4, 6, 9, 11)
    ]


def test_the_instance_norm_encoder_normalises_every_convolution_and_the_dense_layer():
    enc = ConvEncoder(3, 5, norm="instance")
    kinds = [type(m).__name__ for m in enc.features]
    assert kinds == ["Conv2d", "GroupNorm", "ReLU"] * 4 + ["Flatten", "Linear", "LayerNorm", "ReLU", "Linear"]
    norms = [m for m in enc.features if isinstance(m, nn.GroupNorm)]
    assert [(g.num_groups, g.num_channels, g.affine) for g in norms] == [(32, 32, True), (32, 32, True)] + [
        (64, 64, True),
        (64, 64, True),
    ]
    assert [m.normalized_shape for m in enc.features if isinstance(m, nn.LayerNorm)] == [(256,)]
    mlp = MLPEncoder((6,), 3, hidden=8, norm="instance")
    assert [type(m).__name__ for m in mlp.features] == [
        "Flatten", "Linear", "LayerNorm", "ReLU", "Linear", "LayerNorm", "ReLU", "Linear",
    ]  # fmt: skip
    assert build_encoder((3, 64, 64), 5, "instance").features[1].num_groups == 32
    assert isinstance(build_encoder((6,), 3, "instance").features[2], nn.LayerNorm)


def test_an_instance_normalised_encoder_ignores_each_images_contrast():
    """With the first convolution's bias at 0, an instance norm after it makes the code of c·x that of x for every
    c > 0 (each image's feature maps are rescaled to unit variance); the reference encoder's code scales with c."""
    torch.manual_seed(0)
    x = torch.rand(4, 1, 64, 64)
    for norm, invariant in (("instance", True), ("none", False)):
        torch.manual_seed(1)
        enc = ConvEncoder(1, 6, norm=norm).eval()
        with torch.no_grad():
            enc.features[0].bias.zero_()
            a, b = enc(x)[0], enc(3.0 * x)[0]
        assert torch.allclose(a, b, atol=1e-4) is invariant


def test_an_unknown_norm_is_refused_naming_the_valid_ones():
    for build in (lambda: ConvEncoder(1, 4, norm="batch"), lambda: build_encoder((6,), 4, "batch")):
        with pytest.raises(ValueError) as error:
            build()
        assert str(error.value) == (
            "unknown encoder_norm 'batch'; valid: none, instance (none: the reference encoder; instance: an instance "
            "norm after every convolution and a layer norm on the dense layer; docs/training.md)"
        )


# -- every layer in its place, and the dispatch by observation shape --------------------------------------------


def _kinds(module: nn.Module) -> list[str]:
    return [type(m).__name__ for m in module.modules() if not isinstance(m, (nn.Sequential,)) and m is not module]


def test_every_network_has_its_activations_where_the_reference_has_them():
    assert _kinds(DeconvDecoder(1, 5)) == ["Linear", "ReLU", "Linear", "ReLU"] + ["ConvTranspose2d", "ReLU"] * 3 + [
        "ConvTranspose2d"
    ]
    assert _kinds(MLPDecoder((6,), 3)) == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert _kinds(MLPEncoder((6,), 3)) == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert _kinds(ConvEncoder(1, 3)) == ["Conv2d", "ReLU"] * 4 + ["Flatten", "Linear", "ReLU", "Linear"]
    assert [
        (m.in_features, m.out_features) for m in MLPEncoder((6,), 3, hidden=8).modules() if isinstance(m, nn.Linear)
    ] == [
        (6, 8),
        (8, 8),
        (8, 6),
    ]
    assert ConvEncoder(1, 7).latent_dim == 7 and MLPEncoder((6,), 4).latent_dim == 4
    linear = [nn.Linear]  # the MLPs' default width is 256
    assert [(m.in_features, m.out_features) for m in MLPEncoder((6,), 3).modules() if type(m) in linear] == [
        (6, 256),
        (256, 256),
        (256, 6),
    ]
    assert [(m.in_features, m.out_features) for m in MLPDecoder((6,), 3).modules() if type(m) in linear] == [
        (3, 256),
        (256, 256),
        (256, 6),
    ]


@pytest.mark.parametrize("build", [lambda: ConvEncoder(2, 3), lambda: MLPEncoder((2, 5), 3, hidden=8)])
def test_the_mean_is_the_first_half_of_the_last_layer_and_the_log_variance_the_second(build):
    torch.manual_seed(0)
    enc = build()
    x = torch.rand(4, 2, 64, 64) if isinstance(enc, ConvEncoder) else torch.rand(4, 2, 5)
    with torch.no_grad():
        out = enc.features(x)
        mean, logvar = enc(x)
    assert out.shape == (4, 6) and mean.shape == logvar.shape == (4, 3)
    assert torch.equal(mean, out[:, :3]) and torch.equal(logvar, out[:, 3:])


@pytest.mark.parametrize(
    "shape,conv", [((3, 64, 64), True), ((1, 64, 64), True), ((1, 64, 32), False), ((1, 32, 64), False), ((6,), False)]
)
def test_the_networks_are_picked_by_the_observation_shape_and_fit_it(shape, conv):
    enc, dec = build_encoder(shape, 5), build_decoder(shape, 5)
    assert isinstance(enc, ConvEncoder) is conv and isinstance(dec, DeconvDecoder) is conv
    assert isinstance(enc, MLPEncoder) is not conv and isinstance(dec, MLPDecoder) is not conv
    mean, logvar = enc(torch.rand(2, *shape))
    assert mean.shape == logvar.shape == (2, 5)
    assert dec(torch.rand(2, 5)).shape == (2, *shape)
    if conv:
        assert enc.features[0].in_channels == shape[0] and dec.deconv[-1].out_channels == shape[0]
