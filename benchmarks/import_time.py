"""``import traza`` in-process: min and median wall clock over fresh interpreters; what it loads.

Each run is a new ``python -c`` that times ``import traza`` itself (interpreter start-up not
counted). Bytecode is cached first (``PYTHONPYCACHEPREFIX``, a temporary folder, so the tree
gets no ``__pycache__``), as it is for any installed package; with
``PYTHONDONTWRITEBYTECODE=1`` and no cache every run would compile Traza's sources again.

    python benchmarks/import_time.py            # 30 runs
    python benchmarks/import_time.py --runs 50 --src /some/other/checkout/src
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

GOAL_MS = 50.0
CODE = "import time; t = time.perf_counter(); import traza; print(time.perf_counter() - t)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--src", help="import traza from this folder (PYTHONPATH) instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="traza-pyc-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        if args.src:
            env["PYTHONPATH"] = args.src
        subprocess.run([sys.executable, "-c", "import traza"], env=env, check=True)
        seconds = []
        selves: dict[str, int] = defaultdict(lambda: 10**12)
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", CODE],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            seconds.append(float(out.stdout.strip()))
            for line in out.stderr.splitlines():
                found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
                if found:
                    selves[found.group(2)] = min(selves[found.group(2)], int(found.group(1)))
    low, mid = min(seconds) * 1000, statistics.median(seconds) * 1000
    verdict = "met" if low < GOAL_MS else "NOT met"
    print(f"import traza: min {low:.1f} ms, median {mid:.1f} ms over {args.runs} runs")
    print(f"goal < {GOAL_MS:g} ms (min): {verdict}; load average {os.getloadavg()[0]:.2f}")
    print("largest own import times (us, min over runs; -X importtime includes its overhead):")
    for name, us in sorted(selves.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {us:7d}  {name}")


if __name__ == "__main__":
    main()
