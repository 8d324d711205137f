"""Quantized training: the optimizer step, qtorch's OptimLP, hooks on user networks, determinism,
batched versus one-at-a-time, and bad inputs refused before training."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("qtorch")

from torch import nn  # noqa: E402

from peppp_bench.configs import get_config  # noqa: E402
from peppp_bench.generate.architectures import Architecture, ArchitectureError  # noqa: E402
from peppp_bench.generate.data import DataError, DataSpec, load_data  # noqa: E402
from peppp_bench.generate.networks import ResNet, side_by_side  # noqa: E402
from peppp_bench.generate.quantize import activation_quantizer, native_float_quantize  # noqa: E402
from peppp_bench.generate.recipes import get_recipe  # noqa: E402
from peppp_bench.generate.sites import Quant, QuantizedNetwork  # noqa: E402
from peppp_bench.generate.train import LowPrecisionSGD, train_cell, train_cells, two_formats  # noqa: E402

TINY = Architecture.resnet((1, 1), 4)


def nearest(exp: int, man: int):
    return lambda _i, x: native_float_quantize(x, exp, man, "nearest")


def test_one_step_matches_a_hand_computation() -> None:
    p = nn.Parameter(torch.tensor([1.0, -0.3]))
    opt = LowPrecisionSGD(
        [p],
        lr=0.1,
        momentum=0.9,
        weight_decay=0.5,
        loss_scale=1000.0,
        quantize=two_formats(nearest(3, 1), nearest(6, 7)),
    )
    p.grad = torch.tensor([700.0, -2300.0])  # the gradient of loss × 1000
    opt.step()
    # g = Q_A(g/1000) = Q_e3m1([0.7, -2.3]) = [0.75, -2.0]; d = g + 0.5·w = [1.25, -2.15]; buf = d
    # w' = w − 0.1·d = [0.875, -0.085]; acc = Q_e6m7(w') = [0.875, -0.0849609375];
    # w = Q_e3m1(acc) = [1.0, -0.125] (0.875 is a tie between 0.75 and 1.0: ties go away from zero)
    assert opt.accumulators[0].tolist() == [0.875, -0.0849609375]
    assert p.data.tolist() == [1.0, -0.125]
    assert opt.buffers[0].tolist() == [1.25, -2.15625]  # momentum kept in Format B (step 1/64 at 2..4)


def test_matches_qtorch_optimlp_bit_for_bit() -> None:
    from qtorch import FloatingPoint
    from qtorch.optim import OptimLP
    from qtorch.quant import quantizer

    torch.manual_seed(0)
    a = nn.Linear(6, 3)
    b = nn.Linear(6, 3)
    b.load_state_dict(a.state_dict())
    qa = quantizer(FloatingPoint(4, 2), FloatingPoint(4, 2), "nearest", "nearest")
    qb = quantizer(FloatingPoint(7, 9), FloatingPoint(7, 9), "nearest", "nearest")
    ref = OptimLP(
        torch.optim.SGD(a.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4),
        weight_quant=qa,
        grad_scaling=1e-3,
        grad_quant=qa,
        momentum_quant=qb,
        acc_quant=qb,
    )
    ours = LowPrecisionSGD(list(b.parameters()), 0.01, 0.9, 5e-4, 1000.0, two_formats(nearest(4, 2), nearest(7, 9)))
    for step in range(5):
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        for model, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            (nn.functional.cross_entropy(model(x), y) * 1000).backward()
            opt.step()
        for pa, pb in zip(a.parameters(), b.parameters()):
            assert torch.equal(pa, pb), step


class _Residual(nn.Module):
    def __init__(self, add: bool) -> None:
        super().__init__()
        self.conv, self.head, self.add = nn.Conv2d(2, 2, 3, padding=1), nn.Linear(8, 2), add

    def forward(self, x):
        y = self.conv(x)
        return self.head((x + y if self.add else y).flatten(1))


@pytest.mark.parametrize("residual", [False, True])
def test_declared_function_sites_see_the_networks_operations_not_the_quantizers(residual: bool) -> None:
    """A quantizer that adds and multiplies (as scaling does), run by module sites, never fires the declared
    `add` and `mul` sites; the network's own addition fires `add` once per forward pass."""
    net = QuantizedNetwork(_Residual(residual), modules=("Conv2d", "Linear"), functions=("add", "mul"))
    fired = {name: 0 for name in net.function_sites}
    for name, site in net.function_sites.items():
        site.register_forward_hook(lambda *_a, name=name: fired.__setitem__(name, fired[name] + 1))
    for m in net.modules():
        if isinstance(m, Quant):
            m.fn = lambda x: (x + 0.5) * 2.0 - 1.0  # arithmetic of the quantizer's own
    net(torch.randn(3, 2, 2, 2))
    assert fired == {"add": int(residual), "mul": 0}


class _InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.head = nn.Conv2d(2, 2, 3, padding=1), nn.Linear(8, 2)

    def forward(self, x):
        out = self.conv(x)
        out += x  # an in-place residual
        return self.head((out / 2).flatten(1))


def test_an_in_place_residual_is_a_declared_add_and_undeclarable_operations_are_named() -> None:
    from peppp_bench.generate.sites import unquantized_operations

    plain = QuantizedNetwork(_InPlace(), modules=("Conv2d", "Linear"))
    assert unquantized_operations(plain, (2, 2, 2)) == {"add": 1, "div": 1}  # `+=` was not reported before
    net = QuantizedNetwork(_InPlace(), modules=("Conv2d", "Linear"), functions=("add",))
    assert unquantized_operations(net, (2, 2, 2)) == {"div": 1}
    fired = []
    net.function_sites["add"].register_forward_hook(lambda *_a: fired.append(1))
    net(torch.randn(3, 2, 2, 2))
    assert fired == [1]


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed, self.head = nn.Linear(2, 8), nn.Linear(8, 2)  # tokens: the pixels, of 2 channels
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        tokens = self.embed(x.flatten(2).transpose(1, 2))
        out, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return self.head(out.mean(1))


def test_multihead_attention_is_reported_and_can_be_declared() -> None:
    """nn.MultiheadAttention returns a tuple: it was neither reported unquantized nor declarable (a crash)."""
    from peppp_bench.generate.sites import unquantized_operations

    plain = QuantizedNetwork(_Attention(), modules=("Linear",))
    assert "multi_head_attention_forward" in unquantized_operations(plain, (2, 2, 2))
    net = QuantizedNetwork(_Attention(), modules=("Linear", "MultiheadAttention"), functions=("mean",))
    assert unquantized_operations(net, (2, 2, 2)) == {}
    for m in net.modules():
        if isinstance(m, Quant):
            m.fn = lambda x: native_float_quantize(x, 3, 1, "nearest")
    assert net(torch.randn(3, 2, 2, 2)).shape == (3, 2)


def test_hooks_quantize_a_plain_user_network_forward_and_backward() -> None:
    net = QuantizedNetwork(nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2)))
    seen = []
    grid = set(native_float_quantize(torch.linspace(-30, 30, 4001), 3, 1, "nearest").tolist())
    for m in net.modules():
        if isinstance(m, Quant):

            def fn(x, role=m.role, way="forward"):
                seen.append((role, way))
                return native_float_quantize(x, 3, 1, "nearest") if role == "A" else x

            m.fn = activation_quantizer(fn, lambda g, role=m.role: fn(g, role, "backward"))
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    out = net(x)
    assert (
        seen.count(("A", "forward")) == 3 and seen.count(("B", "forward")) == 2
    )  # after each Linear and the ReLU; input and logits
    assert set(out.flatten().tolist()) <= grid
    out.sum().backward()
    assert seen.count(("A", "backward")) == 3 and x.grad is not None


def test_hook_inserted_quantizers_train() -> None:
    data = load_data(DataSpec("digits", {"classes": [0, 1]}))

    def mlp(classes, ch):
        return nn.Sequential(nn.Flatten(), nn.Linear(ch * 64, 16), nn.ReLU(), nn.Linear(16, classes))

    arch = Architecture.from_factory(mlp, label="mlp")
    r = train_cell(data, "e5m3-e7m11", arch, get_recipe("clean", epochs=5, lr=0.2), seed=0)
    assert r.error < 0.2 and r.architecture == "mlp"


def test_same_seed_same_error_and_provenance() -> None:
    data = load_data(DataSpec("lfw", {"size": 8}))
    recipe = get_recipe("clean", epochs=1, lr=0.05)
    a = train_cells(data, ["e4m2-e7m9", "e5m3-e8m11"], TINY, recipe, seed=3)
    b = train_cells(data, ["e4m2-e7m9", "e5m3-e8m11"], TINY, recipe, seed=3)
    assert [r.error for r in a] == [r.error for r in b]
    assert a[0].recipe["epochs"] == 1 and a[0].seed == 3 and a[0].batched_with == 2 and "git_sha" in a[0].provenance


def test_batched_equals_one_at_a_time_up_to_summation_order() -> None:
    """With nearest rounding, a grouped network of three configurations computes what three separate
    networks compute, up to the order of float sums in the convolutions (so not bit-identical)."""
    torch.manual_seed(0)
    single = ResNet(3, (1, 1), 4, 1)
    grouped = side_by_side(single, ResNet(3, (1, 1), 4, 1, copies=3), 3)
    configs = [get_config(c) for c in ("e3m1-e6m7", "e4m3-e7m9", "e5m2-e8m11")]
    x = torch.rand(8, 1, 8, 8)
    outs = []
    for c in configs:
        for m in single.modules():
            if isinstance(m, Quant):
                f = c.a if m.role == "A" else c.b
                m.fn = lambda t, f=f: native_float_quantize(t, f.exp, f.man, "nearest")
        outs.append(single(x))
    for m in grouped.modules():
        if isinstance(m, Quant):

            def q(t, role=m.role):
                fm = [c.a if role == "A" else c.b for c in configs]
                per = t.shape[1] // 3
                e = torch.tensor([f.exp for f in fm]).repeat_interleave(per).view(1, -1, *([1] * (t.dim() - 2)))
                n = torch.tensor([f.man for f in fm]).repeat_interleave(per).view(1, -1, *([1] * (t.dim() - 2)))
                return native_float_quantize(t, e, n, "nearest")

            m.fn = q
    together = grouped(x.repeat(1, 3, 1, 1)).view(8, 3, 3)
    for i in range(3):
        close = torch.isclose(together[:, i], outs[i], rtol=0, atol=0.26)  # at most a few grid steps apart
        assert close.float().mean() > 0.9


def test_batched_equals_one_at_a_time_given_the_same_random_bits() -> None:
    """Stochastic rounding: every copy of the grouped network draws the bits its configuration draws when
    trained alone with the same seed, so the errors agree exactly (here, bit for bit)."""
    data = load_data(DataSpec("digits", {"classes": [3, 8]}))
    recipe = get_recipe("clean", epochs=4, lr=0.05)
    configs = ["e3m1-e6m7", "e4m3-e7m9", "e5m2-e8m11"]
    together = [r.error for r in train_cells(data, configs, TINY, recipe, seed=1)]
    alone = [train_cell(data, c, TINY, recipe, seed=1).error for c in configs]
    assert together == alone
    assert len(set(together)) > 1  # the configurations did train differently


def test_qtorch_back_end_trains_one_cell() -> None:
    data = load_data(DataSpec("lfw", {"size": 8}))
    r = train_cell(data, "e5m3-e7m11", TINY, get_recipe("clean", epochs=1, lr=0.05), seed=0, backend="qtorch")
    assert 0 <= r.error <= 1 and r.backend == "qtorch"
    with pytest.raises(ValueError, match="back end"):
        train_cell(data, "e5m3-e7m11", TINY, get_recipe("clean"), seed=0, backend="fpga")


def test_bad_inputs_fail_before_training() -> None:
    with pytest.raises(DataError, match="unknown data source 'mnist'"):
        load_data(DataSpec("mnist"))
    with pytest.raises(KeyError, match="unknown configuration"):
        get_config("e2m1-e6m7")
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataSpec("cifar10", {"root": "/nonexistent/cifar"}))
    with pytest.raises(DataError, match="at least two"):
        load_data(DataSpec("digits", {"classes": [3]}))
    data = load_data(DataSpec("lfw", {"size": 8}))
    wrong = Architecture.from_factory(
        lambda classes, ch: nn.Sequential(nn.Flatten(), nn.Linear(ch * 64, 7)), label="wrong-head"
    )
    with pytest.raises(ArchitectureError, match="outputs 7 logits per image for a task with 2 classes"):
        train_cell(data, "e5m3-e7m11", wrong, get_recipe("clean"), seed=0)
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("fast")
    with pytest.raises(ValueError, match="unknown recipe fields"):
        get_recipe("clean", epoch=3)


def test_every_built_in_and_a_factory_batch_like_training_alone() -> None:
    """All four built-ins (side by side in one network) and a factory's network (stacked under vmap):
    each configuration trained together with others gives the error it gets trained alone, same seed."""
    data = load_data(DataSpec("digits", {"classes": [3, 8]}))
    recipe = get_recipe("clean", epochs=2, lr=0.05, augment=False)
    configs = ["e3m2-e6m7", "e4m3-e7m9", "e5m2-e8m11"]

    def user_net(classes, ch):
        return nn.Sequential(
            nn.Conv2d(ch, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, classes)
        )

    archs = [
        Architecture.builtin("vgg", channels=[4, 8]),
        Architecture.builtin("mlp", hidden=[16]),
        Architecture.builtin("vit", patch=4, dim=8, depth=1, heads=2),
        Architecture.from_factory(user_net),
    ]
    for arch in archs:
        together = train_cells(data, configs, arch, recipe, seed=2)
        alone = [train_cell(data, c, arch, recipe, seed=2) for c in configs]
        assert [r.error for r in together] == [r.error for r in alone], arch.name
        assert together[0].batched_with == 3 and len({r.error for r in together}) > 1, arch.name


def test_gpu_check_runs_on_the_cpu(capsys) -> None:
    """benchmarks/gpu_check.py is the script a GPU machine runs; here its smoke mode, on the CPU."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--device", "cpu", "--small"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["batched_equals_alone"] and report["device_matches_cpu"]
    assert report["device"]["tf32_matmul"] is False and report["device"]["tf32_cudnn"] is False
    assert report["cells_per_device_hour_cifar10_paper_recipe"] > 0
    assert module.main(["--device", "cuda"]) == (0 if torch.cuda.is_available() else 2)
