"""Build an index in a child process and measure what the build cost: wall seconds and peak memory.

Peak resident memory of a build is only meaningful for the build alone, so it runs in a fresh child
(``python -m lilsr_tools.engines.measured_build ENGINE SOURCE OUT PARAMS_JSON``). Two figures: the peak
of the largest single process (the child's own high-water mark, VmHWM, or the largest process sampled, e.g.
the Anserini JVM), and the peak of the whole process tree's resident memory sampled every 50 ms from /proc
(Python and its JVM together), which is what the machine must hold. Not ``ru_maxrss``: Linux carries the
parent's resident size at fork into the child's ``ru_maxrss`` across exec, so a child of a 12 GB process
reported 12 GB for a build that used 1.3 GB. The child dies with its parent (PR_SET_PDEATHSIG on Linux).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import LilsrError

SAMPLE_SECONDS = 0.05
HWM_PREFIX = "lilsr-build-vmhwm "
RESULT_FILE = "build.json"  # written beside the index's manifest: how the build went, for reports


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as handle:
                    found += [int(c) for c in handle.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return found


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 once gone)."""
    return tree_rss_parts(pid)[0]


def tree_rss_parts(pid: int) -> tuple[int, int]:
    """(resident bytes of ``pid`` and all its descendants, of the largest of them)."""
    total, largest, stack = 0, 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                rss = int(handle.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        total += rss
        largest = max(largest, rss)
        stack += _children(current)
    return total, largest


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def measured_build(engine: str, source: str | Path, out: str | Path, params: dict | None = None,
                   threads: int | None = None, echo=None) -> dict:
    """Build ``engine``'s index of the store ``source`` at ``out`` in a child process; returns (and writes to
    ``out/build.json``) wall seconds, peak RSS of the largest process and of the process tree, in bytes."""
    out = Path(out)
    payload = json.dumps({"params": params or {}, "threads": threads})
    command = [sys.executable, "-m", "lilsr_tools.engines.measured_build", engine, str(source), str(out), payload]
    started = time.perf_counter()
    # every engine builds on the same threads: a search-time RAYON_NUM_THREADS=1 (Rust Seismic's pool, set by
    # benchmarks before import) must not make Seismic's build single-threaded beside a two-thread native one
    env = {key: value for key, value in os.environ.items() if key != "RAYON_NUM_THREADS"}
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    peak = [0, 0]  # tree, largest process
    done = threading.Event()

    def sample():
        while not done.is_set():
            total, largest = tree_rss_parts(process.pid)
            peak[0], peak[1] = max(peak[0], total), max(peak[1], largest)
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tail: list[str] = []
    try:
        for line in process.stdout:
            if line.startswith(HWM_PREFIX):  # the child's own high-water mark, its last line
                peak[1] = max(peak[1], int(line[len(HWM_PREFIX):]))
                continue
            tail = (tail + [line.rstrip()])[-20:]
            if echo:
                echo(line.rstrip())
        # wait4 gives this child's own resource usage (with the descendants it waited for, e.g. the JVM)
        _, status, usage = os.wait4(process.pid, 0)
        code = process.returncode = os.waitstatus_to_exitcode(status)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    if code != 0:
        message = next((line for line in reversed(tail) if line.startswith("lilsr: error:")), None)
        raise LilsrError(message.removeprefix("lilsr: error: ") if message else
                         f"building the {engine} index failed (exit {code}): " + " | ".join(tail[-4:]))
    result = {"engine": engine, "wall_seconds": round(seconds, 2),
              "peak_rss_bytes": peak[1], "peak_tree_rss_bytes": max(peak[0], peak[1]),
              "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), "sample_seconds": SAMPLE_SECONDS}
    if out.is_dir():
        (out / RESULT_FILE).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def read_build_result(index: str | Path) -> dict:
    try:
        return json.loads((Path(index) / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _child(argv: list[str]) -> int:
    from . import get_engine

    engine, source, out, payload = argv
    spec = json.loads(payload)
    cls = get_engine(engine)
    kwargs = dict(spec["params"])
    if spec.get("threads") and engine not in ("exact",):
        kwargs["threads"] = spec["threads"]
    try:
        if engine == "exact":
            # exact search builds nothing: its cost is loading the store and the term-major copy it searches
            cls.load(source)
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "exact.json").write_text(json.dumps({"source": source}), encoding="utf-8")
        else:
            cls.build(source, out, overwrite=True, **kwargs)
    except LilsrError as exc:
        print(f"lilsr: error: {exc}", flush=True)
        return 2
    print(f"{HWM_PREFIX}{_own_high_water_mark()}", flush=True)
    return 0


def _own_high_water_mark() -> int:
    """This process's peak resident bytes since exec (VmHWM; 0 where /proc has none)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
