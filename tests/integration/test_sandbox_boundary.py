"""The sandbox's kernel boundary, attacked by code that has already beaten the
in-process checks: the audit hook's block list emptied and its path check
disarmed, private modules reached through public ones. What must stop it is
bubblewrap's namespaces, the seccomp filter and the limits, seen from the host."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from switchboard.workers.analyst.sandbox import Limits, Sandbox, SandboxSettings

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/bwrap").exists(), reason="bubblewrap is not installed (scripts/setup.sh installs it)"
)

# what an attacker who escaped the Python layer has: os, importlib, the hook disarmed
BREAKOUT = (
    "import typing, dataclasses\n"
    "os = typing.sys.modules['os']\n"
    "importlib = dataclasses.inspect.importlib\n"
    "typing.sys.modules['__main__'].BLOCKED_EVENTS.clear()\n"
    "os.path.realpath = lambda p: '/tmp'\n"
    "io = importlib.import_module('io')\n"
    "def attempt(f):\n"
    "    try:\n"
    "        return 'ok: ' + repr(f())\n"
    "    except BaseException as exc:\n"
    "        return 'refused: ' + repr(exc)\n"
)
ROOT = Path(__file__).parents[2]
LIMITS = Limits(cpu_s=8, wall_s=20, memory_bytes=1 << 30)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(LIMITS, SandboxSettings(pool=2))


async def _value(sandbox: Sandbox, code: str, duck: Path) -> str:
    out = await sandbox.run(BREAKOUT + code, duck)
    assert out.ok, out.error
    assert out.table is not None
    return str(out.table["rows"][0][0])


def _sandbox_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"/sandbox/child.py" in cmdline or b"sandbox_launch.py" in cmdline:
                pids.append(int(entry))
    return pids


async def _until(predicate, deadline_s: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def test_runs_as_nobody_without_capabilities(sandbox: Sandbox, duck: Path) -> None:
    status = await _value(sandbox, "result = io.open('/proc/self/status').read()", duck)
    assert "\nUid:\t65534\t65534\t65534\t65534" in status
    assert "\nCapEff:\t0000000000000000" in status
    assert "\nSeccomp:\t2" in status
    env = await _value(sandbox, "result = repr(dict(os.environ))", duck)
    assert "SWITCHBOARD" not in env and "PATH" not in env


@pytest.mark.parametrize(
    "attack",
    [
        "os.system('id')",
        "os.execv('/bin/sh', ['sh', '-c', 'id'])",
        "os.fork()",
        "os.posix_spawn('/bin/sh', ['sh'], {})",
        "importlib.import_module('_posixsubprocess').fork_exec(['/bin/sh'], [b'/bin/sh'], True, (), None, None,"
        " -1, -1, -1, -1, -1, -1, -1, -1, False, False, -1, None, None, None, -1, None, False)",
        "importlib.import_module('socket').create_connection(('127.0.0.1', 4222), timeout=2)",
        "importlib.import_module('socket').socket(1, 1)",
        "os.mkfifo('/tmp/result.json')",
        "os.mknod('/tmp/node')",
        "importlib.import_module('ctypes').CDLL(None).ptrace(16, 1, 0, 0) and (_ for _ in ()).throw(OSError())",
        "importlib.import_module('ctypes').CDLL(None).unshare(0x10000000) and (_ for _ in ()).throw(OSError())",
    ],
)
async def test_processes_sockets_and_devices_are_refused_by_the_kernel(
    sandbox: Sandbox, duck: Path, attack: str
) -> None:
    got = await _value(sandbox, f"result = attempt(lambda: {attack})", duck)
    if attack.startswith("os.system"):
        assert got != "ok: 0", got  # the shell never ran
    else:
        assert got.startswith("refused"), got


async def test_host_files_are_out_of_sight(sandbox: Sandbox, duck: Path, tmp_path: Path) -> None:
    os.environ["SB_TEST_SECRET"] = "s3cr3t-value"  # the worker's environment
    try:
        for path in (
            "/etc/shadow",
            "/etc/passwd",
            "/root/.bashrc",
            "/home",
            str(Path.cwd() / "pyproject.toml"),
            "/var/lib",
        ):
            got = await _value(
                sandbox,
                f"result = attempt(lambda: os.listdir('{path}') if os.path.isdir('{path}')"
                f" else io.open('{path}').read())",
                duck,
            )
            assert got.startswith("refused"), (path, got)
        environ = await _value(
            sandbox,
            "result = attempt(lambda: [io.open(f'/proc/{p}/environ', 'rb').read() for p in os.listdir('/proc')"
            " if p.isdigit()])",
            duck,
        )
        assert "s3cr3t" not in environ
        blob = await _value(
            sandbox,
            "import duckdb\nresult = attempt(lambda: duckdb.sql(\"select * from read_text('/etc/shadow')\").fetchall())",
            duck,
        )
        assert "root:" not in blob
        pids = await _value(sandbox, "result = attempt(lambda: sorted(os.listdir('/proc')))", duck)
        assert str(os.getpid()) not in pids.replace("'1'", "").replace("'2'", "")
    finally:
        del os.environ["SB_TEST_SECRET"]


async def test_writes_stay_inside_a_private_tmpfs(sandbox: Sandbox, duck: Path) -> None:
    before = sorted(os.listdir(duck.parent))
    for attack in (
        "duckdb.connect('/elsewhere.duckdb').execute('create table t as select 1')",
        "duckdb.sql(\"copy (select 1) to '/data/out.csv'\")",
        "io.open('/data/analyst.duckdb', 'r+b').write(b'x')",
        "io.open('/usr/evil', 'w').write('x')",
    ):
        got = await _value(sandbox, f"import duckdb\nresult = attempt(lambda: {attack})", duck)
        assert got.startswith("refused"), (attack, got)
    assert sorted(os.listdir(duck.parent)) == before
    assert not _on_host("/elsewhere.duckdb")
    wrote = await _value(
        sandbox, "io.open('/tmp/mine.txt', 'w').write('x')\nresult = os.listdir('/tmp')", duck
    )
    assert "mine.txt" in wrote
    assert not _on_host("/tmp/mine.txt")


async def test_no_result_is_an_error_not_a_hang(sandbox: Sandbox, duck: Path) -> None:
    out = await sandbox.run(BREAKOUT + "os.abort()", duck)
    assert not out.ok and out.error_kind == "runtime" and "no result" in (out.error or "")
    flood = (
        "for fd in range(3, 12):\n    attempt(lambda: [os.write(fd, b'x' * (1 << 20)) for _ in range(16)])\n"
    )
    out = await sandbox.run(BREAKOUT + flood, duck)
    assert not out.ok
    assert (await sandbox.run("result = 1", duck)).ok


async def test_nothing_outlives_a_run(sandbox: Sandbox, duck: Path) -> None:
    code = (
        "threading = importlib.import_module('threading')\n"
        "time = importlib.import_module('time')\n"
        "threading.Thread(target=time.sleep, args=(600,), daemon=False).start()\n"
        "attempt(lambda: os.setsid())\n"
        "result = 1\n"
    )
    assert (await sandbox.run(BREAKOUT + code, duck)).ok
    assert await _until(lambda: not _sandbox_pids()), _sandbox_pids()


async def test_a_killed_worker_leaves_no_sandbox_behind(duck: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from switchboard.workers.analyst.sandbox import Limits, run_python\n"
        "asyncio.run(run_python('while True:\\n    pass', Path(sys.argv[1]), Limits(cpu_s=120, wall_s=120)))\n"
    )
    worker = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(duck), cwd=ROOT)
    try:
        assert await _until(lambda: any(_is_child(p) for p in _sandbox_pids()))
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        assert await _until(lambda: not _sandbox_pids(), 30), _sandbox_pids()
    finally:
        if worker.returncode is None:
            worker.kill()


async def test_the_pool_bounds_concurrent_runs(duck: Path) -> None:
    sandbox = Sandbox(LIMITS, SandboxSettings(pool=2))
    # each run reports when its code ran, on the machine's monotonic clock
    busy = (
        "time = importlib.import_module('time')\n"
        "t0 = time.monotonic()\nn = 0\nfor i in range(3_000_000):\n    n += i\n"
        "result = [{'start': t0, 'end': time.monotonic()}]\n"
    )
    outs = await asyncio.gather(*(sandbox.run(BREAKOUT + busy, duck) for _ in range(5)))
    assert all(o.ok and o.table for o in outs), [o.error for o in outs]
    spans = [tuple(o.table["rows"][0]) for o in outs if o.table]
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert 1 <= overlap <= 2, spans


def _is_child(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"/sandbox/child.py" in argv and b"bwrap" not in argv[0]


async def test_fails_closed_without_bubblewrap(duck: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    out = await Sandbox(LIMITS, SandboxSettings(pool=1)).run("result = 1", duck)
    assert not out.ok and out.error_kind == "refused"
    assert "cannot start" in (out.error or "") and "SWITCHBOARD_SANDBOX_UNSAFE" in (out.error or "")
    unsafe = await Sandbox(LIMITS, SandboxSettings(pool=1, unsafe=True)).run("result = 1", duck)
    assert unsafe.ok, unsafe.error


def _on_host(path: str) -> bool:
    return os.path.exists(path)
