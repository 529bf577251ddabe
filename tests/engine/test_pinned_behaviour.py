"""Pinned behaviour: fixed-seed losses and sample indices, recorded from the code before the
architecture refactor of issue 12 (stateless objectives, the core path object, one SampleConfig).

A refactor that changes no behaviour leaves every value here unchanged. Two levels:

* every objective (the built-ins with non-default options, and the example plugin's) on a tiny
  FiLM backbone: three seeded training losses with an SGD step between them, and the code indices
  every compatible sampler draws with guidance and temperature;
* a whole tiny DeepSpeed run of each built-in objective (``trained_runs``): the losses it logged,
  and the indices ``generate`` draws from its EMA weights.

Losses are compared to a relative 1e-6 (float32 reductions may be ordered differently on another
machine's thread count); indices exactly. A change that alters these numbers on purpose must say so
in its commit and re-record them (print the new values with ``recorded_values`` below).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from flowbench.build import build_sampler, create
from flowbench.testing.backbone import make_tiny_backbone
from flowbench.testing.data import tiny_batch, tiny_codebook

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "flowbench-x0-rectified" / "src" / "flowbench_x0_rectified" / "objective.py"

#: label -> (registry name, or "example" for the example plugin's objective; options).
OBJECTIVES: dict[str, tuple[str, dict[str, Any]]] = {
    "vfm": ("vfm", {}),
    "vfm-argmax": ("vfm", {"final": "argmax"}),
    "vfm-logit-normal": ("vfm", {"time_sampling": "logit-normal", "logit_normal_mean": 0.3}),
    "cfm": ("cfm", {}),
    "cfm-endpoint": ("cfm-endpoint", {}),
    "dfm": ("dfm", {}),
    "dfm-poly-masked": ("dfm", {"kappa": "poly", "power": 2.0, "loss_positions": "masked"}),
    "x0-rectified": ("example", {}),
    "x0-rectified-endpoint": ("example", {"weighting": "endpoint", "time_sampling": "uniform"}),
}
SAMPLERS = {"continuous": ("euler", "heun", "midpoint"), "masked": ("dfm-euler",)}
RUNS = ("vfm", "cfm", "cfm-endpoint", "dfm")
K, D, GRID, CLASSES = 8, 4, (3, 3), 3


def _example_objective_class() -> type:
    """The example package's objective, imported from its source (no install needed)."""
    name = "_pinned_x0_rectified_objective"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].X0Rectified


def objective_values(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Three seeded training losses (an SGD step between them) and, for every compatible sampler,
    the indices of 4 samples (3 steps, guidance 1.5, temperature 0.8, seed 4)."""
    codebook = tiny_codebook(K, D)
    if name == "example":
        objective = _example_objective_class()(codebook, **options)
    else:
        objective = create("objective", name, codebook, **options)
    model = make_tiny_backbone(objective.backbone_spec(GRID, CLASSES), seed=1, width=16, depth=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    indices, labels = tiny_batch(4, GRID, K, CLASSES, seed=2)
    gen = torch.Generator().manual_seed(3)
    losses = []
    for _ in range(3):
        out = objective.loss(model, indices, labels, generator=gen)
        losses.append(float(out.loss.detach()))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()
    samples = {}
    for sampler_name in SAMPLERS[objective.state_kind]:
        res = build_sampler(sampler_name, objective).sample(
            model,
            objective,
            torch.tensor([0, 1, 2, 3]),
            3,
            grid_shape=GRID,
            guidance=1.5,
            temperature=0.8,
            generator=torch.Generator().manual_seed(4),
        )
        samples[sampler_name] = res.indices.flatten().tolist()
    return {"losses": losses, "samples": samples}


def run_values(run_dir: Path) -> dict[str, Any]:
    """A trained run's logged losses, and the indices of 6 samples ``generate`` draws from its EMA
    weights (3 steps, guidance 1.5, temperature 0.9, seed 5, batches of 4)."""
    from flowbench.config import SampleConfig
    from flowbench.engine import generate, load_run
    from flowbench.io import read_jsonl

    run = load_run(run_dir)
    gen = generate(run, 6, SampleConfig(steps=3, guidance=1.5, temperature=0.9), seed=5, batch_size=4)
    return {
        "losses": [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl")],
        "samples": gen.indices.flatten().tolist(),
    }


def recorded_values(trained_runs=None) -> dict[str, Any]:
    """Everything pinned below, measured now (to re-record after a deliberate change)."""
    values: dict[str, Any] = {label: objective_values(*OBJECTIVES[label]) for label in OBJECTIVES}
    if trained_runs is not None:
        values.update({f"run:{o}": run_values(trained_runs(o)[1]) for o in RUNS})
    return values


def _check(label: str, got: dict[str, Any]) -> None:
    want = PINNED[label]
    assert got["losses"] == pytest.approx(want["losses"], rel=1e-6, abs=0), f"{label}: losses changed"
    assert got["samples"] == want["samples"], f"{label}: sampled indices changed"


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("label", list(OBJECTIVES))
def test_objective_losses_and_samples_are_pinned(label, one_thread):
    _check(label, objective_values(*OBJECTIVES[label]))


@pytest.mark.parametrize("objective", RUNS)
def test_training_run_losses_and_samples_are_pinned(trained_runs, objective):
    _check(f"run:{objective}", run_values(trained_runs(objective)[1]))


# fmt: off
#: Recorded from main at f2d9e63 (before the refactor) with ``recorded_values(trained_runs)``.
PINNED: dict[str, Any] = {'vfm': {'losses': [2.081005573272705, 2.0871903896331787, 2.0898687839508057],
         'samples': {'euler': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 6, 2, 2, 2, 6, 2, 2,
                               2, 6, 6, 6, 6, 6, 6, 6],
                     'heun': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 6, 2, 2, 6, 6, 2, 2, 2,
                              6, 6, 6, 6, 6, 6, 6],
                     'midpoint': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 6, 2, 2, 6, 6, 2,
                                  6, 6, 6, 6, 6, 6, 6, 6, 6]}},
 'vfm-argmax': {'losses': [2.081005573272705, 2.0871903896331787, 2.0898687839508057],
                'samples': {'euler': [3, 4, 4, 3, 5, 4, 4, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                                      4, 4, 4, 4, 4, 4, 4, 4, 4, 3],
                            'heun': [3, 4, 4, 3, 5, 4, 4, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                                     4, 4, 4, 4, 4, 4, 4, 4, 4, 3],
                            'midpoint': [3, 4, 4, 3, 5, 4, 4, 4, 4, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                                         4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3]}},
 'vfm-logit-normal': {'losses': [2.093379020690918, 2.094040632247925, 2.080925703048706],
                      'samples': {'euler': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 6, 2, 2,
                                            6, 6, 2, 2, 2, 6, 2, 6, 6, 6, 6, 6],
                                  'heun': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 6, 2, 2,
                                           6, 6, 2, 2, 2, 6, 2, 6, 6, 6, 6, 6],
                                  'midpoint': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 6, 2,
                                               2, 6, 6, 2, 6, 6, 6, 2, 6, 6, 6, 6, 6]}},
 'cfm': {'losses': [1.9609239101409912, 2.247237205505371, 1.5453827381134033],
         'samples': {'euler': [0, 6, 3, 6, 3, 2, 4, 3, 0, 0, 2, 3, 6, 3, 0, 3, 7, 6, 7, 6, 1, 6, 1, 3, 6, 6, 3, 6,
                               6, 3, 6, 3, 6, 0, 0, 3],
                     'heun': [0, 6, 3, 6, 3, 2, 4, 3, 0, 0, 2, 3, 6, 3, 0, 3, 7, 6, 7, 6, 1, 6, 1, 3, 6, 6, 3, 6, 6,
                              3, 6, 3, 6, 0, 0, 3],
                     'midpoint': [0, 6, 3, 6, 3, 2, 4, 3, 0, 0, 2, 3, 6, 3, 0, 3, 7, 6, 7, 6, 1, 6, 1, 3, 6, 6, 3,
                                  6, 6, 3, 6, 3, 6, 0, 0, 3]}},
 'cfm-endpoint': {'losses': [1.0573554039001465, 1.0223053693771362, 0.9861748218536377],
                  'samples': {'euler': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
                                        6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
                              'heun': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
                                       6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
                              'midpoint': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
                                           6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]}},
 'dfm': {'losses': [2.0877981185913086, 2.096388101577759, 2.104471206665039],
         'samples': {'dfm-euler': [6, 3, 2, 1, 0, 3, 3, 3, 1, 2, 3, 3, 2, 2, 4, 3, 0, 7, 1, 1, 1, 3, 3, 4, 7, 0, 3,
                                   7, 4, 7, 3, 0, 6, 0, 2, 0]}},
 # re-recorded on purpose (issue 10): dfm-euler reveals masked positions with the exact increment
 # (kappa(t+h) - kappa(t)) / (1 - kappa(t)), which differs from the old Euler rate for kappa = t^2
 'dfm-poly-masked': {'losses': [2.0798704624176025, 2.0575504302978516, 2.074742317199707],
                     'samples': {'dfm-euler': [7, 1, 2, 6, 1, 0, 7, 3, 7, 2, 1, 2, 3, 3, 1, 6, 1, 3, 7, 6, 1, 4, 2,
                                               1, 3, 4, 3, 2, 2, 0, 2, 3, 0, 4, 0, 2]}},
 'x0-rectified': {'losses': [5.531732082366943, 3.234222650527954, 2.2957844734191895],
                  'samples': {'euler': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 6, 6, 2, 2, 6,
                                        6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
                              'heun': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 2, 6, 6, 2, 2, 6, 6,
                                       6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
                              'midpoint': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3, 6, 6, 3, 6, 6, 2, 6, 2, 2, 2,
                                           6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]}},
 'x0-rectified-endpoint': {'losses': [1.057355523109436, 1.0223054885864258, 0.9861747622489929],
                           'samples': {'euler': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3, 6, 6, 6, 6, 6, 6, 6,
                                                 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
                                       'heun': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 3, 6, 6, 6, 6, 6, 6, 6, 6,
                                                6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
                                       'midpoint': [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
                                                    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]}},
 'run:vfm': {'losses': [6.212729454040527, 6.1599955558776855, 6.113595962524414],
             'samples': [317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                         317, 317, 317, 317, 317, 317]},
 'run:cfm': {'losses': [1.2269343137741089, 1.1972585916519165, 1.1946948766708374],
             'samples': [301, 396, 223, 104, 258, 299, 390, 300, 410, 467, 139, 153, 365, 242, 116, 345, 167, 248,
                         360, 107, 210, 271, 388, 117, 185, 156, 370, 147, 119, 135, 317, 403, 192, 395, 13, 126,
                         81, 53, 408, 118, 454, 410, 424, 444, 364, 157, 257, 42, 309, 446, 76, 265, 366, 151, 425,
                         328, 288, 288, 402, 150, 141, 5, 44, 64, 50, 100, 79, 249, 141, 186, 129, 166, 5, 299, 497,
                         424, 374, 64, 70, 403, 302, 165, 507, 486, 371, 410, 75, 139, 113, 185, 301, 246, 358, 429,
                         130, 177, 222, 144, 432, 302, 95, 341, 175, 232, 288, 206, 210, 485, 210, 161, 398, 106,
                         212, 236, 263, 104, 95, 510, 164, 42, 440, 105, 93, 322, 5, 202, 126, 456, 504, 223, 497,
                         244, 250, 318, 70, 183, 288, 7, 479, 410, 297, 164, 143, 416, 279, 404, 179, 64, 211, 69,
                         360, 193, 91, 107, 405, 465, 82, 150, 44, 312, 270, 25, 324, 180, 456, 83, 205, 499, 7,
                         334, 274, 232, 301, 295, 5, 325, 186, 248, 248, 297, 334, 283, 436, 356, 241, 500, 162,
                         358, 143, 454, 237, 195, 188, 325, 139, 372, 20, 22, 229, 106, 64, 81, 291, 287, 404, 262,
                         379, 319, 182, 408, 456, 406, 379, 67, 169, 96, 196, 340, 122, 320, 76, 503, 157, 37, 351,
                         148, 456, 366, 70, 314, 348, 395, 394, 141, 161, 249, 306, 21, 223, 219, 165, 439, 126,
                         204, 138, 482, 351, 118, 20, 66, 408, 358, 184, 485, 79, 349, 407, 110, 70, 164, 185, 141,
                         52, 18, 356, 398, 252, 150, 25, 383, 164, 427, 181, 426, 306, 60, 411, 70, 138, 499, 466,
                         488, 415, 295, 122, 417, 351, 186, 379, 50, 66, 437, 245, 457]},
 'run:cfm-endpoint': {'losses': [0.2003583312034607, 0.18138611316680908, 0.18547527492046356],
                      'samples': [317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317, 317,
                                  317, 317, 317, 317, 317, 317]},
 'run:dfm': {'losses': [6.2096405029296875, 6.15248966217041, 6.098867416381836],
             'samples': [410, 72, 444, 420, 0, 288, 329, 414, 237, 187, 504, 409, 389, 226, 387, 127, 140, 263, 88,
                         4, 317, 259, 172, 366, 401, 386, 281, 289, 279, 463, 370, 143, 130, 491, 72, 143, 14, 370,
                         44, 106, 314, 453, 488, 266, 285, 84, 218, 152, 390, 282, 472, 279, 146, 343, 191, 446, 80,
                         43, 142, 428, 299, 103, 161, 222, 191, 362, 368, 434, 149, 218, 290, 313, 96, 166, 423, 44,
                         482, 366, 169, 94, 41, 374, 83, 331, 105, 456, 411, 211, 27, 234, 489, 70, 356, 45, 46,
                         456, 95, 481, 377, 358, 165, 469, 420, 63, 290, 3, 340, 118, 332, 249, 365, 393, 152, 19,
                         437, 408, 339, 171, 212, 499, 307, 132, 294, 227, 225, 233, 349, 303, 36, 51, 484, 40, 440,
                         304, 130, 65, 253, 422, 228, 404, 174, 92, 221, 44, 218, 268, 224, 470, 56, 146, 65, 384,
                         89, 450, 254, 113, 277, 368, 33, 97, 441, 405, 182, 38, 237, 293, 189, 296, 148, 358, 244,
                         108, 259, 316, 219, 111, 31, 303, 78, 451, 293, 205, 75, 334, 472, 501, 494, 76, 161, 86,
                         340, 476, 256, 337, 409, 2, 287, 189, 414, 53, 460, 281, 176, 143, 444, 143, 472, 376, 255,
                         275, 155, 171, 303, 452, 150, 49, 32, 309, 500, 311, 345, 46, 2, 49, 469, 44, 361, 140,
                         267, 189, 393, 287, 348, 59, 472, 171, 419, 485, 437, 88, 357, 448, 246, 280, 445, 50, 228,
                         490, 239, 314, 353, 246, 287, 259, 16, 18, 407, 359, 186, 498, 45, 349, 255, 88, 193, 398,
                         385, 178, 159, 257, 256, 389, 314, 296, 242, 310, 257, 469, 405, 239, 485, 51, 115, 3, 315,
                         210, 452, 404, 96, 390, 229, 377, 405, 60]}}
# fmt: on
