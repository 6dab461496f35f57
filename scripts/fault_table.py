"""Run the fault corpus (tests/test_faults.py) once and print its table: case, exit, message.

    python3 scripts/fault_table.py [--json OUT.json] [pytest args ...]

The table comes from the test run itself (each case records what it saw), so it is exactly what
was asserted.  Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="also keep the table as JSON here")
    args, pytest_args = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(args.json or Path(tmp) / "faults.json").resolve()
        env = dict(os.environ, RT_SALIENCY_FAULT_TABLE=str(table))
        status = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_faults.py",
                                 *pytest_args], cwd=REPO, env=env).returncode
        rows = json.loads(table.read_text()) if table.exists() else []
    print("\n| case | exit | message |\n|---|---|---|")
    for row in rows:
        message = row["message"].replace("|", "\\|")
        print(f"| {row['case']} | {row['exit']} | {message} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
