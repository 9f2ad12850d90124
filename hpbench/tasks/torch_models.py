"""PyTorch models on the 8x8 digits: a multilayer perceptron and a small CNN, fidelity = epochs.

Both minimise the validation cross-entropy of the fixed digits split (see ``datasets``)
after training with AdamW (Loshchilov & Hutter, "Decoupled weight decay regularization",
ICLR 2019) for ``budget`` epochs. One ``torch.Generator`` seeded from the run's task seed
drives initialisation, shuffling and dropout, and nothing reads torch's global random
state. A checkpoint holds the model, the optimiser and that generator's state, so training
9 epochs and then continuing to 27 gives the same weights as 27 epochs straight.

Every evaluation runs on one thread with deterministic algorithms; both settings are
restored afterwards so nothing leaks into the caller. torch is imported inside the
functions, so listing tasks does not load it.

Shape glossary: ``n`` = samples, ``f`` = 64 pixels, ``k`` = 10 classes, ``c`` = channels,
``h = w = 8`` image side, ``u`` = hidden units of one layer.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hpbench.space import Categorical, Fidelity, Float, Int, SearchSpace
from hpbench.tasks.base import Task
from hpbench.tasks.datasets import accuracy, cross_entropy_from_logits, load_split
from hpbench.tasks.torch_support import (
    check_finite,
    load_checkpoint,
    save_checkpoint,
    torch_generator,
    torch_settings,
)
from hpbench.trial import Evaluation

if TYPE_CHECKING:
    import torch

__all__ = ["MLPTask", "CNNTask", "conv_macs"]

_DATASET = "digits"
_SIDE = 8
_N_CLASSES = 10


@functools.cache
def _tensors() -> dict[str, torch.Tensor]:
    """The digits split as float32 / int64 tensors, built once per process."""
    import torch

    s = load_split(_DATASET)
    out: dict[str, torch.Tensor] = {}
    for part in ("train", "val", "test"):
        out[f"X_{part}"] = torch.tensor(np.asarray(getattr(s, f"X_{part}")), dtype=torch.float32)
        out[f"y_{part}"] = torch.tensor(np.asarray(getattr(s, f"y_{part}")), dtype=torch.int64)
    return out


class _TorchTask(Task):
    """Shared epoch loop, checkpointing and scoring; subclasses build the model."""

    batch_size_default = 64

    def _build(self, config: Mapping[str, Any], gen: torch.Generator) -> torch.nn.Module:
        raise NotImplementedError

    def _inputs(self, X: torch.Tensor) -> torch.Tensor:
        return X

    def _extra_metrics(self, model: torch.nn.Module, config: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def prepare(self) -> None:
        """Import torch and build the data tensors (once per process, before any clock)."""
        _tensors()

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        import torch

        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        epochs = int(budget)  # type: ignore[arg-type]
        data = _tensors()
        with torch_settings():
            gen = torch_generator(seed)
            model = self._build(config, gen)
            optimiser = torch.optim.AdamW(
                model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
            )
            done = 0
            if checkpoint is not None:
                done, state = load_checkpoint(self.name, "epochs", checkpoint, config, seed, epochs)
                model.load_state_dict(state["model"])
                optimiser.load_state_dict(state["optimiser"])
                gen.set_state(state["generator"])
            X_train = self._inputs(data["X_train"])
            batch_size = int(config.get("batch_size", self.batch_size_default))
            start = time.perf_counter()
            model.train()
            for _ in range(done, epochs):
                _train_epoch(model, optimiser, gen, X_train, data["y_train"], batch_size)
            seconds = time.perf_counter() - start
            model.eval()
            with torch.no_grad():
                val = model(self._inputs(data["X_val"])).double().numpy()
                test = model(self._inputs(data["X_test"])).double().numpy()
            check_finite(self.name, config, val, test)
            metrics: dict[str, Any] = {
                "val_accuracy": accuracy(val, data["y_val"].numpy()),
                "test_loss": cross_entropy_from_logits(test, data["y_test"].numpy()),
                "test_accuracy": accuracy(test, data["y_test"].numpy()),
                "train_seconds": seconds,
            }
            metrics.update(self._extra_metrics(model, config))
            payload = {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "generator": gen.get_state(),
            }
            saved = save_checkpoint(config, seed, epochs, payload)
        objective = cross_entropy_from_logits(val, data["y_val"].numpy())
        return Evaluation(objective=objective, metrics=metrics, checkpoint=saved)


def _train_epoch(
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    gen: torch.Generator,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
) -> None:
    import torch
    import torch.nn.functional as F

    order = torch.randperm(len(y), generator=gen)
    for begin in range(0, len(y), batch_size):
        rows = order[begin : begin + batch_size]
        optimiser.zero_grad(set_to_none=True)
        F.cross_entropy(model(X[rows]), y[rows]).backward()
        optimiser.step()


# MLP ---------------------------------------------------------------------------------


def _mlp_module(config: Mapping[str, Any], gen: torch.Generator) -> torch.nn.Module:
    import torch
    from torch import nn

    class MLP(nn.Module):
        """``depth`` hidden layers of ``width`` units; dropout draws from ``gen``."""

        def __init__(self) -> None:
            super().__init__()
            sizes = [_SIDE * _SIDE] + [int(config["width"])] * int(config["depth"])
            self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.out = nn.Linear(sizes[-1], _N_CLASSES)
            self.activation = str(config["activation"])
            self.dropout = float(config["dropout"])

        def act(self, z: torch.Tensor) -> torch.Tensor:
            if self.activation == "relu":
                return torch.relu(z)
            if self.activation == "leaky_relu":
                return nn.functional.leaky_relu(z, 0.01)
            return torch.tanh(z)

        def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
            """Pre-activation of every hidden layer, each ``(n, u)``, without dropout."""
            out = []
            for layer in self.hidden:
                z = layer(x)
                out.append(z)
                x = self.act(z)
            return out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.hidden:
                x = self.act(layer(x))
                if self.training and self.dropout > 0:
                    # Inverted dropout with our generator: nn.Dropout would read the global RNG.
                    keep = torch.rand(x.shape, generator=gen) >= self.dropout
                    x = x * keep / (1.0 - self.dropout)
            return self.out(x)

    model = MLP()
    gain_name = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh"}[model.activation]
    with torch.no_grad():
        for layer in [*model.hidden, model.out]:
            nn.init.zeros_(layer.bias)
            w = layer.weight
            init = config["init"]
            if init == "zeros":
                nn.init.zeros_(w)
            elif init == "normal":
                nn.init.normal_(w, 0.0, 0.01, generator=gen)
            elif init == "xavier":
                nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain(gain_name, 0.01), generator=gen)
            else:
                nn.init.kaiming_normal_(w, a=0.01, nonlinearity=gain_name, generator=gen)
    return model


class MLPTask(_TorchTask):
    """Multilayer perceptron on the 64 standardised digit pixels.

    Space: depth 1..4, width 16..256 (log), lr 1e-4..1e-1 (log), weight decay 1e-6..1
    (log, decoupled), dropout 0..0.5, batch size 32..256 (log), activation
    {relu, leaky_relu, tanh}, initialisation {zeros, normal (std 0.01), xavier (Glorot &
    Bengio 2010), kaiming (He et al. 2015)}. Fidelity: epochs 1..27.

    Metrics ``n_params`` (weights and biases) and ``dead_relu_share``: share of hidden
    units whose pre-activation is never positive on the validation set (for relu such a
    unit outputs zero for every input and gets no gradient; reported for every activation
    with the same definition). Large learning rates kill relu units; zero initialisation
    leaves them all dead and symmetric.
    """

    def __init__(self) -> None:
        self.name = "mlp-digits"
        self.space = SearchSpace(
            {
                "depth": Int(1, 4),
                "width": Int(16, 256, log=True),
                "lr": Float(1e-4, 1e-1, log=True),
                "weight_decay": Float(1e-6, 1.0, log=True),
                "dropout": Float(0.0, 0.5),
                "batch_size": Int(32, 256, log=True),
                "activation": Categorical(["relu", "leaky_relu", "tanh"]),
                "init": Categorical(["zeros", "normal", "xavier", "kaiming"]),
            }
        )
        self.fidelity = Fidelity("epochs", 1, 27)
        self.version = "1"
        self.seconds_per_eval = 2.5  # worst CPU seconds of 50 random configs, one core
        # c0: t0 / t1 of t = t0 + t1 * epochs fitted (relative residuals) to the mean CPU seconds
        # of 10 random configs at 1, 3, 9, 27 epochs (`hpbench calibrate mlp-digits --configs 10`,
        # 2026-12-02: 0.32, 0.32, 0.26 in three runs, R^2 >= 0.997): building the model and scoring
        # the validation and test sets cost about a third of an epoch.
        self.overhead = 0.32
        self.description = "PyTorch MLP on 8x8 digits, 8 hyperparameters, fidelity epochs 1..27"

    def cost_factor(self, config: Mapping[str, Any]) -> float:
        """CPU seconds of a full evaluation of ``config`` against the average configuration.

        Fitted on the shipped recording (1,000 Sobol configurations, 1 to 27 epochs, CPU
        seconds on one core, 2026-12-03): log seconds = a - 0.7215 log(batch size) + 0.2840
        depth + 0.3021 log(width), holdout R^2 0.80 (residual sd 0.29 in log), the intercept
        set so the factor averages 1 over the prior (20,000 draws). A full evaluation takes
        0.37 to 2.0 s from the 10th to the 90th percentile of configurations; the factor
        ranges 0.39 to 1.85 there, so the cost of a trial follows what it trains.
        """
        return math.exp(
            1.10962
            - 0.72148 * math.log(config["batch_size"])
            + 0.28401 * config["depth"]
            + 0.30211 * math.log(config["width"])
        )

    def _build(self, config: Mapping[str, Any], gen: torch.Generator) -> torch.nn.Module:
        return _mlp_module(config, gen)

    def _extra_metrics(self, model: torch.nn.Module, config: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        with torch.no_grad():
            pre = model.preactivations(_tensors()["X_val"])  # type: ignore[operator]
        dead = sum(int((z <= 0).all(dim=0).sum()) for z in pre)
        total = sum(z.shape[1] for z in pre)
        n_params = sum(int(p.numel()) for p in model.parameters())
        return {"dead_relu_share": dead / total, "n_params": n_params}


# CNN ---------------------------------------------------------------------------------


def conv_macs(config: Mapping[str, Any]) -> int:
    """Multiply-adds of one forward pass of the CNN for one image (biases not counted).

    Layers: stem k x k conv 1 -> c at 8x8, 2x2 max-pool, then at 4x4 a k x k conv c -> c
    (standard) or a depthwise k x k plus pointwise 1x1 (Howard et al., "MobileNets", 2017),
    an optional 1x1 bottleneck c -> b, and a linear layer 16 * (b or c) -> 10.
    """
    c, k, b = int(config["channels"]), int(config["kernel_size"]), int(config["bottleneck"])
    full, half = _SIDE * _SIDE, (_SIDE // 2) ** 2
    macs = full * c * k * k
    if config["conv_type"] == "standard":
        macs += half * c * c * k * k
    else:
        macs += half * c * k * k + half * c * c
    if b:
        macs += half * c * b
    return macs + half * (b or c) * _N_CLASSES


def _cnn_module(config: Mapping[str, Any], gen: torch.Generator) -> torch.nn.Module:
    import torch
    from torch import nn

    c, k, b = int(config["channels"]), int(config["kernel_size"]), int(config["bottleneck"])
    if config["conv_type"] == "standard":
        block: list[nn.Module] = [nn.Conv2d(c, c, k, padding=k // 2)]
    else:
        block = [nn.Conv2d(c, c, k, padding=k // 2, groups=c), nn.Conv2d(c, c, 1)]
    layers: list[nn.Module] = [nn.Conv2d(1, c, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(2)]
    layers += [*block, nn.ReLU()]
    if b:
        layers += [nn.Conv2d(c, b, 1), nn.ReLU()]
    layers += [nn.Flatten(), nn.Linear((_SIDE // 2) ** 2 * (b or c), _N_CLASSES)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=gen)
                nn.init.zeros_(m.bias)
    return model


class CNNTask(_TorchTask):
    """Small CNN on the digits as 1x8x8 images (see ``conv_macs`` for the layers).

    Space: conv type {standard, depthwise_separable}, channels 4..32 (log), 1x1 bottleneck
    width {0 (none), 4, 8, 16}, kernel size {3, 5}, lr 1e-4..1e-1 (log), weight decay
    1e-6..1 (log, decoupled); batch size 64. Fidelity: epochs 1..27. Metrics ``n_params``
    and ``macs`` (multiply-adds per image) let reports plot accuracy against model size.
    """

    def __init__(self) -> None:
        self.name = "cnn-digits"
        self.space = SearchSpace(
            {
                "conv_type": Categorical(["standard", "depthwise_separable"]),
                "channels": Int(4, 32, log=True),
                "bottleneck": Categorical([0, 4, 8, 16]),
                "kernel_size": Categorical([3, 5]),
                "lr": Float(1e-4, 1e-1, log=True),
                "weight_decay": Float(1e-6, 1.0, log=True),
            }
        )
        self.fidelity = Fidelity("epochs", 1, 27)
        self.version = "1"
        self.seconds_per_eval = 3.0  # worst CPU seconds of 50 random configs, one core
        # c0 as for mlp-digits (`hpbench calibrate cnn-digits --configs 10`: 0.42, 0.34, 0.41 in
        # three runs, R^2 >= 0.99): the fixed cost is about 0.4 of an epoch of convolutions.
        self.overhead = 0.41
        self.description = (
            "PyTorch CNN on 8x8 digit images, conv type/width/bottleneck, fidelity epochs 1..27"
        )

    def _build(self, config: Mapping[str, Any], gen: torch.Generator) -> torch.nn.Module:
        return _cnn_module(config, gen)

    def _inputs(self, X: torch.Tensor) -> torch.Tensor:
        return X.reshape(-1, 1, _SIDE, _SIDE)

    def _extra_metrics(self, model: torch.nn.Module, config: Mapping[str, Any]) -> dict[str, Any]:
        n_params = sum(int(p.numel()) for p in model.parameters())
        return {"n_params": n_params, "macs": conv_macs(config)}
