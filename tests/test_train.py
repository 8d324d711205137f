"""Quantized training: the optimizer step, qtorch's OptimLP, hooks on user networks, determinism,
batched versus one-at-a-time, and bad inputs refused before training."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("qtorch")

from torch import nn  # noqa: E402

from peppp_bench.configs import get_config  # noqa: E402
from peppp_bench.generate.architectures import Architecture, ArchitectureError  # noqa: E402
from peppp_bench.generate.data import DataError, DataSpec, ImageData, load_data  # noqa: E402
from peppp_bench.generate.networks import ResNet, side_by_side  # noqa: E402
from peppp_bench.generate.quantize import activation_quantizer, native_float_quantize  # noqa: E402
from peppp_bench.generate.recipes import Recipe, get_recipe  # noqa: E402
from peppp_bench.generate.sites import Quant, QuantizedNetwork  # noqa: E402
from peppp_bench.generate.train import LowPrecisionSGD, train_cell, train_cells, two_formats  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per test process, as the generator's workers run: two processes of two threads each on 2
    cores collapse (the ConvNeXt test took 472 s so under `-n auto`, 67 s with one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    net = QuantizedNetwork(_InPlace(), modules=("Conv2d", "Linear"), functions=("add", "div"))  # div declarable
    assert unquantized_operations(net, (2, 2, 2)) == {}
    net.function_sites["div"].register_forward_hook(lambda *_a: fired.append(2))
    net(torch.randn(3, 2, 2, 2))
    assert fired == [1, 2]


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed, self.head = nn.Linear(2, 8), nn.Linear(8, 2)  # tokens: the pixels, of 2 channels
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        tokens = self.embed(x.flatten(2).transpose(1, 2))
        out, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return self.head(out.mean(1))


def test_multihead_attention_is_refused_before_training_with_how_to_write_it() -> None:
    """nn.MultiheadAttention computes projections, scores and softmax in one torch call: no site can enter it,
    so it would train unquantized and uncounted. It is refused when the network is first built (the spec
    check), not left to train silently; it is no longer a declarable module type."""
    data = load_data(DataSpec("digits", {"classes": [0, 1]}))
    arch = Architecture.from_factory(lambda classes, ch: _Attention(), modules=("Linear",), label="mha")
    with pytest.raises(ArchitectureError, match=r"MultiheadAttention.*Write attention from parts.*declare matmul"):
        arch.counts(data.classes, data.shape)
    with pytest.raises(ArchitectureError, match="MultiheadAttention"):
        train_cell(data, "e5m3-e7m11", arch, get_recipe("clean", epochs=1), seed=0)
    with pytest.raises(ArchitectureError, match="unknown module type.*MultiheadAttention"):
        Architecture.from_factory(lambda classes, ch: _Attention(), modules=("Linear", "MultiheadAttention"))


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


def test_batched_equals_one_at_a_time_bit_for_bit() -> None:
    """With nearest rounding, a grouped network of three configurations computes exactly what three separate
    networks compute: each copy's convolutions run as plain ones (a grouped kernel sums a 3-channel input
    and 1×1 weight gradients in another order; this asserted closeness only, before)."""
    torch.manual_seed(0)
    single = ResNet(3, (1, 1), 4, 3)  # 3-channel input, and a 1×1 shortcut convolution
    grouped = side_by_side(single, ResNet(3, (1, 1), 4, 3, copies=3), 3)
    configs = [get_config(c) for c in ("e3m1-e6m7", "e4m3-e7m9", "e5m2-e8m11")]
    x = torch.rand(8, 3, 8, 8)
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
        assert torch.equal(together[:, i], outs[i])


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
    each configuration trained together with others gives the error it gets trained alone, same seed and
    stochastic rounding (every copy draws the bits it draws alone), on 3-channel images too (a grouped
    convolution summed those in another order than a plain one)."""
    digits = load_data(DataSpec("digits", {"classes": [3, 8]}))
    colour = load_data(
        DataSpec(
            "photo-patches",
            {
                "photos": ["astronaut", "coffee"],
                "patch": 8,
                "colour": True,
                "train_per_class": 64,
                "test_per_class": 32,
            },
        )
    )
    recipe = get_recipe("clean", epochs=2, lr=0.05, augment=False)
    configs = ["e3m2-e6m7", "e4m3-e7m9", "e5m2-e8m11"]

    def user_net(classes, ch):
        return nn.Sequential(
            nn.Conv2d(ch, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, classes)
        )

    vit = Architecture.builtin("vit", patch=4, dim=8, depth=1, heads=2)
    modern = ["nvfp4-sr-opt-fp32", "fp8-delayed-e4m3-e5m2-opt-fp32", "bf16"]
    cases = [
        (Architecture.builtin("vgg", channels=[4, 8]), digits, configs),
        (Architecture.builtin("mlp", hidden=[16]), digits, configs),
        (vit, digits, configs),
        (Architecture.from_factory(user_net), digits, configs),
        (TINY, colour, configs),
        (TINY, colour, modern),
        (vit, colour, modern),
    ]
    for arch, data, ids in cases:
        together = train_cells(data, ids, arch, recipe, seed=2)
        alone = [train_cell(data, c, arch, recipe, seed=2) for c in ids]
        assert [r.error for r in together] == [r.error for r in alone], (arch.name, ids)
        assert together[0].batched_with == 3 and len({r.error for r in together}) > 1, (arch.name, ids)


def _gpu_check():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_passes_on_the_cpu_and_fails_when_batched_and_alone_differ(capsys, monkeypatch, tmp_path) -> None:
    """benchmarks/gpu_check.py is the script a GPU machine runs; here its small mode on the CPU: its checks pass
    on a task that was learned, with errors away from 0 and chance (so that equality means something), and fail
    when a unit trained alone gives another error than batched."""
    import json

    module = _gpu_check()
    # the ResNet's batching is checked in this file's other tests; a GPU run checks all three networks
    monkeypatch.setattr(module, "CHECKED", module.CHECKED[:2])
    out = tmp_path / "report.json"
    assert module.main(["--device", "cpu", "--small", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    for arch in ("mlp-64-32", "transformer-factory"):
        for family in ("paper", "modern"):
            check = report[f"{arch}, {family}"]
            assert check["batched_equals_alone"] and check["largest_device_cpu_difference"] == 0
            assert min(check["errors_batched"]) < report["task"]["chance_error"] - 0.15  # learned
            assert 2 * check["errors_away_from_0_and_chance"] >= len(check["errors_batched"])  # informative
    assert report["task"]["chance_error"] == 0.75 and report["failures"] == []
    assert report["device"]["tf32_matmul"] is False and report["device"]["random_bits"] == "torch.Generator on cpu"
    assert report["timing"]["cells_per_device_hour_cifar10_paper_recipe"]["plain"]["batched"] > 0

    import dataclasses

    real = module.train_cells

    def alone_differs(data, configs, *args, **kwargs):  # a unit of one gives one more wrong test image
        results = real(data, configs, *args, **kwargs)
        if len(configs) == 1:
            results = [dataclasses.replace(r, error=r.error + 1 / len(data.y_test)) for r in results]
        return results

    monkeypatch.setattr(module, "train_cells", alone_differs)
    monkeypatch.setattr(module, "CHECKED", module.CHECKED[:1])  # the MLP suffices
    assert module.main(["--device", "cpu", "--small", "--no-timing"]) == 1
    failed = json.loads(capsys.readouterr().out)["failures"]
    assert any("batched and alone differ" in f for f in failed)
    assert module.main(["--device", "cuda"]) == (0 if torch.cuda.is_available() else 2)


class _TinyTransformer(nn.Module):
    """Attention written from parts, with every operation a spec can declare: residual adds, a learned
    scale (mul, at two shapes), q·kᵀ and attn·v (matmul), softmax on both sides, the token mean."""

    def __init__(self, classes: int, ch: int, dim: int = 8) -> None:
        super().__init__()
        self.embed, self.qkv, self.proj = nn.Linear(ch * 16, dim), nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)
        self.gamma, self.beta = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.ones(1))

    def forward(self, x):
        b, c = x.shape[:2]  # 8×8 images as 4 tokens of 4×4 patches
        tokens = x.unfold(2, 4, 4).unfold(3, 4, 4).reshape(b, c, 4, 16).permute(0, 2, 1, 3).reshape(b, 4, -1)
        h = self.embed(tokens)
        q, k, v = self.qkv(self.norm(h)).chunk(3, -1)
        attention = torch.softmax(q @ k.transpose(-2, -1) * 0.35, -1)
        h = h + self.proj(attention @ v) * self.gamma
        return self.head(h.mean(1) * self.beta)


def _tiny_transformer() -> Architecture:
    """_TinyTransformer as a factory with every operation it uses declared."""
    return Architecture.from_factory(
        _TinyTransformer,
        modules=("Linear", "LayerNorm"),
        functions=("add", "mul", "matmul", "mean", "softmax_input", "softmax"),
        label="tiny-transformer",
    )


def test_a_transformer_factory_trains_batched_exactly_as_alone_modern_and_paper_configurations() -> None:
    """Declared add, mul, matmul, mean and both softmax sides, stochastic rounding: every configuration trained
    with others equals it trained alone, bit for bit, modern ones (batched on factories too) included. FP8
    delayed scaling keeps one amax history per call of a site: `mul` runs on tensors of two shapes, which
    crashed (IndexError) when one history served every call."""
    data = load_data(DataSpec("digits", {"classes": [3, 8]}))
    arch = _tiny_transformer()
    assert arch.unquantized(data.classes, data.shape) == {}
    recipe = get_recipe("clean", epochs=2, lr=0.05, augment=False, rounding="stochastic")
    for configs in (
        ["fp8-delayed-e4m3-e5m2-opt-fp32", "mxfp4-sr-b32-opt-fp32", "nvfp4-sr-opt-fp32", "bf16"],
        ["e3m1-e6m7", "e4m3-e7m9", "e5m2-e8m11"],
    ):
        together = train_cells(data, configs, arch, recipe, seed=4)
        alone = [train_cell(data, c, arch, recipe, seed=4) for c in configs]
        assert [r.error for r in together] == [r.error for r in alone], configs
        assert together[0].batched_with == len(configs) and len({r.error for r in together}) > 1, configs


def test_the_built_ins_global_pooling_is_adaptive_pooling_bit_for_bit() -> None:
    """GlobalAvgPool replaces nn.AdaptiveAvgPool2d(1) (whose CUDA backward refuses deterministic mode): the same
    values forward and backward on the CPU, so cells trained before the change stay the same."""
    from peppp_bench.generate.networks import GlobalAvgPool

    torch.manual_seed(0)
    for shape in [(128, 64, 4, 4), (33, 24, 16, 16), (7, 48, 2, 2), (5, 8, 1, 1)]:
        grads = []
        x = (torch.randn(*shape) * 3).requires_grad_()
        g = torch.randn(shape[0], shape[1], 1, 1)
        for pool in (nn.AdaptiveAvgPool2d(1), GlobalAvgPool()):
            y = pool(x)
            (y * g).sum().backward()
            grads.append((y.detach(), x.grad.clone()))
            x.grad = None
        assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1]), shape


def test_learning_curves_leave_training_unchanged() -> None:
    """recipe.curves records the test error after every epoch, testing aside: the rounding bits, the data order
    and delayed scaling's histories are as they were, so every final error equals training without curves, bit
    for bit, and the curve ends at it. A built-in network with paper configurations (stochastic rounding) and
    a factory with modern ones (FP8 delayed scaling, MXFP4 stochastic rounding)."""
    data = load_data(DataSpec("digits", {"classes": [3, 8]}))
    factory = _tiny_transformer()
    for arch, configs in (
        (Architecture.resnet((1, 1), 4), ["e3m1-e6m7", "e4m3-e7m9", "e5m2-e8m11"]),
        (factory, ["fp8-delayed-e4m3-e5m2-opt-fp32", "mxfp4-sr-b32-opt-fp32"]),
    ):
        plain = get_recipe("clean", epochs=3, lr=0.05, augment=False)
        without = train_cells(data, configs, arch, plain, seed=2)
        with_curves = train_cells(data, configs, arch, plain.with_overrides(curves=True), seed=2)
        assert [r.error for r in with_curves] == [r.error for r in without], configs
        assert all(r.curve is None for r in without)
        for r in with_curves:
            assert len(r.curve) == 3 and r.curve[-1] == r.error and all(0 <= e <= 1 for e in r.curve)
        assert len({tuple(r.curve) for r in with_curves}) > 1  # the curves are each configuration's own
        assert with_curves[0].recipe["curves"] is True and "curves" not in without[0].recipe


class _ConvNeXt(nn.Module):
    """A ConvNeXt-style network of the user's own: patchify stem, depthwise convolution, LayerNorm, GELU MLP,
    layer scale (mul), residual (add) on a permuted view, mean pooling."""

    def __init__(self, classes: int, ch: int, dim: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(ch, dim, 4, stride=4)  # 4×4 patches
        self.depthwise = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm, self.act = nn.LayerNorm(dim), nn.GELU()
        self.up, self.down, self.head = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim), nn.Linear(dim, classes)
        self.gamma = nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, x):
        h = self.stem(x)
        y = self.down(self.act(self.up(self.norm(self.depthwise(h).permute(0, 2, 3, 1))))) * self.gamma
        return self.head((h + y.permute(0, 3, 1, 2)).mean((2, 3)))


def convnext_case(epochs: int = 4) -> tuple[ImageData, Architecture, Recipe]:
    """Digits 3 vs 8, the ConvNeXt-style factory with add, mul and mean declared, and a recipe of `epochs`: where
    batched = alone is checked for a user's network (here in 2 epochs, in benchmarks/test_exactness.py in 4)."""
    data = load_data(DataSpec("digits", {"classes": [3, 8]}))
    arch = Architecture.from_factory(
        _ConvNeXt, modules=("Conv2d", "Linear", "LayerNorm", "GELU"), functions=("add", "mul", "mean"), label="cnx"
    )
    return data, arch, get_recipe("clean", epochs=epochs, lr=0.05, augment=False, batch_size=16)


@pytest.mark.slow(seconds=40)
def test_a_convnext_factory_trains_batched_exactly_as_alone_in_every_modern_configuration() -> None:
    """Every modern configuration on a ConvNeXt-style factory with add, mul and mean declared gives the same error
    alone and in one mixed unit, bit for bit; the errors are informative (fp32 learns, configurations differ).
    A unit of one once differed: vmap's kernels for one copy round a convolution's weight gradient differently
    from those for two or more, which NVFP4's and delayed scaling's fp32 scales then magnified. (Units of two,
    and all 99 of the paper's configurations: benchmarks/test_exactness.py, too slow for every CI run.)"""
    import peppp_bench

    data, arch, recipe = convnext_case(epochs=2)  # a kernel's rounding shows from the first step on
    assert arch.unquantized(data.classes, data.shape) == {}
    majority = 1 - torch.bincount(data.y_test).max().item() / len(data.y_test)
    configs = [c.id for c in peppp_bench.MODERN]
    alone = [train_cell(data, c, arch, recipe, seed=1).error for c in configs]
    mixed = [r.error for r in train_cells(data, configs[::-1], arch, recipe, seed=1)][::-1]
    assert alone == mixed, [c for c, a, m in zip(configs, alone, mixed) if a != m]
    assert min(alone) < majority - 0.1 and len(set(alone)) >= len(configs) // 4, (alone, majority)


class _InPlaceResidual(_ConvNeXt):
    """The residual added in place to a permuted view of the declared `mul` site's output."""

    def forward(self, x):
        h = self.stem(x)
        y = (self.down(self.act(self.up(self.norm(self.depthwise(h).permute(0, 2, 3, 1))))) * self.gamma).permute(
            0, 3, 1, 2
        )
        y += h
        return self.head(y.mean((2, 3)))


def test_an_in_place_residual_on_a_declared_sites_output_trains_in_every_unit_size() -> None:
    """`y += x` on a view of a declared site's output: a unit of one modern configuration raised autograd's
    view-and-in-place error (a unit of two did not); every unit size now trains, and alone equals batched."""
    data = load_data(DataSpec("digits", {"classes": [3, 8]}))
    arch = Architecture.from_factory(
        _InPlaceResidual,
        modules=("Conv2d", "Linear", "LayerNorm", "GELU"),
        functions=("add", "mul", "mean"),
        label="ip",
    )
    recipe = get_recipe("clean", epochs=1, lr=0.05, augment=False, batch_size=16)
    configs = ["nvfp4-sr-opt-fp32", "fp8-delayed-e4m3-e5m2-opt-fp32", "e4m3-e7m9"]
    alone = [train_cell(data, c, arch, recipe, seed=2).error for c in configs]
    assert alone == [r.error for r in train_cells(data, configs[:2], arch, recipe, seed=2)] + alone[2:]
