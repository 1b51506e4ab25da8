"""The Python sandbox: generated code runs behind a kernel boundary.

Each run is a fresh process under bubblewrap (Debian's ``bubblewrap``): as
user ``nobody`` with no capabilities, in new user, mount, pid, network, ipc,
uts and cgroup namespaces; it sees read-only ``/usr``, the Python install and
the dataset's folder, a private size-capped tmpfs as ``/tmp`` (its only
writable place, gone with the run), an empty environment, and dies with the
worker (``--die-with-parent``, pid namespace). Inside, after the libraries
are imported, a seccomp filter refuses exec, fork, sockets, ptrace, mknod
and namespace or mount calls. Resource limits cap memory, CPU, file size,
open files and threads. The outcome comes back as one JSON document on the
child's stdout, read with a size and a time limit; nothing is read from a
file the child could replace.

In front of that, the child refuses imports off an allowlist and dynamic
tricks (``eval``, dunder attributes) with a friendly message, and an audit
hook refuses file access outside the allowed paths: a first layer for honest
mistakes, not the boundary.

Where bubblewrap is missing or the kernel refuses namespaces, runs fail
closed with a clear error, unless ``SWITCHBOARD_SANDBOX_UNSAFE=1`` is set:
then the code runs as a plain child process with limits and the in-process
checks only (not a security boundary).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_SANDBOX_", extra="ignore")

    pool: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    """Sandbox processes one worker runs at once; more runs wait their turn."""
    unsafe: bool = False
    """Run without the kernel boundary when bubblewrap cannot be used. Not a security boundary."""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 20
    wall_s: float = 30.0
    memory_bytes: int = 2 << 30
    output_bytes: int = 64_000
    file_bytes: int = 20 << 20
    tmp_bytes: int = 256 << 20
    open_files: int = 256
    threads: int = 64
    result_bytes: int = 8 << 20


@dataclass
class SandboxResult:
    ok: bool
    table: dict[str, Any] | None = None
    chart_png: bytes | None = None
    stdout: str = ""
    error: str | None = None
    error_kind: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_HERE = Path(__file__).resolve().parent
_CHILD = str(_HERE / "sandbox_child.py")
_LAUNCH = str(_HERE / "sandbox_launch.py")
_DATA_DIR = "/data"
_CHILD_IN = "/sandbox/child.py"
_ENV = {
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": "/tmp/.mpl",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
}
UNAVAILABLE = (
    "the Python sandbox cannot start: {why}. Install bubblewrap (Debian: apt-get install bubblewrap) "
    "on a kernel that allows user namespaces, or set SWITCHBOARD_SANDBOX_UNSAFE=1 to run generated "
    "code without the kernel boundary (not a security boundary)"
)


def _rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    return {
        "RLIMIT_AS": (limits.memory_bytes, limits.memory_bytes),
        "RLIMIT_CPU": (limits.cpu_s, limits.cpu_s + 1),
        "RLIMIT_FSIZE": (limits.file_bytes, limits.file_bytes),
        "RLIMIT_NOFILE": (limits.open_files, limits.open_files),
        "RLIMIT_NPROC": (limits.threads, limits.threads),
        "RLIMIT_CORE": (0, 0),
    }


def _bwrap_command(bwrap: str, data: list[str], limits: Limits) -> tuple[list[str], list[str]]:
    """The bwrap command line (sources as ``@N``) and the staged source paths."""
    stage: list[str] = []

    def src(path: str) -> str:
        stage.append(path)
        return f"@{len(stage) - 1}"

    # uid/gid 65534: nobody inside; the launcher runs bwrap as nobody outside too
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    # the tmpfs first: binds below land on top of it (a checkout or venv may live under /tmp)
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    for prefix in sorted(prefixes):
        if not prefix.startswith("/usr/"):
            argv += ["--ro-bind", src(prefix), prefix]
    if os.path.realpath(sys.prefix) != sys.prefix:  # a venv reached through a symlink
        argv += ["--symlink", os.path.realpath(sys.prefix), sys.prefix]
    for path in data:  # files, not their folder: nobody may read a file in a folder only root enters
        argv += ["--ro-bind", src(path), f"{_DATA_DIR}/{os.path.basename(path)}"]
    argv += ["--ro-bind", src(_CHILD), _CHILD_IN]
    argv += ["--remount-ro", "/", "--clearenv", "--chdir", "/tmp"]
    for key, value in _ENV.items():
        argv += ["--setenv", key, value]
    return argv, stage


class Sandbox:
    """Runs generated Python, at most ``pool`` runs at once."""

    def __init__(self, limits: Limits | None = None, settings: SandboxSettings | None = None) -> None:
        self.limits = limits or Limits()
        self.settings = settings or SandboxSettings()
        self._slots = asyncio.Semaphore(self.settings.pool)
        self._unavailable: str | None = None
        self._checked = False

    async def check(self) -> str | None:
        """Why the kernel boundary cannot be had here, or None when it can (checked once)."""
        if not self._checked:
            self._unavailable = await self._probe()
            self._checked = True
        return self._unavailable

    async def _probe(self) -> str | None:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            return "bubblewrap (bwrap) is not installed"
        with tempfile.NamedTemporaryFile() as empty:
            os.chmod(empty.name, 0o644)
            argv, stage = _bwrap_command(bwrap, [empty.name], self.limits)
            proc = await self._launch(argv + [sys.executable, "-I", "-c", "pass"], stage, drop=True)
            try:
                _, err = await asyncio.wait_for(proc.communicate(b""), 60)
            except TimeoutError:
                _kill(proc)
                return "bubblewrap did not start within 60 s"
        if proc.returncode != 0:
            return "the kernel refused it: " + err.decode(errors="replace").strip()[-500:]
        return None

    async def run(self, code: str, data_path: Path) -> SandboxResult:
        if not _exists(data_path):
            return SandboxResult(False, error=f"dataset file {data_path} is missing", error_kind="runtime")
        why = await self.check()
        async with self._slots:
            if why is None:
                return await self._run_bwrap(code, data_path)
            if self.settings.unsafe:
                return await self._run_unsafe(code, data_path)
        return SandboxResult(False, error=UNAVAILABLE.format(why=why), error_kind="refused")

    async def _run_bwrap(self, code: str, data_path: Path) -> SandboxResult:
        bwrap = shutil.which("bwrap") or "bwrap"
        argv, stage = _bwrap_command(bwrap, _data_files(data_path), self.limits)
        child = [sys.executable, "-I", _CHILD_IN, "/tmp", f"{_DATA_DIR}/{data_path.name}"]
        child += [str(self.limits.output_bytes), "kernel"]
        return await self._exchange(await self._launch(argv + child, stage, drop=True), code)

    async def _run_unsafe(self, code: str, data_path: Path) -> SandboxResult:
        with tempfile.TemporaryDirectory(prefix="sandbox-") as workdir:
            child = [sys.executable, "-I", _CHILD, workdir, _data_files(data_path)[0]]
            child += [str(self.limits.output_bytes), "unsafe"]
            env = {**_ENV, "HOME": workdir, "TMPDIR": workdir, "MPLCONFIGDIR": f"{workdir}/.mpl"}
            proc = await self._launch(child, [], drop=False, env=env, cwd=workdir)
            return await self._exchange(proc, code)

    async def _launch(
        self,
        argv: list[str],
        stage: list[str],
        *,
        drop: bool,
        env: dict[str, str] | None = None,
        cwd: str = "/",
    ) -> asyncio.subprocess.Process:
        spec = {"argv": argv, "stage": stage, "drop": drop, "limits": _rlimits(self.limits)}
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            _LAUNCH,
            json.dumps(spec),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env or {},  # nothing of the worker's environment reaches the sandbox
            cwd=cwd,
        )

    async def _exchange(self, proc: asyncio.subprocess.Process, code: str) -> SandboxResult:
        limits = self.limits
        assert proc.stdin and proc.stdout and proc.stderr
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(code.encode())
                await proc.stdin.drain()
                proc.stdin.close()
            out, err, _ = await asyncio.wait_for(
                asyncio.gather(
                    _read_capped(proc.stdout, limits.result_bytes, proc),
                    _read_capped(proc.stderr, 64_000, None),
                    proc.wait(),
                ),
                limits.wall_s,
            )
        except TimeoutError:
            return SandboxResult(
                False,
                error=f"the code ran longer than {limits.wall_s:g} s and was stopped",
                error_kind="timeout",
            )
        finally:
            _kill(proc)
            await proc.wait()
        if out is None:
            return SandboxResult(
                False, error=f"the result is larger than {limits.result_bytes} bytes", error_kind="limit"
            )
        return _collect(proc.returncode, out, err or b"", limits)


def _exists(path: Path) -> bool:
    return path.exists()


def _data_files(data_path: Path) -> list[str]:
    """The dataset file and its write-ahead log, if one is left."""
    real = data_path.resolve()
    return [str(real)] + [str(p) for p in (real.with_name(real.name + ".wal"),) if p.exists()]


async def run_python(code: str, data_path: Path, limits: Limits | None = None) -> SandboxResult:
    """One run in a sandbox of its own (tests, the CLI); workers keep one ``Sandbox``."""
    return await Sandbox(limits).run(code, data_path)


async def _read_capped(
    stream: asyncio.StreamReader, cap: int, proc: asyncio.subprocess.Process | None
) -> bytes | None:
    """All of a stream, or None (and the process killed) once it passes ``cap`` bytes."""
    buf = bytearray()
    while chunk := await stream.read(1 << 16):
        if len(buf) + len(chunk) > cap:
            if proc is None:
                buf += chunk[: cap - len(buf)]
                continue  # stderr: keep the head, drain the rest
            _kill(proc)
            return None
        buf += chunk
    return bytes(buf)


def _collect(returncode: int | None, out: bytes, stderr: bytes, limits: Limits) -> SandboxResult:
    if returncode and returncode < 0:
        sig = signal.Signals(-returncode).name
        why = {"SIGXCPU": "the CPU-time limit", "SIGKILL": "signal SIGKILL (memory or process limits)"}
        return SandboxResult(
            False, error=f"the code was stopped by {why.get(sig, 'signal ' + sig)}", error_kind="limit"
        )
    try:
        outcome = json.loads(out)
        if not isinstance(outcome, dict):
            raise ValueError("not an object")
    except ValueError:
        tail = stderr.decode(errors="replace")[-2_000:]
        if "CPU time limit" in tail or returncode in (128 + signal.SIGXCPU, 128 + signal.SIGKILL):
            return SandboxResult(
                False, error="the code was stopped by the CPU-time limit", error_kind="limit"
            )
        return SandboxResult(
            False,
            error=f"the sandbox exited with code {returncode} and no result: {tail}",
            error_kind="runtime",
        )
    png = None
    if isinstance(outcome.get("chart"), str):
        with contextlib.suppress(ValueError):
            png = base64.b64decode(outcome["chart"], validate=True)
    return SandboxResult(
        ok=bool(outcome.get("ok")),
        table=outcome.get("table") if isinstance(outcome.get("table"), dict) else None,
        chart_png=png,
        stdout=str(outcome.get("stdout", ""))[: limits.output_bytes],
        error=str(outcome["error"])[:20_000] if outcome.get("error") else None,
        error_kind=outcome.get("error_kind") if outcome.get("error_kind") in _KINDS else None,
        extra={"stdout_truncated": bool(outcome.get("stdout_truncated"))},
    )


_KINDS = {"refused", "timeout", "limit", "runtime"}


def _kill(proc: asyncio.subprocess.Process) -> None:
    """The launcher is bwrap itself (exec) and a session leader: its group, then it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
