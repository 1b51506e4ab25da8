"""Runs inside the sandbox process: imports the allowed libraries, loads the
seccomp filter, installs the audit hook and executes the code.

Protocol: argv = [workdir, data_path, output_limit, "kernel" | "unsafe"]; the
code comes on stdin; the outcome is one JSON document on stdout (the chart
as base64 PNG). Not imported by the worker process itself.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import io
import json
import math
import os
import sys
import traceback
from typing import Any

ALLOWED_IMPORTS = {
    "pandas",
    "numpy",
    "duckdb",
    "matplotlib",
    "math",
    "statistics",
    "collections",
    "itertools",
    "functools",
    "datetime",
    "re",
    "json",
    "decimal",
    "fractions",
    "random",
    "string",
    "textwrap",
    "operator",
    "heapq",
    "bisect",
    "typing",
    "dataclasses",
}
BLOCKED_EVENTS = {
    "os.system",
    "subprocess.Popen",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "socket.__new__",
    "socket.connect",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.sendto",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "ctypes.cdata",
    "ctypes.call_function",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "sys.setrecursionlimit",
    "os.putenv",
    "os.unsetenv",
    "os.chdir",
    "webbrowser.open",
    "urllib.Request",
    "ftplib.connect",
    "smtplib.connect",
    "http.client.connect",
}
PATH_EVENTS = {"os.remove", "os.rmdir", "os.rename", "shutil.rmtree", "os.truncate", "os.mkdir", "os.replace"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Refused(PermissionError):
    pass


# syscalls refused once the libraries are loaded (errno EPERM); clone is refused
# unless it makes a thread, clone3 answers ENOSYS so threads fall back to clone
DENIED_SYSCALLS = (
    "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "mknod", "mknodat", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "personality", "name_to_handle_at", "open_by_handle_at",
)  # fmt: skip
CLONE_THREAD = 0x00010000


def _lock_syscalls(required: bool) -> None:
    """Loads the seccomp filter; irreversible for this process and its threads."""
    try:
        import pyseccomp as seccomp
    except ImportError:
        if required:
            raise SystemExit(
                "sandbox: pyseccomp is missing; refusing to run without the seccomp filter"
            ) from None
        return
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        with contextlib.suppress(RuntimeError, ValueError):  # a syscall this architecture lacks
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    f.load()


def _limited_stdout(limit: int) -> io.StringIO:
    class Bounded(io.StringIO):
        truncated = False

        def write(self, s: str) -> int:
            room = limit - self.tell()
            if room <= 0:
                self.truncated = True
                return len(s)
            if len(s) > room:
                self.truncated = True
            return super().write(s[:room])

    return Bounded()


def _install_guard(workdir: str, readable: list[str]) -> None:
    work = os.path.realpath(workdir)
    read_roots = [os.path.realpath(p) for p in readable] + [work]

    def inside(path: str, roots: list[str]) -> bool:
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in BLOCKED_EVENTS:
            raise Refused(f"{event} is not allowed in the sandbox")
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return
            path = os.fsdecode(path)
            writing = (mode is not None and any(c in mode for c in "wax+")) or bool(
                (flags or 0) & WRITE_FLAGS
            )
            if writing and not inside(path, [work]):
                raise Refused(f"writing {path} is not allowed (only the working directory is writable)")
            if not writing and not inside(path, read_roots):
                raise Refused(f"reading {path} is not allowed")
        elif event in PATH_EVENTS:
            for p in args:
                if isinstance(p, str | bytes) and not inside(os.fsdecode(p), [work]):
                    raise Refused(f"{event} outside the working directory is not allowed")
        elif (
            event in ("os.listdir", "os.scandir")
            and args
            and isinstance(args[0], str | bytes)
            and not inside(os.fsdecode(args[0]), read_roots)
        ):
            raise Refused(f"listing {os.fsdecode(args[0])} is not allowed")

    sys.addaudithook(hook)


FORBIDDEN_NAMES = {
    "__import__",
    "eval",
    "exec",
    "compile",
    "globals",
    "locals",
    "vars",
    "getattr",
    "setattr",
    "delattr",
    "open",
    "breakpoint",
    "input",
    "exit",
    "quit",
    "help",
    "memoryview",
    "__builtins__",
    "__loader__",
    "__spec__",
}


def check_code(code: str) -> None:
    """Static rules, checked before anything runs: imports from the allowlist only,
    no dynamic code or attribute tricks, no private or dunder attributes. (Imports
    are checked here rather than by replacing __import__, which C extensions such
    as DuckDB's use too.)"""
    import ast

    try:
        tree = ast.parse(code, filename="<analysis>")
    except SyntaxError as exc:
        raise SyntaxError(f"line {exc.lineno}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if getattr(node, "level", 0) or top not in ALLOWED_IMPORTS:
                    allowed = ", ".join(sorted(ALLOWED_IMPORTS))
                    raise Refused(
                        f"line {node.lineno}: import of {name!r} is not allowed; allowed: {allowed}"
                    )
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            raise Refused(f"line {node.lineno}: {node.id} is not allowed in analysis code")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise Refused(f"line {node.lineno}: private attribute .{node.attr} is not allowed")


def _describe(exc: BaseException) -> str:
    """The exception and the line of the analysis code it came from."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<analysis>"]
    where = f"line {lines[-1]}: " if lines else ""
    return (where + "".join(traceback.format_exception_only(exc)).strip())[-4_000:]


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return _jsonable(v.item())
    except ImportError:
        pass
    return str(v)[:4_000]


def _table(result: Any, max_rows: int) -> dict[str, Any] | None:
    import pandas as pd

    if result is None:
        return None
    if isinstance(result, pd.Series):
        result = result.to_frame()
    if not isinstance(result, pd.DataFrame):
        if isinstance(result, list | tuple) and result and isinstance(result[0], dict):
            result = pd.DataFrame(result)
        elif isinstance(result, dict):
            result = pd.DataFrame([result])
        else:
            result = pd.DataFrame({"value": [result]})
    if not isinstance(result.index, pd.RangeIndex):
        result = result.reset_index()
    total = len(result)
    head = result.head(max_rows)
    rows = [[_jsonable(v) for v in row] for row in head.itertuples(index=False, name=None)]
    return {
        "columns": [str(c)[:128] or f"col{i}" for i, c in enumerate(head.columns)],
        "rows": rows,
        "truncated": total > max_rows,
        "total_rows": total,
    }


def main() -> None:
    workdir, data_path, out_limit, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    code = sys.stdin.read()
    # the outcome goes to a private copy of stdout; fd 1 points at /dev/null so
    # stray writes from libraries cannot corrupt it
    result_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.chdir(workdir)
    import duckdb
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    con = duckdb.connect(
        data_path, read_only=True, config={"enable_external_access": False, "lock_configuration": True}
    )
    readable = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        os.path.dirname(data_path),
        "/usr/share",
        "/usr/lib",
        "/lib",
        "/dev/null",
        "/dev/urandom",
        "/proc/self",
        "/etc/localtime",
    ]
    stdout = _limited_stdout(out_limit)
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "con": con, "pd": pd, "np": np, "plt": plt}
    outcome: dict[str, Any] = {"ok": True}
    _lock_syscalls(required=mode == "kernel")
    _install_guard(workdir, readable)
    try:
        check_code(code)
        compiled = compile(code, "<analysis>", "exec")
        with contextlib.redirect_stdout(stdout):
            exec(compiled, namespace)
        outcome["table"] = _table(namespace.get("result"), 1_000)
        if plt.get_fignums():
            figure = plt.gcf()
            figure.tight_layout()
            png = io.BytesIO()
            figure.savefig(png, format="png", dpi=80)
            outcome["chart"] = base64.b64encode(png.getvalue()).decode()
    except MemoryError:
        outcome = {"ok": False, "error_kind": "limit", "error": "MemoryError: the memory limit was reached"}
    except (Refused, ImportError) as exc:
        outcome = {"ok": False, "error_kind": "refused", "error": f"{type(exc).__name__}: {exc}"}
    except SyntaxError as exc:
        outcome = {"ok": False, "error_kind": "runtime", "error": f"SyntaxError: {exc}"}
    except BaseException as exc:  # the user's code failed: report it like Python would
        outcome = {"ok": False, "error_kind": "runtime", "error": _describe(exc)}
    outcome["stdout"] = stdout.getvalue()
    outcome["stdout_truncated"] = bool(getattr(stdout, "truncated", False))
    data = json.dumps(outcome, default=str).encode()
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(result_fd, data) :]
    os._exit(0)  # no atexit handlers or finalizers of the user's code


if __name__ == "__main__":
    main()
