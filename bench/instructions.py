"""Instruction counts under callgrind, for comparing two versions of the code on a
machine whose neighbours move every timing by ±30 %: the same code, inputs and
environment give the same count to within a few thousandths.

`bench.profile --instructions` re-runs itself under
`valgrind --tool=callgrind --instr-atstart=no`; this module switches the counting on and
off around each measured loop through callgrind's client requests (a few lines of C,
built with gcc on first use), and reads the counts back from the dumps.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

UNDER_CALLGRIND = "PASSKEY_BENCH_CALLGRIND_DIR"

_SOURCE = """
#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void count_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""


def _library() -> ctypes.CDLL:
    folder = Path(tempfile.gettempdir()) / "passkey-bench"
    folder.mkdir(exist_ok=True)
    library = folder / f"count-{hashlib.sha256(_SOURCE.encode()).hexdigest()[:12]}.so"
    if not library.exists():
        source = library.with_suffix(".c")
        source.write_text(_SOURCE)
        subprocess.run(
            ["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], check=True
        )
    return ctypes.CDLL(str(library))


class Counter:
    """Counts what runs between start() and stop(); a no-op outside callgrind."""

    def __init__(self) -> None:
        self._lib = _library() if os.environ.get(UNDER_CALLGRIND) else None

    def start(self) -> None:
        if self._lib is not None:
            self._lib.count_start()

    def stop(self) -> None:
        if self._lib is not None:
            self._lib.count_stop()


def rerun_under_callgrind(module: str, args: list[str]) -> list[int]:
    """Run `python -m module args` under callgrind; the instruction count of each
    start()/stop() span, in order."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={folder}/out",
            sys.executable,
            "-m",
            module,
            *args,
        ]
        # A fixed hash seed: dict and set layouts, and so the count, repeat run to run.
        env = {**os.environ, UNDER_CALLGRIND: folder, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)
        dumps = sorted(
            (p for p in Path(folder).glob("out.*") if p.suffix[1:].isdigit()),
            key=lambda p: int(p.suffix[1:]),
        )
        return [_total(dump) for dump in dumps]


def _total(dump: Path) -> int:
    # "totals:" closes the dump; "summary:" at its top may still read 0.
    for line in reversed(dump.read_text().splitlines()):
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"no totals in {dump}")
