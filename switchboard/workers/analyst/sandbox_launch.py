"""Starts bubblewrap for one sandbox run; run by path (``python -I``), imports nothing of ours.

argv[1] is JSON: ``{"argv": [command], "stage": [paths], "drop": bool, "limits": {name: [soft, hard]}}``;
arguments written ``@N`` in the command are ``stage[N]``.

As root, the paths the sandbox needs may sit under directories only root can
enter (a Python under /root). So the launcher first takes a private mount
namespace, bind-mounts each staged path onto a tmpfs of its own, then drops
to ``nobody`` and execs bwrap, which runs unprivileged in a new user
namespace. As another user it execs bwrap directly with the real paths.
Resource limits are set here so bwrap and everything under it inherit them.
"""

import ctypes
import json
import os
import resource
import sys
import warnings  # noqa: F401  (os.execv imports it lazily, after /root is out of reach)

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
NOBODY = 65534


def _fail(what: str) -> None:
    sys.stderr.write(f"sandbox launcher: {what}\n")
    os._exit(125)


def _stage_as_root(libc: ctypes.CDLL, stage: list[str]) -> list[str]:
    def check(rc: int, what: str) -> None:
        if rc != 0:
            _fail(f"{what}: {os.strerror(ctypes.get_errno())}")

    check(libc.unshare(CLONE_NEWNS), "private mount namespace")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
    # held open before the tmpfs hides /tmp, where a source may live
    fds = [os.open(src, os.O_PATH | os.O_CLOEXEC) for src in stage]
    # a tmpfs over /tmp in this namespace only: the staging points vanish with it
    check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"), "staging")
    staged = []
    for i, (src, fd) in enumerate(zip(stage, fds, strict=True)):
        dst = f"/tmp/s{i}"
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.mkdir(dst)
        else:
            os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644))
        check(
            libc.mount(f"/proc/self/fd/{fd}".encode(), dst.encode(), None, MS_BIND | MS_REC, None),
            f"bind {src}",
        )
        os.close(fd)
        staged.append(dst)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return staged


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.setsid()
    for name, (soft, hard) in spec["limits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    stage = spec["stage"]
    if spec["drop"] and os.getuid() == 0:
        stage = _stage_as_root(ctypes.CDLL(None, use_errno=True), stage)
    argv = [stage[int(a[1:])] if a.startswith("@") and a[1:].isdigit() else a for a in spec["argv"]]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
