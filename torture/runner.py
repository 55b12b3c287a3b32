"""Run scenarios one after another, print a table, exit non-zero on any loss or error."""

from __future__ import annotations

import argparse
import importlib
import json
import time
import traceback
from pathlib import Path
from typing import Any

from torture.result import Result

#: Every scenario, in the order they run: a module ``torture/<name>.py`` exposing ``run(scale)``.
SCENARIOS: tuple[str, ...] = ("crashes", "contention", "server_load", "faults", "fuzz")


def run_scenario(name: str, scale: str) -> Result:
    """Import and run one scenario; an exception or a missing module is a failure, not a skip."""
    started = time.monotonic()
    try:
        module: Any = importlib.import_module(f"torture.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"torture.{name}":
            raise
        return Result(name, "-", failures=[f"torture/{name}.py is missing"])
    try:
        result: Result = module.run(scale)
    except Exception:
        result = Result(name, scale, failures=[f"crashed:\n{traceback.format_exc()}"])
    result.seconds = time.monotonic() - started
    return result


def table(results: list[Result]) -> str:
    lines = [f"{'scenario':<14} {'status':<6} {'seconds':>8}  scale / figures"]
    for r in results:
        lines.append(f"{r.name:<14} {'ok' if r.ok else 'FAIL':<6} {r.seconds:>8.1f}  {r.scale}")
        for key, value in r.figures.items():
            shown = (
                f"{value:,.1f}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else value
            )
            lines.append(f"{'':<31}{key}: {shown}")
        for failure in r.failures:
            lines.append(f"{'':<31}FAILURE: {failure}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torture", description=__doc__)
    parser.add_argument("--scale", choices=("ci", "full"), default="ci")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SCENARIOS,
        metavar="NAME",
        help=f"run only these scenarios ({', '.join(SCENARIOS)})",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results: list[Result] = []
    for name in args.only or SCENARIOS:
        print(f"== {name} ({args.scale} scale)", flush=True)
        results.append(run_scenario(name, args.scale))
        print(table(results[-1:]), flush=True)
    print("\n== torture summary")
    print(table(results))
    if args.json:
        rows = [
            {
                "name": r.name,
                "scale": r.scale,
                "ok": r.ok,
                "seconds": round(r.seconds, 1),
                "figures": r.figures,
                "failures": r.failures,
            }
            for r in results
        ]
        args.json.write_text(json.dumps(rows, indent=2))
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print(f"\nall {len(results)} scenario(s) ok")
    return 0
