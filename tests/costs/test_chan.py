"""Chan et al.'s VGG-19 for CIFAR-10 (paper 002, Tables 1 and 3) and its eq. 6 memory."""

from __future__ import annotations

from fitnas.arch import ArchGraph
from fitnas.costs import chan_memory_bytes, count_macs, count_params, largest_layer_io

VGG19_CONVS = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
               512, 512, 512, 512, "M"]


def vgg19_cifar() -> ArchGraph:
    """16 3x3 convs with bias and no batch norm, five 2x2 max pools, then FC 512-512-512-10."""
    nodes: list[tuple] = []
    last = "input"
    for k, item in enumerate(VGG19_CONVS):
        if item == "M":
            nodes.append((f"pool{k}", "maxpool", (last,), {"kernel": 2}))
            last = f"pool{k}"
            continue
        nodes.append((f"conv{k}", "conv2d", (last,), {"out_channels": item, "kernel": 3,
                                                       "padding": 1, "bias": True}))
        nodes.append((f"relu{k}", "relu", (f"conv{k}",)))
        last = f"relu{k}"
    nodes.append(("flat", "flatten", (last,)))
    last = "flat"
    for k, width in enumerate([512, 512, 10]):
        nodes.append((f"fc{k}", "linear", (last,), {"out_features": width}))
        last = f"fc{k}"
        if width != 10:
            nodes.append((f"fcrelu{k}", "relu", (last,)))
            last = f"fcrelu{k}"
    return ArchGraph((1, 3, 32, 32), nodes, name="vgg19-cifar10")


def test_vgg19_parameters_and_operations() -> None:
    graph = vgg19_cifar()
    assert sum(1 for n in graph.nodes if n.op == "conv2d") == 16
    params = count_params(graph)
    assert params == 20_554_826
    assert round(params / 1e7, 1) == 2.1  # Table 1: 2.1x10^7
    # Table 1 and 3: 0.40 GOP, where eq. 7-8 count MACs with one more per output for the bias
    assert round(count_macs(graph, count_bias=True) / 1e9, 2) == 0.40
    assert round(count_macs(graph) / 1e9, 2) == 0.40


def test_vgg19_memory_reconciles_82_7_mb_and_78_91_mb() -> None:
    """Table 1 prints 82.7 MB and Table 3 78.91 MB for the same model. Both are eq. 6 at 4 bytes
    per element with the ping-pong term read as the largest input PLUS output (the second 64-channel
    conv at 32x32: 65,536 + 65,536 elements): 82,743,592 bytes, which is 82.7 MB in decimal
    megabytes (10^6 B) and 78.91 MB in binary ones (2^20 B, MiB). Reading eq. 6 literally as
    max(|x|, |y|) would give 82.48 MB / 78.66 MiB, matching neither table."""
    graph = vgg19_cifar()
    assert largest_layer_io(graph) == 65_536 + 65_536
    mem = chan_memory_bytes(graph, "fp32")
    assert mem == 4 * (20_554_826 + 131_072) == 82_743_592
    assert round(mem / 1e6, 1) == 82.7
    assert round(mem / 2**20, 2) == 78.91
    literal = 4 * (20_554_826 + 65_536)
    assert round(literal / 1e6, 1) != 82.7 and round(literal / 2**20, 2) != 78.91
