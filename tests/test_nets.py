"""Networks: the parameter counts and forward FLOPs the paper states (Section V)."""
import pytest

torch = pytest.importorskip("torch")

from edgelearn import nets  # noqa: E402


def test_lenet5_has_61706_parameters():
    # conv1 6*(25+1) + conv2 16*(6*25+1) + fc 400*120+120 + 120*84+84 + 84*10+10
    by_hand = 6 * 26 + 16 * 151 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10
    assert by_hand == 61706
    assert nets.count_parameters(nets.lenet5()) == by_hand


def test_googlenet_cifar_has_6166250_parameters():
    assert nets.count_parameters(nets.googlenet_cifar()) == 6_166_250


def test_lenet5_forward_flops_are_twice_the_papers_multiply_adds():
    # multiply-adds by hand: conv1 28*28*6*25, conv2 10*10*16*150, fc 400*120 + 120*84 + 84*10
    macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert macs == 416_520                                  # the paper's 416.52 KFLOPs
    assert nets.flops_per_sample(nets.lenet5(), (1, 28, 28)) == 2 * macs


def test_output_shapes_and_batchnorm_flags():
    assert nets.lenet5()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    g = nets.googlenet_cifar().eval()
    assert g(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert nets.has_batchnorm(g) and not nets.has_batchnorm(nets.lenet5())


def test_build_rejects_unknown_names():
    with pytest.raises(ValueError, match="resnet"):
        nets.build("resnet")
