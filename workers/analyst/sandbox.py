"""The Python sandbox: generated code runs in a separate process with no
network, read-only data, writes only to its own temp dir, CPU, wall-time,
memory, process and output limits, and an import allowlist.

Layers, outermost first: a new network namespace when the kernel allows it
(root), resource limits (RLIMIT_AS/CPU/FSIZE/NOFILE/NPROC), its own process
group killed on the wall-time limit, then inside the interpreter an audit hook
that refuses process creation, sockets, ctypes and file access outside the
allowed paths, and guarded imports. The audit hook is defence in depth, not a
kernel boundary; the namespace and limits are.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 20
    wall_s: float = 30.0
    memory_bytes: int = 2 << 30
    output_bytes: int = 64_000
    file_bytes: int = 20 << 20
    open_files: int = 256
    processes: int = 64


@dataclass
class SandboxResult:
    ok: bool
    table: dict[str, Any] | None = None
    chart_png: bytes | None = None
    stdout: str = ""
    error: str | None = None
    error_kind: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _preexec(limits: Limits) -> None:
    """In the child before exec: own session, no network, resource limits."""
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(CLONE_NEWNET)  # fails without privileges: the audit hook still refuses sockets
    except OSError:
        pass  # no namespace (not root): the audit hook still refuses sockets
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _env(workdir: str, mpl_dir: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    return {
        **keep,
        "HOME": workdir,
        "TMPDIR": workdir,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": mpl_dir,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


_ROOT = str(Path(__file__).resolve().parents[2])


def _dataset_paths(data_path: Path) -> tuple[str, str] | None:
    """(resolved dataset file, matplotlib cache dir), or None when the file is missing."""
    if not data_path.exists():
        return None
    mpl_dir = data_path.parent / ".mplconfig"
    mpl_dir.mkdir(exist_ok=True)
    return str(data_path.resolve()), str(mpl_dir)


_CHILD = str(Path(__file__).with_name("sandbox_child.py"))


async def run_python(code: str, data_path: Path, limits: Limits | None = None) -> SandboxResult:
    limits = limits or Limits()
    paths = _dataset_paths(data_path)
    if paths is None:
        return SandboxResult(False, error=f"dataset file {data_path} is missing", error_kind="runtime")
    data, mpl_dir = paths
    with tempfile.TemporaryDirectory(prefix="sandbox-") as workdir:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            _CHILD,  # by path: the child imports nothing of ours
            workdir,
            data,
            str(limits.output_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=_ROOT,
            env=_env(workdir, mpl_dir),
            preexec_fn=lambda: _preexec(limits),
        )
        try:
            _, stderr = await asyncio.wait_for(proc.communicate(code.encode()), limits.wall_s)
        except TimeoutError:
            _kill(proc.pid)
            await proc.wait()
            return SandboxResult(
                False,
                error=f"the code ran longer than {limits.wall_s:g} s and was stopped",
                error_kind="timeout",
            )
        finally:
            _kill(proc.pid)  # anything the code left running in its group
        return _collect(proc.returncode, stderr, Path(workdir), limits)


def _collect(returncode: int | None, stderr: bytes, workdir: Path, limits: Limits) -> SandboxResult:
    """Read what the sandbox left in its working directory."""
    if returncode and returncode < 0:
        sig = signal.Signals(-returncode).name
        why = {"SIGXCPU": "the CPU-time limit", "SIGKILL": "signal SIGKILL (memory or process limits)"}
        return SandboxResult(
            False, error=f"the code was stopped by {why.get(sig, 'signal ' + sig)}", error_kind="limit"
        )
    result_file = workdir / "result.json"
    if not result_file.exists():
        tail = stderr.decode(errors="replace")[-2_000:]
        return SandboxResult(
            False, error=f"the sandbox exited with code {returncode}: {tail}", error_kind="runtime"
        )
    try:
        outcome = json.loads(result_file.read_text(encoding="utf-8"))
    except ValueError:
        return SandboxResult(False, error="the sandbox wrote an unreadable result", error_kind="runtime")
    chart = workdir / "chart.png"
    png = chart.read_bytes() if outcome.get("chart") and chart.exists() else None
    return SandboxResult(
        ok=bool(outcome.get("ok")),
        table=outcome.get("table"),
        chart_png=png,
        stdout=str(outcome.get("stdout", ""))[: limits.output_bytes],
        error=outcome.get("error"),
        error_kind=outcome.get("error_kind"),
        extra={"stdout_truncated": bool(outcome.get("stdout_truncated"))},
    )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
