"""untwine.run_files against known answers: the paths of a run directory, the manifest's text and every refusal
of `read_manifest` word for word, SHA-256 of files, and the score files (read, set aside, merged, current).

Nothing is trained: manifests are written by hand or by `manifest_json`, so each test takes milliseconds
(the mutation tests of issue 23 run them once per mutant).
"""

import hashlib
import json
import os
import time
import warnings
from pathlib import Path

import pytest

import untwine.run_files as run_files
from untwine.run_files import (
    Manifest,
    RunFiles,
    is_current,
    manifest_json,
    read_manifest,
    read_scores,
    score_file,
    set_aside,
    sha256,
    store_scores,
)

A, B, C, D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
OPTIMIZERS = {"optimizer": {"param_groups": [{"lr": 0.5}], "scalars": {}}}

# manifest_json(3, "state/c", "state/l", {"state/c": A, "state/l": B}, C, D, OPTIMIZERS), written out: the
# manifest's own checksum is the SHA-256 of the other keys as JSON with sorted keys and default separators.
KNOWN_MANIFEST = """{
 "format": 2,
 "step": 3,
 "checkpoint": "state/c",
 "log": "state/l",
 "files": {
  "state/c": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "state/l": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
 },
 "weights_sha256": "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
 "log_sha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
 "optimizers": {
  "optimizer": {
   "param_groups": [
    {
     "lr": 0.5
    }
   ],
   "scalars": {}
  }
 },
 "precision": "fp32",
 "manifest_sha256": "c14e567f68d500d7d939c556b0d971d2018bdb418de8d792d4bbdd4b5ed81cc4"
}"""


# -- paths -------------------------------------------------------------------------------------------------------


def test_run_files_names_every_path_of_a_run_directory():
    files = RunFiles("runs/one")
    assert files.root == Path("runs/one") and isinstance(files.root, Path)
    assert files.config == Path("runs/one/config.toml")
    assert files.weights == Path("runs/one/model.safetensors")
    assert files.state_dir == Path("runs/one/state")
    assert files.checkpoint == Path("runs/one/state/checkpoint.safetensors")
    assert files.state == Path("runs/one/state/state.json")
    assert files.log == Path("runs/one/log.csv")
    assert files.metrics == Path("runs/one/metrics.json")
    assert files.report == Path("runs/one/report.html")
    assert files.history == Path("runs/one/history.json")
    assert files.generation(42) == (
        Path("runs/one/state/checkpoint-000000042.safetensors"),
        Path("runs/one/state/log-000000042.csv"),
    )
    assert files.generation(1234567890)[0].name == "checkpoint-1234567890.safetensors"
    assert RunFiles(Path("x")) == RunFiles("x")


def test_sha256_of_a_file_is_the_known_digest(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256(str(path)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256(empty) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    big = tmp_path / "big"  # more than one block of 1 MiB
    content = bytes(range(256)) * (5 * 4096 + 3)
    big.write_bytes(content)
    assert sha256(big) == hashlib.sha256(content).hexdigest()
    with pytest.raises(FileNotFoundError):
        sha256(tmp_path / "missing")


def test_sha256_reads_blocks_of_one_mib_until_the_end(tmp_path, monkeypatch):
    """The docstring's blocks of 1 MiB, and the loop stops at the end of the file (a handle that would be read
    past its end more than once fails the test instead of hanging)."""
    sizes = []

    class Handle:
        def __init__(self):
            self.blocks = [b"ab", b"c"]
            self.past_end = 0

        def read(self, size):
            sizes.append(size)
            if self.blocks:
                return self.blocks.pop(0)
            self.past_end += 1
            assert self.past_end == 1, "read past the end of the file again"
            return b""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    modes = []
    monkeypatch.setattr(run_files, "open", lambda path, mode: modes.append(mode) or Handle(), raising=False)
    assert sha256(tmp_path / "any") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sizes == [1 << 20] * 3 and modes == ["rb"]


# -- the manifest ------------------------------------------------------------------------------------------------


def test_manifest_json_is_the_known_text_and_reads_back(tmp_path):
    text = manifest_json(3, "state/c", "state/l", {"state/c": A, "state/l": B}, C, D, OPTIMIZERS)
    assert text == KNOWN_MANIFEST
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text(text)
    assert read_manifest(tmp_path) == Manifest(
        step=3,
        checkpoint="state/c",
        log="state/l",
        files={"state/c": A, "state/l": B},
        weights_sha256=C,
        log_sha256=D,
        optimizers=OPTIMIZERS,
        legacy=False,
        precision="fp32",
    )
    assert read_manifest(str(tmp_path)).legacy is False


def test_a_bf16_manifest_reads_back_bf16(tmp_path):
    text = manifest_json(0, "state/c", "state/l", {"state/c": A, "state/l": B}, C, D, {}, precision="bf16")
    assert json.loads(text)["precision"] == "bf16"
    write_state(tmp_path, text)
    manifest = read_manifest(tmp_path)
    assert manifest.precision == "bf16" and manifest.step == 0 and manifest.optimizers == {}


def test_the_manifests_checksum_covers_its_content_whatever_the_key_order(tmp_path):
    """A manifest written by hand with its keys in another order is accepted: the checksum is of the sorted keys."""
    payload = {
        "precision": "fp32",
        "optimizers": {},
        "log_sha256": D,
        "weights_sha256": C,
        "files": {"state/l": B, "state/c": A},
        "log": "state/l",
        "checkpoint": "state/c",
        "step": 7,
        "format": 2,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    write_state(tmp_path, json.dumps({"manifest_sha256": digest, **payload}))
    assert read_manifest(tmp_path).step == 7
    # the same content with one value changed and the old checksum is refused
    write_state(tmp_path, json.dumps({"manifest_sha256": digest, **payload, "step": 8}))
    with pytest.raises(ValueError) as error:
        read_manifest(tmp_path)
    assert str(error.value) == refusal(tmp_path, "its own checksum does not match its content: the file was damaged")


def test_a_manifest_without_precision_is_fp32(tmp_path):
    payload = {
        "format": 2,
        "step": 1,
        "checkpoint": "state/c",
        "log": "state/l",
        "files": {"state/c": A, "state/l": B},
        "weights_sha256": C,
        "log_sha256": D,
        "optimizers": {},
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    write_state(tmp_path, json.dumps({**payload, "manifest_sha256": digest}))
    assert read_manifest(tmp_path).precision == "fp32"


def test_a_legacy_manifest_names_the_old_checkpoint_and_no_checksums(tmp_path):
    write_state(tmp_path, json.dumps({"step": 5, "optimizers": {"optimizer": {"x": 1}}}))
    assert read_manifest(tmp_path) == Manifest(
        step=5,
        checkpoint="state/checkpoint.safetensors",
        log=None,
        files={},
        weights_sha256=None,
        log_sha256=None,
        optimizers={"optimizer": {"x": 1}},
        legacy=True,
        precision="fp32",
    )


def test_no_manifest_is_none(tmp_path):
    assert read_manifest(tmp_path) is None
    assert read_manifest(tmp_path / "missing") is None
    (tmp_path / "state" / "state.json").mkdir(parents=True)  # not a file
    assert read_manifest(tmp_path) is None


def write_state(run, text):
    (run / "state").mkdir(exist_ok=True)
    (run / "state" / "state.json").write_bytes(text.encode() if isinstance(text, str) else text)


def refusal(run, why):
    path = run / "state" / "state.json"
    return (
        f"{path} is not a readable checkpoint manifest ({why}). The weights of the last checkpoint are still in "
        f"{run / 'model.safetensors'} if it exists; to train the run again from step 0, remove {run / 'state'} "
        f"(or use another --out)"
    )


def signed(**changes):
    """A manifest's text with some of its values changed, or left out (None), and its own checksum correct."""
    payload = {
        "format": 2,
        "step": 3,
        "checkpoint": "state/c",
        "log": "state/l",
        "files": {"state/c": A, "state/l": B},
        "weights_sha256": C,
        "log_sha256": D,
        "optimizers": {},
        "precision": "fp32",
    }
    for key, value in changes.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return json.dumps({**payload, "manifest_sha256": digest})


def signed_with_none(key):
    payload = json.loads(signed())
    del payload["manifest_sha256"]
    payload[key] = None
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return json.dumps({**payload, "manifest_sha256": digest})


REFUSALS = [
    (b"{", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b"\xff{}", "not JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    (b"[1, 2]", "not a JSON object"),
    (b'"text"', "not a JSON object"),
    (b'{"optimizers": {}}', "missing 'step'"),
    (b'{"step": 1}', "missing 'optimizers'"),
    (b'{"step": -1, "optimizers": {}}', "'step' must be a non-negative integer, got -1"),
    (b'{"step": true, "optimizers": {}}', "'step' must be a non-negative integer, got True"),
    (b'{"step": 1.5, "optimizers": {}}', "'step' must be a non-negative integer, got 1.5"),
    (b'{"step": "3", "optimizers": {}}', "'step' must be a non-negative integer, got '3'"),
    (b'{"step": 1, "optimizers": []}', "'optimizers' must be an object"),
    (b'{"step": 1, "optimizers": {}, "format": 3}', "format 3 is not one this version of untwine reads (2)"),
    (b'{"step": 1, "optimizers": {}, "format": "2"}', "format '2' is not one this version of untwine reads (2)"),
    (b'{"step": 1, "optimizers": {}, "format": 2}', "missing 'manifest_sha256'"),
    (
        signed(step=4).replace('"step": 4', '"step": 5').encode(),
        "its own checksum does not match its content: the file was damaged",
    ),
    (signed(files=None).encode(), "missing 'files'"),
    (signed(checkpoint=None).encode(), "missing 'checkpoint'"),
    (signed(log=None).encode(), "missing 'log'"),
    (signed(weights_sha256=None).encode(), "missing 'weights_sha256'"),
    (signed(log_sha256=None).encode(), "missing 'log_sha256'"),
    (signed(files=["state/c", "state/l"]).encode(), "'files' must map the checkpoint and log files to their SHA-256"),
    (signed(files={"state/l": B}).encode(), "'files' must map the checkpoint and log files to their SHA-256"),
    (signed(files={"state/c": A}).encode(), "'files' must map the checkpoint and log files to their SHA-256"),
    (signed(checkpoint=7).encode(), "'files' must map the checkpoint and log files to their SHA-256"),
    (signed(log=["state/l"]).encode(), "'files' must map the checkpoint and log files to their SHA-256"),
    (signed_with_none("log").encode(), "'files' must map the checkpoint and log files to their SHA-256"),
    (
        signed(files={"state/c": A, "state/l": B[:63]}).encode(),
        "'files' must map the checkpoint and log files to their SHA-256",
    ),
    (
        signed(files={"state/c": A + "a", "state/l": B}).encode(),
        "'files' must map the checkpoint and log files to their SHA-256",
    ),
    (
        signed(files={"state/c": A, "state/l": B, "state/x": 64}).encode(),
        "'files' must map the checkpoint and log files to their SHA-256",
    ),
    (signed(weights_sha256=C[:63]).encode(), "'weights_sha256' must be a SHA-256"),
    (signed(weights_sha256=C + "c").encode(), "'weights_sha256' must be a SHA-256"),
    (signed_with_none("weights_sha256").encode(), "'weights_sha256' must be a SHA-256"),
    (signed(log_sha256=D[:63]).encode(), "'log_sha256' must be a SHA-256"),
    (signed(log_sha256=list(D)).encode(), "'log_sha256' must be a SHA-256"),
    (signed(precision="fp16").encode(), "'precision' must be fp32 or bf16, got 'fp16'"),
    (signed_with_none("precision").encode(), "'precision' must be fp32 or bf16, got None"),
]


@pytest.mark.parametrize("content, why", REFUSALS, ids=range(len(REFUSALS)))
def test_a_manifest_that_does_not_parse_is_refused_by_name(tmp_path, content, why):
    write_state(tmp_path, content)
    with pytest.raises(ValueError) as error:
        read_manifest(tmp_path)
    assert str(error.value) == refusal(tmp_path, why)


def test_a_manifest_that_cannot_be_read_is_refused_by_name(tmp_path, monkeypatch):
    write_state(tmp_path, signed())

    def unreadable(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(ValueError) as error:
        read_manifest(tmp_path)
    assert str(error.value) == refusal(tmp_path, "[Errno 13] Permission denied")


def test_the_smallest_valid_values_are_accepted(tmp_path):
    write_state(tmp_path, signed(step=0))
    assert read_manifest(tmp_path).step == 0
    write_state(tmp_path, b'{"step": 0, "optimizers": {}}')
    assert read_manifest(tmp_path).step == 0
    # the checkpoint and the log may be named by files among others
    write_state(tmp_path, signed(files={"state/c": A, "state/l": B, "state/x": C}))
    assert read_manifest(tmp_path).files == {"state/c": A, "state/l": B, "state/x": C}


# -- scores ------------------------------------------------------------------------------------------------------


def test_score_file_of_each_representation(tmp_path):
    assert score_file(tmp_path) == tmp_path / "metrics.json"
    assert score_file(str(tmp_path), "mean") == tmp_path / "metrics.json"
    assert score_file(tmp_path, "sampled") == tmp_path / "metrics-sampled.json"
    with pytest.raises(ValueError) as error:
        score_file(tmp_path, "median")
    assert str(error.value) == "representation must be one of mean, sampled, got 'median'"


def test_read_scores_reads_what_is_stored_and_names_a_damaged_file(tmp_path):
    assert read_scores(tmp_path) == {} and read_scores(tmp_path, "sampled") == {}
    (tmp_path / "metrics.json").write_text('{"mig": {"score": 0.5}}')
    (tmp_path / "metrics-sampled.json").write_text('{"sap": 1}')
    assert read_scores(tmp_path) == {"mig": {"score": 0.5}}
    assert read_scores(str(tmp_path), "sampled") == {"sap": 1}
    path = tmp_path / "metrics.json"
    cases = [
        (
            b"{",
            f"{path} is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); ",
        ),
        (
            b"\xff",
            f"{path} is not valid JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte); ",
        ),
        (b"[1]", f"{path} does not hold an object of metrics; "),
    ]
    for content, start in cases:
        path.write_bytes(content)
        with pytest.raises(ValueError) as error:
            read_scores(tmp_path)
        assert str(error.value) == start + "move it aside, or score the run again (which moves it aside)"
    with pytest.raises(ValueError, match="representation must be one of mean, sampled, got 'x'"):
        read_scores(tmp_path, "x")


FIXED = time.struct_time((2024, 2, 29, 13, 5, 7, 3, 60, 0))


@pytest.fixture
def fixed_time(monkeypatch):
    """time.strftime at a known moment, whatever the format asked; Path.exists records the names asked about (and
    fails past 10: a counter that does not count fails the test instead of looping)."""
    real = time.strftime
    monkeypatch.setattr(run_files.time, "strftime", lambda fmt, t=FIXED: real(fmt, t))
    asked = []
    exists = Path.exists

    def looked_at(self, *args, **kwargs):
        if ".corrupt-" in self.name:
            asked.append(self.name)
            assert len(asked) != 10, asked
        return exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", looked_at)
    return asked


def test_set_aside_renames_beside_with_the_time_and_a_counter(tmp_path, fixed_time):
    path = tmp_path / "metrics.json"
    path.write_text("one")
    moved = set_aside(path)
    assert moved == tmp_path / "metrics.json.corrupt-20240229-130507"
    assert moved.read_text() == "one" and not path.exists()
    path.write_text("two")
    assert set_aside(path) == tmp_path / "metrics.json.corrupt-20240229-130507-1"
    path.write_text("three")
    fixed_time.clear()
    assert set_aside(path) == tmp_path / "metrics.json.corrupt-20240229-130507-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "metrics.json.corrupt-20240229-130507",
        "metrics.json.corrupt-20240229-130507-1",
        "metrics.json.corrupt-20240229-130507-2",
    ]
    assert (tmp_path / "metrics.json.corrupt-20240229-130507-1").read_text() == "two"
    with pytest.raises(FileNotFoundError):
        set_aside(path)


def test_set_aside_counts_past_the_taken_names(tmp_path, fixed_time):
    path = tmp_path / "m"
    for name in ("m.corrupt-20240229-130507", "m.corrupt-20240229-130507-2"):
        (tmp_path / name).write_text("old")
    path.write_text("new")
    assert set_aside(path) == tmp_path / "m.corrupt-20240229-130507-1"
    (tmp_path / "m.corrupt-20240229-130507-3").write_text("old")
    path.write_text("newer")
    fixed_time.clear()
    assert set_aside(path) == tmp_path / "m.corrupt-20240229-130507-4"
    # each name is looked at once, in order
    assert fixed_time == [f"m.corrupt-20240229-130507{n}" for n in ("", "-1", "-2", "-3", "-4")]


def test_set_aside_stamps_the_local_time(tmp_path):
    before = time.strftime("%Y%m%d-%H%M%S")
    path = tmp_path / "f"
    path.write_text("x")
    name = set_aside(path).name
    after = time.strftime("%Y%m%d-%H%M%S")
    assert name in (f"f.corrupt-{before}", f"f.corrupt-{after}")


def test_store_scores_merges_and_writes_the_known_text(tmp_path):
    store_scores(tmp_path, "mean", {"mig": 0.5, "sap": {"score": 1}})
    assert (tmp_path / "metrics.json").read_text() == '{\n "mig": 0.5,\n "sap": {\n  "score": 1\n }\n}'
    store_scores(str(tmp_path), "mean", {"mig": 0.25, "dci": 2})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"mig": 0.25, "sap": {"score": 1}, "dci": 2}
    assert list(json.loads((tmp_path / "metrics.json").read_text())) == ["mig", "sap", "dci"]
    store_scores(tmp_path, "sampled", {"x": 1})
    assert (tmp_path / "metrics-sampled.json").read_text() == '{\n "x": 1\n}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics-sampled.json", "metrics.json"]
    with pytest.raises(ValueError, match="got 'other'"):
        store_scores(tmp_path, "other", {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics-sampled.json", "metrics.json"]


def trampolined(module):
    """Whether ``module`` runs through mutmut's trampoline (bench/mutation.sh), which puts frames of its own between
    a caller and the function it called: a warning's stacklevel then names them."""
    return any(name.endswith("__mutmut_orig") for name in vars(module))


@pytest.mark.parametrize("damaged", [b"{", b"[1, 2]"])
def test_store_scores_sets_a_damaged_file_aside_and_says_so(tmp_path, fixed_time, damaged, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_bytes(damaged)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store_scores(tmp_path, "mean", {"mig": 1})
    assert [(w.category, str(w.message)) for w in caught] == [
        (
            RuntimeWarning,
            f"{path} did not parse; it was moved to metrics.json.corrupt-20240229-130507 and a new one written "
            "with these scores",
        )
    ]
    if not trampolined(run_files):
        assert [w.filename for w in caught] == [__file__]  # the warning names the caller of store_scores
    assert json.loads(path.read_text()) == {"mig": 1}
    assert (tmp_path / "metrics.json.corrupt-20240229-130507").read_bytes() == damaged
    assert sorted(os.listdir(tmp_path)) == ["metrics.json", "metrics.json.corrupt-20240229-130507"]
    # what it asked of warnings.warn (the caller of store_scores is one frame up from it)
    asked = []
    monkeypatch.setattr(run_files.warnings, "warn", lambda *args, **kwargs: asked.append((args, kwargs)))
    path.write_bytes(damaged)
    store_scores(tmp_path, "mean", {"mig": 2})
    assert [(type(args[0]), args[1:], kwargs) for args, kwargs in asked] == [
        (str, (RuntimeWarning,), {"stacklevel": 2})
    ]


def test_is_current_asks_for_the_same_weights_seed_and_params():
    result = {"weights_sha256": A, "seed": 0, "params": {"a": 1, "b": [2, 3]}, "score": 0.5}
    assert is_current(result, A)
    assert is_current(result, A, seed=0)
    assert is_current(result, A, seed=0, params={"b": [2, 3], "a": 1})  # the order of keys does not count
    assert is_current(result, A, params={"a": 1, "b": [2, 3]})
    stored_unsorted = {"weights_sha256": A, "params": {"b": [2, 3], "a": 1}}
    assert is_current(stored_unsorted, A, params={"a": 1, "b": [2, 3]})
    assert not is_current(result, B)
    assert not is_current(result, None)
    assert not is_current({"seed": 0}, None)
    assert not is_current(result, A, seed=1)
    assert not is_current(result, A, seed=0, params={"a": 1})
    assert not is_current(result, A, params={"a": 1, "b": [3, 2]})
    assert not is_current(result, A, params={})
    assert not is_current({"weights_sha256": A}, A, seed=0)
    assert is_current({"weights_sha256": A}, A, params=None)
    assert not is_current({"weights_sha256": A}, A, params={})
    assert is_current({"weights_sha256": A, "params": None}, A)
    assert not is_current([A], A)
    assert not is_current(A, A)
    assert not is_current(None, None)
    assert not is_current({"weights_sha256": None}, None)
    # a seed of 0 is a seed: it is compared
    assert not is_current({"weights_sha256": A, "seed": 1}, A, seed=0)
    assert not is_current({"weights_sha256": A, "seed": 0, "params": {"a": 1}}, A, seed=1, params={"a": 1})
    assert not is_current({"weights_sha256": B, "seed": 0}, A, seed=0)
