"""untwine.train.checkpoint against known answers, with nothing trained: a two-layer model, an objective with
its own optimiser, one optimiser step each, committed and restored by hand.

What a commit writes (every file, every tensor, the manifest), what a restore gives back (the state, the lr of a
continued run, the moments' memory layout), every refusal word for word, the repairs (weights and log rewritten
from the committed generation, never from a state that failed its check) and the leftovers removed.
"""

import csv
import hashlib
import io
import json
import os
import warnings

import pytest
import torch
from safetensors.torch import load, save
from torch import nn

import untwine.train.checkpoint as checkpoint_module
from untwine.atomic import atomic_write
from untwine.run_files import manifest_json, read_manifest
from untwine.train.checkpoint import (
    checkpoint_is_finite,
    commit_checkpoint,
    parse_log,
    restore_checkpoint,
    weights_bytes,
)

LOG = "step,loss\n1,0.5\n2,0.25\n3,0.125\n"
CHECKPOINT = "checkpoint-000000003.safetensors"
LOG_COPY = "log-000000003.csv"


class Counting(torch.optim.SGD):
    """SGD whose state also holds a Python number and (``tensors``) a tensor, under keys with a dot: without
    momentum and ``tensors``, a parameter's state is the number alone."""

    def __init__(self, params, tensors=True, **kwargs):
        super().__init__(params, **kwargs)
        self.tensors = tensors

    def step(self, closure=None):
        super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state[p]
                    state["count.total"] = state.get("count.total", 0) + 1
                    if self.tensors:
                        state["sum.sq"] = state.get("sum.sq", torch.zeros_like(p)) + p.grad**2


class Objective(nn.Module):
    def __init__(self, names=("d", "d2", "s")):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0]))
        self.v = nn.Parameter(torch.tensor([0.5]))
        self.register_buffer("count", torch.tensor(3, dtype=torch.int64))
        params = {"d": [self.w], "d2": [self.v], "d3": [self.w]}
        self._optimizers = {
            name: Counting([self.v], tensors=False, lr=0.2)
            if name == "s"
            else Counting(params[name], lr=0.1, momentum=0.9)
            for name in names
        }

    def optimizers(self):
        return self._optimizers


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 2)
        self.lin = nn.Linear(2, 1)
        self.unused = nn.Parameter(torch.zeros(2))  # no gradient: no optimiser state
        self.register_buffer("seen", torch.tensor([5], dtype=torch.int64))

    def forward(self, x):
        return self.lin(self.conv(x).mean(dim=(2, 3)))


def build(seed):
    """(model, objective, optimizer), the model channels-last, the optimiser with two param groups."""
    torch.manual_seed(seed)
    model = Model().to(memory_format=torch.channels_last)
    objective = Objective()
    optimizer = torch.optim.Adam(
        [
            {"params": [model.conv.weight, model.conv.bias], "lr": 1e-3},
            {"params": [model.lin.weight, model.lin.bias, model.unused], "lr": 2e-3},
        ],
        fused=True,
    )
    return model, objective, optimizer


def step(model, objective, optimizer):
    """One optimiser step of each optimiser, on a fixed batch."""
    x = torch.arange(36, dtype=torch.float32).reshape(2, 2, 3, 3).contiguous(memory_format=torch.channels_last)
    loss = model(x).pow(2).sum() + (objective.w**2).sum() + (objective.v**3).sum()
    for opt in [optimizer, *objective.optimizers().values()]:
        opt.zero_grad()
    loss.backward()
    for opt in [optimizer, *objective.optimizers().values()]:
        opt.step()


def stepped(seed=0):
    model, objective, optimizer = build(seed)
    step(model, objective, optimizer)
    return model, objective, optimizer


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def header(data: bytes) -> dict:
    """The JSON header of safetensors bytes."""
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + size])


def listing(path):
    return sorted(p.name for p in path.iterdir())


@pytest.fixture
def committed(tmp_path):
    """A run directory with the generation of step 3 committed, and the (model, objective, optimizer) it holds."""
    run = tmp_path / "run"
    state = stepped()
    commit_checkpoint(run, 3, *state, LOG)
    return run, state


def same_state(a, b):
    """Two (model, objective, optimizer) hold the same tensors, numbers and param groups."""
    for x, y in zip(a[:2], b[:2]):
        sx, sy = x.state_dict(), y.state_dict()
        assert sx.keys() == sy.keys() and all(torch.equal(sx[k], sy[k]) for k in sx)
    optimizers = [(a[2], b[2])] + [(a[1].optimizers()[n], b[1].optimizers()[n]) for n in a[1].optimizers()]
    for x, y in optimizers:
        sx, sy = x.state_dict(), y.state_dict()
        assert json.dumps(sx["param_groups"]) == json.dumps(sy["param_groups"])  # betas: a tuple or a list
        assert sx["state"].keys() == sy["state"].keys()
        for index in sx["state"]:
            ex, ey = sx["state"][index], sy["state"][index]
            assert ex.keys() == ey.keys(), index
            for key in ex:
                if torch.is_tensor(ex[key]):
                    assert torch.is_tensor(ey[key]) and ex[key].shape == ey[key].shape, (index, key)
                    assert torch.equal(ex[key], ey[key]), (index, key)
                else:
                    assert ex[key] == ey[key] and type(ex[key]) is type(ey[key]), (index, key)


# -- commit ------------------------------------------------------------------------------------------------------


def test_a_commit_writes_the_known_files(committed):
    run, (model, objective, optimizer) = committed
    assert listing(run) == ["log.csv", "model.safetensors", "state"]
    assert listing(run / "state") == [CHECKPOINT, LOG_COPY, "state.json"]
    assert (run / "log.csv").read_bytes() == LOG.encode()
    assert (run / "state" / LOG_COPY).read_bytes() == LOG.encode()

    weights = (run / "model.safetensors").read_bytes()
    assert header(weights)["__metadata__"] == {"step": "3"}
    assert weights == weights_bytes(model, 3)
    saved = load(weights)
    assert sorted(saved) == ["conv.bias", "conv.weight", "lin.bias", "lin.weight", "seen", "unused"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())

    tensors = load((run / "state" / CHECKPOINT).read_bytes())
    moments = [f"optimizer.{i}.{k}" for i in range(4) for k in ("exp_avg", "exp_avg_sq", "step")]
    objective_moments = [f"objective_optimizer.{n}.0.{k}" for n in ("d", "d2") for k in ("momentum_buffer", "sum.sq")]
    assert sorted(tensors) == sorted(
        [f"model.{k}" for k in ("conv.bias", "conv.weight", "lin.bias", "lin.weight", "seen", "unused")]
        + ["objective.count", "objective.v", "objective.w"]
        + moments
        + objective_moments
    )
    assert torch.equal(tensors["model.conv.weight"], model.conv.weight)
    assert torch.equal(tensors["objective.w"], objective.w) and torch.equal(tensors["objective.count"], torch.tensor(3))
    adam = optimizer.state[model.lin.weight]
    assert torch.equal(tensors["optimizer.2.exp_avg"], adam["exp_avg"])
    assert torch.equal(tensors["optimizer.2.step"], torch.tensor(1.0))
    sgd = objective.optimizers()["d2"].state[objective.v]
    assert torch.equal(tensors["objective_optimizer.d2.0.momentum_buffer"], sgd["momentum_buffer"])
    assert torch.equal(tensors["objective_optimizer.d2.0.sum.sq"], sgd["sum.sq"])
    assert not any(t.requires_grad for t in tensors.values())


def test_a_commits_manifest_names_the_generation_and_its_checksums(committed):
    run, (model, objective, optimizer) = committed
    manifest = read_manifest(run)
    checkpoint = (run / "state" / CHECKPOINT).read_bytes()
    assert manifest.step == 3 and not manifest.legacy and manifest.precision == "fp32"
    assert manifest.checkpoint == f"state/{CHECKPOINT}" and manifest.log == f"state/{LOG_COPY}"
    assert manifest.files == {f"state/{CHECKPOINT}": digest(checkpoint), f"state/{LOG_COPY}": digest(LOG.encode())}
    assert manifest.weights_sha256 == digest((run / "model.safetensors").read_bytes())
    assert manifest.log_sha256 == digest(LOG.encode())
    groups = json.loads(json.dumps(optimizer.state_dict()["param_groups"]))
    assert [g["params"] for g in groups] == [[0, 1], [2, 3, 4]] and [g["lr"] for g in groups] == [1e-3, 2e-3]
    sgd = json.loads(json.dumps(objective.optimizers()["d"].state_dict()["param_groups"]))
    plain = json.loads(json.dumps(objective.optimizers()["s"].state_dict()["param_groups"]))
    assert [g["momentum"] for g in sgd + plain] == [0.9, 0]
    assert manifest.optimizers == {
        "optimizer": {"param_groups": groups, "scalars": {}},
        "objective_optimizer.d": {"param_groups": sgd, "scalars": {"0.count.total": 1}},
        "objective_optimizer.d2": {"param_groups": sgd, "scalars": {"0.count.total": 1}},
        "objective_optimizer.s": {"param_groups": plain, "scalars": {"0.count.total": 1}},
    }
    text = (run / "state" / "state.json").read_text()
    assert text.startswith('{\n "format": 2,\n "step": 3,\n')


def test_a_commit_records_its_precision(tmp_path):
    commit_checkpoint(tmp_path, 1, *stepped(), "step\n1\n", precision="bf16")
    assert read_manifest(tmp_path).precision == "bf16"


def test_a_commit_removes_older_generations_and_killed_writes_only(committed):
    run, state = committed
    extra = {
        CHECKPOINT.replace("3", "1"): b"old",  # an older generation
        "log-000000001.csv": b"old",
        "log-000000009.csv": b"newer, uncommitted",
        ".state.json.x1.tmp": b"killed",  # a temporary file of a killed write
        f".{CHECKPOINT}.y2.tmp": b"killed",
        "notes.txt": b"kept",  # not a file of untwine's
        ".hidden": b"kept",
        "x.tmp": b"kept",
        ".tmp-not": b"kept",
        "mycheckpoint-1": b"kept",
    }
    for name, content in extra.items():
        (run / "state" / name).write_bytes(content)
    (run / "state" / "checkpoint-dir").mkdir()  # cannot be unlinked: left, without an error
    (run / ".model.safetensors.z.tmp").write_bytes(b"outside state/: not touched")
    commit_checkpoint(run, 5, *stepped(), LOG + "4,0.1\n5,0.1\n")
    assert listing(run / "state") == sorted(
        [
            "checkpoint-000000005.safetensors",
            "log-000000005.csv",
            "state.json",
            "notes.txt",
            ".hidden",
            "x.tmp",
            ".tmp-not",
            "mycheckpoint-1",
            "checkpoint-dir",
        ]
    )
    assert listing(run) == [".model.safetensors.z.tmp", "log.csv", "model.safetensors", "state"]
    assert read_manifest(run).step == 5


def test_weights_bytes_are_the_model_and_its_step():
    model = stepped()[0]
    data = weights_bytes(model, 7)
    assert data == weights_bytes(model, 7)
    assert header(data)["__metadata__"] == {"step": "7"}
    tensors = load(data)
    assert tensors.keys() == model.state_dict().keys()
    assert all(torch.equal(tensors[k], v) for k, v in model.state_dict().items())
    assert header(weights_bytes(model, 12))["__metadata__"] == {"step": "12"}


def test_checkpoint_is_finite_looks_at_weights_and_moments():
    state = stepped()
    assert checkpoint_is_finite(*state)
    model, objective, optimizer = state
    with torch.no_grad():
        model.lin.bias[0] = float("nan")
    assert not checkpoint_is_finite(model, objective, optimizer)

    model, objective, optimizer = stepped()
    objective.optimizers()["d2"].state[objective.v]["momentum_buffer"][0] = float("inf")
    assert not checkpoint_is_finite(model, objective, optimizer)

    model, objective, optimizer = stepped()
    optimizer.state[model.conv.weight]["exp_avg_sq"][0, 0, 0, 0] = float("-inf")
    assert not checkpoint_is_finite(model, objective, optimizer)

    model, objective, optimizer = stepped()
    with torch.no_grad():
        objective.w[1] = float("nan")
    assert not checkpoint_is_finite(model, objective, optimizer)


# -- restore -----------------------------------------------------------------------------------------------------


def test_a_restore_gives_back_the_committed_state(committed):
    run, state = committed
    other = build(1)
    assert not torch.equal(other[0].lin.weight, state[0].lin.weight)
    assert restore_checkpoint(run, *other) == (3, LOG)
    same_state(other, state)
    # the moments keep their parameter's memory layout (the fused kernel's bits depend on it)
    moment = other[2].state[other[0].conv.weight]["exp_avg"]
    assert moment.is_contiguous(memory_format=torch.channels_last) and not moment.is_contiguous()
    assert other[2].state[other[0].conv.weight]["step"].shape == ()
    assert other[0].unused not in other[2].state
    assert other[1].optimizers()["s"].state[other[1].v] == {"count.total": 1}  # a state of a number alone
    # and the next step is the same
    step(*state)
    step(*other)
    same_state(other, state)


def test_a_restore_sets_the_lr_of_a_continued_run(committed):
    run, state = committed
    other = build(1)
    assert restore_checkpoint(run, *other, lr=0.5) == (3, LOG)
    assert [g["lr"] for g in other[2].param_groups] == [0.5, 0.5]
    assert [o.param_groups[0]["lr"] for o in other[1].optimizers().values()] == [0.1, 0.1, 0.2]
    other = build(1)
    restore_checkpoint(run, *other, lr=None)
    assert [g["lr"] for g in other[2].param_groups] == [1e-3, 2e-3]


def test_a_run_without_a_manifest_starts_at_step_0_and_its_leftovers_go(tmp_path):
    model, objective, optimizer = build(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert restore_checkpoint(tmp_path / "new", model, objective, optimizer) == (0, None)
    assert not (tmp_path / "new").exists()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    state = tmp_path / "run" / "state"
    state.mkdir(parents=True)
    for name in (CHECKPOINT, LOG_COPY, ".state.json.a.tmp", "notes.txt", "x.tmp", ".hidden"):
        (state / name).write_bytes(b"x")
    assert restore_checkpoint(tmp_path / "run", model, objective, optimizer) == (0, None)
    assert listing(state) == [".hidden", "notes.txt", "x.tmp"]


def test_a_restore_removes_what_the_manifest_does_not_name(committed):
    run, state = committed
    for name in ("checkpoint-000000005.safetensors", "log-000000001.csv", ".state.json.a.tmp", "notes.txt", "x.tmp"):
        (run / "state" / name).write_bytes(b"x")
    restore_checkpoint(run, *build(1))
    assert listing(run / "state") == [CHECKPOINT, LOG_COPY, "notes.txt", "state.json", "x.tmp"]


def test_a_restore_repairs_the_weights_and_the_log_from_the_generation(committed):
    run, state = committed
    weights = (run / "model.safetensors").read_bytes()
    inode = (run / "model.safetensors").stat().st_ino, (run / "log.csv").stat().st_ino
    restore_checkpoint(run, *build(1))  # in step: nothing is rewritten
    assert ((run / "model.safetensors").stat().st_ino, (run / "log.csv").stat().st_ino) == inode

    (run / "model.safetensors").write_bytes(weights[:-1] + b"\x00")
    (run / "log.csv").write_text(LOG + "4,0.1\n")  # a kill between the log and the manifest
    assert restore_checkpoint(run, *build(1)) == (3, LOG)
    assert (run / "model.safetensors").read_bytes() == weights
    assert (run / "log.csv").read_bytes() == LOG.encode()

    (run / "model.safetensors").unlink()
    (run / "log.csv").unlink()
    assert restore_checkpoint(run, *build(1)) == (3, LOG)
    assert (run / "model.safetensors").read_bytes() == weights
    assert (run / "log.csv").read_bytes() == LOG.encode()
    assert listing(run) == ["log.csv", "model.safetensors", "state"]


def rewrite_manifest(run, **changes):
    """The manifest of ``run`` written again with some values changed (its own checksum correct)."""
    m = read_manifest(run)
    values = dict(
        step=m.step,
        checkpoint=m.checkpoint,
        log=m.log,
        files=m.files,
        weights_sha256=m.weights_sha256,
        log_sha256=m.log_sha256,
        optimizers=m.optimizers,
        precision=m.precision,
    )
    values.update(changes)
    atomic_write(run / "state" / "state.json", manifest_json(**values))


def test_weights_and_a_log_that_the_manifest_does_not_describe_are_left_as_they_are(committed):
    """When what the checkpoint gives is not what the manifest recorded for model.safetensors and log.csv, they are
    not rewritten (nor written when missing)."""
    run, state = committed
    rewrite_manifest(run, weights_sha256="e" * 64, log_sha256="f" * 64)
    (run / "model.safetensors").write_bytes(b"someone's weights")
    (run / "log.csv").write_bytes(b"someone's log")
    assert restore_checkpoint(run, *build(1)) == (3, LOG)
    assert (run / "model.safetensors").read_bytes() == b"someone's weights"
    assert (run / "log.csv").read_bytes() == b"someone's log"
    (run / "model.safetensors").unlink()
    (run / "log.csv").unlink()
    assert restore_checkpoint(run, *build(1)) == (3, LOG)
    assert listing(run) == ["state"]


def test_a_corrupt_checkpoint_is_named_and_nothing_is_overwritten(committed):
    run, state = committed
    path = run / "state" / CHECKPOINT
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # tensor bytes behind an intact header
    path.write_bytes(bytes(data))
    (run / "model.safetensors").write_bytes(b"damaged too")
    (run / "state" / "log-000000001.csv").write_bytes(b"leftover")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(ValueError) as error:
        restore_checkpoint(run, *build(1))
    assert str(error.value) == (
        f"{path} is corrupt: its SHA-256 differs from the one recorded when it was written (in "
        f"{run / 'state' / 'state.json'}). Nothing was overwritten: {run / 'model.safetensors'} still holds the "
        f"weights it held. To train the run again from step 0, remove {run / 'state'} (or use another --out)"
    )
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_a_missing_checkpoint_is_named(committed):
    run, state = committed
    path = run / "state" / CHECKPOINT
    path.unlink()
    with pytest.raises(ValueError) as error:
        restore_checkpoint(run, *build(1))
    assert str(error.value) == (
        f"{path} is missing although {run / 'state' / 'state.json'} names it: the checkpoint of step 3 is "
        f"incomplete. Remove {run / 'state'} to train the run again from step 0, or use another --out"
    )
    path.mkdir()  # not a file
    with pytest.raises(ValueError, match="is missing although"):
        restore_checkpoint(run, *build(1))


def test_a_checkpoint_that_does_not_parse_is_named(committed):
    run, state = committed
    garbage = b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":1}'
    (run / "state" / CHECKPOINT).write_bytes(garbage)
    m = read_manifest(run)
    rewrite_manifest(run, files={**m.files, m.checkpoint: digest(garbage)})
    with pytest.raises(ValueError) as error:
        restore_checkpoint(run, *build(1))
    assert str(error.value) == (
        f"{run / 'state' / CHECKPOINT} cannot be read (Error while deserializing: invalid header length); remove "
        f"{run / 'state'} to train the run again from step 0, or use another --out"
    )


def refused(run, why):
    return (
        f"{run / 'state' / CHECKPOINT} does not hold this run's state ({why}); remove {run / 'state'} to train "
        f"the run again from step 0, or use another --out"
    )


def test_a_checkpoint_of_another_run_is_refused(committed):
    run, state = committed
    model, objective, optimizer = build(1)
    before = (run / "model.safetensors").read_bytes()
    # an objective with an optimiser the checkpoint does not hold
    other = Objective(names=("d", "d2", "s", "d3"))
    with pytest.raises(ValueError) as error:
        restore_checkpoint(run, model, other, optimizer)
    assert str(error.value) == refused(run, "'objective_optimizer.d3'")
    # a manifest without the model's optimiser
    m = read_manifest(run)
    rewrite_manifest(run, optimizers={k: v for k, v in m.optimizers.items() if k != "optimizer"})
    with pytest.raises(ValueError) as error:
        restore_checkpoint(run, *build(1))
    assert str(error.value) == refused(run, "'optimizer'")
    rewrite_manifest(run, optimizers=m.optimizers)
    # a model of another shape
    small = build(1)
    small[0].lin = nn.Linear(2, 2)
    with pytest.raises(ValueError) as error:
        restore_checkpoint(run, *small)
    assert str(error.value).startswith(f"{run / 'state' / CHECKPOINT} does not hold this run's state (")
    assert "size mismatch for lin.weight" in str(error.value)
    # an optimiser with param groups of other sizes
    model, objective, _ = build(1)
    one_group = torch.optim.Adam(model.parameters(), fused=True)
    with pytest.raises(ValueError) as error:
        restore_checkpoint(run, model, objective, one_group)
    assert str(error.value) == refused(run, "loaded state dict has a different number of parameter groups")
    assert (run / "model.safetensors").read_bytes() == before


def test_the_objective_optimisers_are_told_apart_by_their_whole_name(tmp_path):
    """Optimisers named d and d2: the moments of one are not taken for the other's."""
    model, objective, optimizer = stepped()
    objective.optimizers()["d"].state[objective.w]["momentum_buffer"].fill_(7.0)
    objective.optimizers()["d2"].state[objective.v]["momentum_buffer"].fill_(9.0)
    commit_checkpoint(tmp_path, 1, model, objective, optimizer, "step\n1\n")
    other = build(1)
    restore_checkpoint(tmp_path, *other)
    assert other[1].optimizers()["d"].state[other[1].w]["momentum_buffer"].tolist() == [7.0, 7.0]
    assert other[1].optimizers()["d2"].state[other[1].v]["momentum_buffer"].tolist() == [9.0]
    assert other[1].optimizers()["d2"].state[other[1].v]["count.total"] == 1


# -- the log -----------------------------------------------------------------------------------------------------


def caught_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [(w.category, str(w.message), w.filename) for w in caught]


def trampolined(module):
    """Whether ``module`` runs through mutmut's trampoline (bench/mutation.sh), which puts frames of its own between
    a caller and the function it called: a warning's stacklevel then names them."""
    return any(name.endswith("__mutmut_orig") for name in vars(module))


def test_a_missing_log_copy_keeps_the_rows_of_log_csv_that_parse(committed, monkeypatch):
    run, state = committed
    copy = run / "state" / LOG_COPY
    copy.unlink()
    (run / "log.csv").write_bytes(b"step,loss\n1,0.5\n2,x\n3,0.125\n\n4,0.1\n")
    result, said = caught_warnings(lambda: restore_checkpoint(run, *build(1)))
    assert result == (3, "step,loss\r\n1,0.5\r\n3,0.125\r\n")
    assert [(category, message) for category, message, _ in said] == [
        (RuntimeWarning, f"{copy} is missing or corrupt; the log keeps the rows of {run / 'log.csv'} that parse"),
        (RuntimeWarning, f"{run / 'log.csv'}: 1 line(s) did not parse and were dropped; the rest of the log is kept"),
    ]
    if not trampolined(checkpoint_module):
        assert [filename for _, _, filename in said] == [__file__, __file__]  # the caller of restore_checkpoint
    # what a restore asked of warnings.warn (restore_checkpoint's caller is two frames up from _restore_log)
    asked = []
    monkeypatch.setattr(checkpoint_module.warnings, "warn", lambda *args, **kwargs: asked.append((args, kwargs)))
    restore_checkpoint(run, *build(1))
    assert [(type(args[0]), args[1:], kwargs) for args, kwargs in asked] == [
        (str, (RuntimeWarning,), {"stacklevel": 3}),
        (str, (RuntimeWarning,), {"stacklevel": 3}),
    ]
    # what the rows give is not the committed log: log.csv is left as it was
    assert (run / "log.csv").read_bytes() == b"step,loss\n1,0.5\n2,x\n3,0.125\n\n4,0.1\n"


def test_a_corrupt_log_copy_and_a_log_csv_that_is_not_utf8(committed):
    run, state = committed
    copy = run / "state" / LOG_COPY
    copy.write_bytes(LOG.replace("0.5", "0.6").encode())
    (run / "log.csv").write_bytes(b"step,loss\n1,0.5\n2,\xff\n3,0.125\n")
    result, said = caught_warnings(lambda: restore_checkpoint(run, *build(1)))
    assert result == (3, "step,loss\r\n1,0.5\r\n3,0.125\r\n")
    assert [message for _, message, _ in said] == [
        f"{copy} is missing or corrupt; the log keeps the rows of {run / 'log.csv'} that parse",
        f"{run / 'log.csv'}: 1 line(s) did not parse and were dropped; the rest of the log is kept",
    ]


def test_a_log_copy_whose_rows_are_the_committed_log_rewrites_log_csv(committed):
    """The generation's copy missing, log.csv ahead of it: its rows up to the step, written as csv writes them,
    are the committed log when that was written by csv too."""
    run, state = committed
    text = "step,loss\r\n1,0.5\r\n2,0.25\r\n3,0.125\r\n"
    commit_checkpoint(run, 3, *state, text)
    (run / "state" / LOG_COPY).unlink()
    (run / "log.csv").write_text(text + "4,0.1\r\n", newline="")
    result, said = caught_warnings(lambda: restore_checkpoint(run, *build(1)))
    assert result == (3, text) and len(said) == 1
    assert (run / "log.csv").read_bytes() == text.encode()


def test_no_log_at_all_is_none(committed):
    run, state = committed
    (run / "state" / LOG_COPY).unlink()
    (run / "log.csv").unlink()
    result, said = caught_warnings(lambda: restore_checkpoint(run, *build(1)))
    assert result == (3, None) and len(said) == 1
    assert listing(run) == ["model.safetensors", "state"]
    (run / "log.csv").write_bytes(b"")
    result, said = caught_warnings(lambda: restore_checkpoint(run, *build(1)))
    assert result == (3, None) and len(said) == 1
    assert (run / "log.csv").read_bytes() == b""


# -- a legacy run (untwine <= 0.1) ------------------------------------------------------------------------------


def legacy(run, state, log=b"step,loss\n1,0.5\n2,0.25\n3,0.125\n4,0.1\n"):
    """The run of ``committed`` made a first-format one: state/checkpoint.safetensors and a manifest of the step
    and the optimisers, no checksums and no log copy."""
    optimizers = read_manifest(run).optimizers
    os.replace(run / "state" / CHECKPOINT, run / "state" / "checkpoint.safetensors")
    (run / "state" / LOG_COPY).unlink()
    (run / "state" / "state.json").write_text(json.dumps({"step": 3, "optimizers": optimizers}))
    (run / "log.csv").write_bytes(log)


def test_a_legacy_run_is_restored_from_its_checkpoint_and_log_csv(committed):
    run, state = committed
    weights = (run / "model.safetensors").read_bytes()
    legacy(run, state)
    (run / "model.safetensors").unlink()
    other = build(1)
    result, said = caught_warnings(lambda: restore_checkpoint(run, *other, lr=0.25))
    assert result == (3, "step,loss\r\n1,0.5\r\n2,0.25\r\n3,0.125\r\n") and said == []
    state[2].param_groups[0]["lr"] = state[2].param_groups[1]["lr"] = 0.25
    same_state(other, state)
    assert (run / "model.safetensors").read_bytes() == weights  # written from the checkpoint
    assert (run / "log.csv").read_bytes() == b"step,loss\n1,0.5\n2,0.25\n3,0.125\n4,0.1\n"  # not rewritten


def test_a_legacy_runs_weights_are_left_as_they_are(committed):
    run, state = committed
    legacy(run, state)
    (run / "model.safetensors").write_bytes(b"older weights")
    (run / "log.csv").unlink()
    assert restore_checkpoint(run, *build(1)) == (3, None)
    assert (run / "model.safetensors").read_bytes() == b"older weights"
    # a legacy checkpoint has no checksum: a damaged one is found when it does not parse
    (run / "state" / "checkpoint.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        restore_checkpoint(run, *build(1))


# -- parse_log ---------------------------------------------------------------------------------------------------


def test_parse_log_keeps_the_rows_up_to_the_step_that_parse():
    text = "step,loss,kl\n1,0.5,1\n2,x,1\n3,0.25\n4,0.1,2,9\nfour,0.1,2\n\n5,0.1,inf\n6,0.1,3\n"
    assert parse_log(text, 5) == (
        ["step", "loss", "kl"],
        [{"step": "1", "loss": "0.5", "kl": "1"}, {"step": "5", "loss": "0.1", "kl": "inf"}],
        4,
    )
    assert parse_log(text, 4) == (["step", "loss", "kl"], [{"step": "1", "loss": "0.5", "kl": "1"}], 4)
    assert parse_log(text, 0) == (["step", "loss", "kl"], [], 4)
    assert parse_log("step\n0\n1\n", 0) == (["step"], [{"step": "0"}], 0)
    assert parse_log("loss,step\n0.5,2\n", 2) == (["loss", "step"], [{"loss": "0.5", "step": "2"}], 0)


def test_parse_log_of_a_text_without_a_header():
    assert parse_log("", 3) == (None, [], 0)
    assert parse_log("  \n", 3) == (None, [], 0)
    assert parse_log("loss,kl\n1,2\n", 3) == (None, [], 1)
    assert parse_log("\n\nloss\n", 3) == (None, [], 1)


def test_a_log_written_back_is_csv():
    """The rows a restore keeps are written by csv with the header of the file (a known text)."""
    header, rows, bad = parse_log('step,"a,b"\n1,2\n', 1)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    assert buffer.getvalue() == 'step,"a,b"\r\n1,2\r\n' and bad == 0


def test_a_saved_checkpoint_is_deterministic(tmp_path):
    """Two commits of one state give the same bytes (the manifest's checksums depend on it)."""
    state = stepped()
    commit_checkpoint(tmp_path / "a", 3, *state, LOG)
    commit_checkpoint(tmp_path / "b", 3, *state, LOG)
    for name in (f"state/{CHECKPOINT}", "state/state.json", "model.safetensors"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert save({"x": torch.zeros(1)}) == save({"x": torch.zeros(1)})
