"""A flapping bus under `switchboard up` (jobs, music-ingest, music-embed and
the edge): NATS is killed with SIGKILL and started again on a cycle for five
minutes; a job is submitted after each recovery.

    python bench/bus/flapping.py [--minutes 5] [--up-s 20] [--down-s 10]

Prints the log lines written per outage and per minute, tracebacks, how long
the edge took to be ready again, and the jobs' ends. Figures only."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.flapping import KINDS, run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--up-s", type=float, default=20.0)
    ap.add_argument("--down-s", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="flapping-") as tmp:
        r = run(Path(tmp), args.minutes * 60, args.up_s, args.down_s)
    processes = len(KINDS.split(",")) + 1
    ok = r.jobs_after.count("succeeded")
    recovered = sorted(r.recovered_s)
    print(f"\n{r.outages} outages of {args.down_s:g} s in {args.minutes:g} min, {processes} processes")
    print(f"log lines at start: {r.lines_at_start}; while flapping: {r.lines_flapping}")
    print(f"  per outage: {r.per_outage:.1f} ({r.per_outage / processes:.1f} per process)")
    print(f"  per minute: {r.lines_flapping / args.minutes:.1f}")
    print(f"  tracebacks: {r.tracebacks}")
    print(f"  by logger: {r.by_logger}")
    if recovered:
        print(
            f"ready again after a restart: median {recovered[len(recovered) // 2]:.1f} s, max {recovered[-1]:.1f} s"
        )
    print(f"jobs after an outage: {ok} of {len(r.jobs_after)} succeeded {sorted(set(r.jobs_after))}")


if __name__ == "__main__":
    main()
