"""The files a study keeps in a run directory (untwine.study.files): the lock of a task, the record of a failure,
and the time they carry."""

import json
import re
import socket
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from untwine.study.files import ERROR_FILE, LOCK_FILE, read_error, record_error, run_lock, utc_now


def test_the_time_is_utc_to_the_second():
    before = datetime.now(timezone.utc).replace(microsecond=0)
    text = utc_now()
    after = datetime.now(timezone.utc)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text), text
    assert before <= datetime.fromisoformat(text) <= after


def holder(run_dir, entered, leave):
    """A thread that takes the lock, says so, and holds it until ``leave`` is set."""

    def hold():
        with run_lock(run_dir):
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


def test_a_second_task_waits_for_the_lock_until_the_first_lets_it_go(tmp_path):
    run = tmp_path / "study" / "cell" / "seed-0"  # made, parents and all
    entered, leave = threading.Event(), threading.Event()
    with run_lock(run):
        assert (run / LOCK_FILE).is_file()
        second = holder(run, entered, leave)
        assert not entered.wait(0.3)  # blocked while the first holds it
    assert entered.wait(5)  # and in once it is let go
    leave.set()
    second.join(5)
    assert not second.is_alive()


def test_the_lock_is_let_go_when_the_task_fails(tmp_path):
    entered, leave = threading.Event(), threading.Event()
    with pytest.raises(RuntimeError, match="the run failed"):
        with run_lock(tmp_path):
            raise RuntimeError("the run failed")
    leave.set()
    thread = holder(tmp_path, entered, leave)
    assert entered.wait(5)
    thread.join(5)


def test_a_directory_and_its_lock_file_that_exist_are_used_as_they_are(tmp_path):
    (tmp_path / LOCK_FILE).write_text("kept")
    with run_lock(tmp_path):
        pass
    assert (tmp_path / LOCK_FILE).read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE]


def test_without_flock_the_lock_is_taken_without_waiting(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on Windows: the import fails
    with run_lock(tmp_path / "run"):
        with run_lock(tmp_path / "run"):  # would wait for ever with a lock
            assert (tmp_path / "run" / LOCK_FILE).is_file()


def test_no_error_file_is_no_error(tmp_path):
    assert read_error(tmp_path) is None
    assert read_error(tmp_path / "missing") is None
    (tmp_path / ERROR_FILE).mkdir()  # not a file
    assert read_error(tmp_path) is None


def test_an_error_file_is_read_as_it_was_written(tmp_path):
    (tmp_path / ERROR_FILE).write_text('{"type": "ValueError", "error": "bad", "step": 3}')
    assert read_error(str(tmp_path)) == {"type": "ValueError", "error": "bad", "step": 3}


def test_an_error_file_that_is_not_an_object_is_its_error_line(tmp_path):
    (tmp_path / ERROR_FILE).write_text('"out of memory"')
    assert read_error(tmp_path) == {"error": "out of memory"}
    (tmp_path / ERROR_FILE).write_text("[1, 2]")
    assert read_error(tmp_path) == {"error": "[1, 2]"}
    (tmp_path / ERROR_FILE).write_text("null")
    assert read_error(tmp_path) == {"error": "None"}


def test_an_error_file_that_does_not_parse_says_so_by_name(tmp_path):
    path = tmp_path / ERROR_FILE
    path.write_text('{"type": ')
    assert read_error(tmp_path) == {
        "type": "unreadable",
        "error": f"{path} does not parse (Expecting value: line 1 column 10 (char 9))",
    }
    path.write_bytes(b"\xff{}")
    assert read_error(tmp_path) == {
        "type": "unreadable",
        "error": f"{path} does not parse ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)",
    }


def test_a_recorded_error_holds_its_kind_message_trace_step_time_and_host(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    run = tmp_path / "not" / "yet"
    record = record_error(run, "ValueError", "the loss is NaN", "Traceback ...", step=40)
    assert sorted(record) == ["error", "host", "step", "time", "traceback", "type"]
    assert record["type"] == "ValueError"
    assert record["error"] == "the loss is NaN"
    assert record["traceback"] == "Traceback ..."
    assert record["step"] == 40
    assert record["host"] == socket.gethostname()
    assert before <= datetime.fromisoformat(record["time"]) <= before + timedelta(seconds=5)
    text = (run / ERROR_FILE).read_text()
    assert json.loads(text) == record
    # laid out for a person who opens it, one field a line as the other JSON files of a run directory
    lines = text.splitlines()
    assert len(lines) == 8 and lines[0] == "{" and lines[-1] == "}"
    assert lines[1].strip() == '"type": "ValueError",' and lines[6].strip() == '"traceback": "Traceback ..."'
    assert read_error(run) == record
    assert sorted(p.name for p in run.iterdir()) == [ERROR_FILE]  # no temporary file left


def test_a_recorded_error_without_trace_or_step_and_a_second_one_replacing_it(tmp_path):
    first = record_error(tmp_path, "WorkerDied", "its worker died")
    assert first["traceback"] == "" and first["step"] is None
    assert read_error(tmp_path) == first
    second = record_error(tmp_path, "OSError", "disk full", step=0)
    assert read_error(tmp_path) == second and second["step"] == 0
