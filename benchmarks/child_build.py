"""An index build measured in a child process: its wall and CPU seconds, index bytes and peak memory.

``build_in_child`` runs this file as a script (``python child_build.py ENGINE SOURCE OUT PARAMS RESULT
THREADS``) so that the build's memory is its own: the peak is the larger of the child's high-water mark
(VmHWM) and the summed RSS of its process tree (an Anserini JVM included), sampled from /proc every 0.1 s;
ru_maxrss is not used, as Linux carries the parent's RSS at fork into it. Used by engines.py and
build_scaling.py.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import REPO  # sets sys.path


def _tree_rss(root: int) -> int:
    """Summed resident bytes of ``root`` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def build_in_child(engine: str, source: Path, out: Path, params: dict, threads: int) -> dict:
    """Build one index in a child process; returns seconds (the child's wall time around ``build``), index
    bytes and the peak RSS of the child and its descendants."""
    result = out.parent / f".{out.name}.build.json"
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, str(Path(__file__).resolve()), engine, str(source), str(out), json.dumps(params),
               str(result), str(threads)]
    child = subprocess.Popen(command, env=env, cwd=REPO)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.wait(0.1):
            peak = max(peak, _tree_rss(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        code = child.wait()
    finally:
        stop.set()
        sampler.join()
        if child.poll() is None:
            child.kill()
    if code != 0:
        raise RuntimeError(f"building {engine} failed (exit {code})")
    facts = json.loads(result.read_text())
    result.unlink()
    facts["sampled_tree_rss_bytes"] = peak
    facts["peak_rss_bytes"] = max(peak, facts["self_hwm_bytes"])
    return facts


def build_child_main(engine: str, source: str, out: str, params: str, result: str, threads: str) -> None:
    from lilsr_tools.engines import get_engine
    from lilsr_tools.engines.base import folder_bytes

    cls = get_engine(engine)
    kwargs = json.loads(params)
    if "threads" in inspect.signature(cls.build).parameters:
        kwargs["threads"] = int(threads)
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    cls.build(source, out, overwrite=True, **kwargs)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    kid = resource.getrusage(resource.RUSAGE_CHILDREN)  # an Anserini JVM's CPU time
    cpu_seconds += kid.ru_utime + kid.ru_stime
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork into a child's ru_maxrss across exec
    hwm = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux; inflated the same way
    Path(result).write_text(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "index_bytes": folder_bytes(out),
                                        "self_hwm_bytes": hwm, "children_maxrss_bytes": kids}))


if __name__ == "__main__":
    build_child_main(*sys.argv[1:7])
