"""What one answer written in two system calls costs over one, on this machine: the
figure behind serving.HttpProtocol (uvicorn writes an answer's head and body apart).

    .venv/bin/python -m bench.writes

A loopback TCP connection, a reader draining it on the other core, and the sender's own
CPU time (thread time) per answer of a head and a body the size of this API's answers.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time

HEAD, BODY = b"h" * 180, b"b" * 400


def _drain(server: socket.socket, core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    connection, _ = server.accept()
    with connection:
        while connection.recv(65536):
            pass


def measure(answers: int, rounds: int) -> list[tuple[float, float]]:
    """(µs of the sender's CPU per answer in two writes, the same in one), per round."""
    pin = (os.cpu_count() or 1) >= 2
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        reader = threading.Thread(target=_drain, args=(server, 1 if pin else None), daemon=True)
        reader.start()
        results = []
        with socket.create_connection(server.getsockname()) as sender:
            sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if pin:
                os.sched_setaffinity(0, {0})
            for _ in range(rounds):
                started = time.thread_time()
                for _ in range(answers):
                    sender.send(HEAD)
                    sender.send(BODY)
                two = (time.thread_time() - started) / answers * 1e6
                started = time.thread_time()
                for _ in range(answers):
                    sender.send(HEAD + BODY)
                one = (time.thread_time() - started) / answers * 1e6
                results.append((two, one))
        reader.join(5)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50_000, help="answers per round and way")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for two, one in measure(args.n, args.rounds):
        print(
            f"head and body in two writes {two:5.1f} µs, in one {one:5.1f} µs of the "
            f"sender's CPU per answer: {two - one:4.1f} µs saved"
        )


if __name__ == "__main__":
    main()
