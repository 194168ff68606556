"""Warm starts: jobs forked from a process that has already imported torch.

A workflow job is a fresh ``lossbarcode`` process, and importing torch alone takes about 2 s on a
laptop CPU: in the quick profile, whose median job computes for a few seconds, start-up was about
half of the wall time. A warm server (``lossbarcode serve``, started by the workflow when the config
says ``warm_start: true``) imports torch and every job module once and listens on a Unix socket. A
job's ``lossbarcode`` command, finding ``$LOSSBARCODE_WARM``, sends its arguments, working folder,
environment and its standard streams (the file descriptors themselves) to the server, which forks a
child that runs the job exactly as the command would and sends back its exit status. The client
stays the job's process for Snakemake: it waits, passes on SIGTERM and SIGINT to the child, and
exits with the child's status; the child ends itself if the client goes away.

Nothing depends on it: with no server (a cluster node, a server that died) the command runs the
job itself. Forking is safe because the server only imports: it starts no threads and touches no
GPU before a fork.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path

WARM = "LOSSBARCODE_WARM"
#: The modules a job may need, imported once by the server so that no child pays for them.
PRELOAD = ("torch", "torch.func", "numpy", "gudhi", "matplotlib.pyplot", "seaborn", "lossbarcode.jobs",
           "lossbarcode.landscape", "lossbarcode.curves", "lossbarcode.simplex", "lossbarcode.train",
           "lossbarcode.data", "lossbarcode.augment", "lossbarcode.barcode", "lossbarcode.figures",
           "lossbarcode.toy", "lossbarcode.models.fcn", "lossbarcode.models.cnn", "lossbarcode.models.embed",
           "lossbarcode.models.gpt")
_STREAMS = 3  # stdin, stdout, stderr
_SIZE = struct.Struct("!i")
#: What a child tells its command, a tag and a number: STARTED and its process id when the job starts,
#: ENDED and the job's exit status when it ends.
_MESSAGE, STARTED, ENDED = struct.Struct("!ci"), b"S", b"E"


def serve(path: str | os.PathLike, *, parent: int | None = None) -> None:
    """Listens on the Unix socket ``path`` and forks one child per job; returns when ``parent`` (a
    process id, e.g. the workflow's) is gone, or on SIGTERM."""
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # the socket file goes too
    path = Path(path)
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(64)
        server.settimeout(1.0)
        try:
            while parent is None or _alive(parent):
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    continue
                if os.fork() == 0:
                    server.close()
                    _child(connection)  # never returns
                connection.close()
        finally:
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _child(connection: socket.socket) -> None:
    """Runs one job in this forked process: the client's streams, folder, environment and arguments."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 1
    try:
        request, fds = _receive(connection)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(WARM, None)  # this process runs the job; it must not ask the server again
        connection.sendall(_MESSAGE.pack(STARTED, os.getpid()))
        threading.Thread(target=_end_with, args=(connection,), daemon=True).start()
        code = _run(request["argv"])
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            connection.sendall(_MESSAGE.pack(ENDED, code))
        os._exit(code)


def _run(argv: list[str]) -> int:
    from .cli import main

    try:
        main(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _end_with(connection: socket.socket) -> None:
    """Ends this job when its client goes away (killed, or the workflow stopped): its end of the
    socket closes, and a job nobody waits for must not go on writing results."""
    with contextlib.suppress(OSError):
        while connection.recv(1):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    size = _SIZE.unpack(_exactly(connection, _SIZE.size))[0]
    fds = array.array("i")
    message, ancillary, _, _ = connection.recvmsg(size, socket.CMSG_SPACE(_STREAMS * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    while len(message) < size:
        message += _exactly(connection, size - len(message))
    return json.loads(message), list(fds)


def _exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        data += chunk
    return data


def run_warm(argv: list[str]) -> int | None:
    """Runs ``lossbarcode argv`` in a child of the warm server named by ``$LOSSBARCODE_WARM`` and
    returns its exit status; None when no server answers (run the job here instead). Once a server
    has taken the job, its failures are the job's: a job is never run twice."""
    path = os.environ.get(WARM)
    if not path:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    with connection:
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        fds = array.array("i", range(_STREAMS))
        try:
            connection.sendall(_SIZE.pack(len(request)))
            connection.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
            tag, child = _MESSAGE.unpack(_exactly(connection, _MESSAGE.size))
        except OSError as error:  # ConnectionError included: the server went away with the job
            print(f"lossbarcode: the warm server did not start the job ({error})", file=sys.stderr)
            return 1
        if tag == ENDED:  # it failed before the job could start; its traceback is on our stderr
            return child
        forward = lambda signum, frame: os.kill(child, signum)  # noqa: E731
        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            _, code = _MESSAGE.unpack(_exactly(connection, _MESSAGE.size))
            return code
        except ConnectionError:
            return 1  # the job died without a word (killed)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def start(path: str | os.PathLike, log: str | os.PathLike):
    """Starts ``lossbarcode serve`` in the background for this process (the workflow), writing its
    messages to ``log``; returns its ``Popen`` once it listens (or after 60 s: jobs then start cold
    until it does)."""
    import subprocess

    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as messages:
        server = subprocess.Popen([sys.executable, "-m", "lossbarcode.cli", "serve", "--socket", str(path),
                                   "--parent", str(os.getpid())], stdin=subprocess.DEVNULL, stdout=messages,
                                  stderr=messages)
    deadline = time.monotonic() + 60
    while not Path(path).exists() and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.05)
    return server
