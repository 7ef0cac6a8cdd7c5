"""The ceiling for benchmarks/throughput.py: a fixed-response epoll loop in one thread, with
no WSGI and no validation: about what Python itself allows on the machine. Not a server.

    python benchmarks/ceiling.py PORT

It finds the end of each request head, answers ``GET /big`` with 64 KiB and anything else
with ``Hello, world!``, keeps the connection unless the head says ``Connection: close``, and
ignores request bodies (so it does not take part in the POST echo). Linux only (epoll).
"""

from __future__ import annotations

import select
import socket
import sys


def _response(body: bytes, close: bool) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    return (head + connection + "\r\n").encode() + body


ANSWERS = {
    (big, close): _response(b"x" * 65536 if big else b"Hello, world!", close)
    for big in (False, True)
    for close in (False, True)
}


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head = b""  # the start of a head not complete yet
        self.unsent = memoryview(b"")
        self.closing = False  # close once everything is sent

    def received(self, data: bytes) -> None:
        buffered = self.head + data
        answers = []
        while not self.closing:
            end = buffered.find(b"\r\n\r\n")
            if end < 0:
                break
            head, buffered = buffered[:end], buffered[end + 4 :]
            self.closing = b"\nconnection: close" in head.lower()
            answers.append(ANSWERS[(head.startswith(b"GET /big "), self.closing)])
        self.head = buffered
        self.unsent = memoryview(bytes(self.unsent) + b"".join(answers))

    def flush(self) -> bool:
        """Send what waits; True when all of it went."""
        while self.unsent.nbytes:
            try:
                self.unsent = self.unsent[self.sock.send(self.unsent) :]
            except BlockingIOError:
                return False
        return True


def serve(port: int) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(2048)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, Connection] = {}

    def close(fd: int) -> None:
        poller.unregister(fd)
        conns.pop(fd).sock.close()

    while True:
        for fd, events in poller.poll():
            if fd == listener.fileno():
                try:
                    sock, _ = listener.accept()
                except BlockingIOError:
                    continue
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[sock.fileno()] = Connection(sock)
                poller.register(sock.fileno(), select.EPOLLIN)
                continue
            conn = conns[fd]
            try:
                if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    data = conn.sock.recv(65536)
                    if not data:
                        close(fd)
                        continue
                    conn.received(data)
                if conn.flush():
                    if conn.closing:
                        close(fd)
                    else:
                        poller.modify(fd, select.EPOLLIN)
                else:
                    poller.modify(fd, select.EPOLLIN | select.EPOLLOUT)
            except BlockingIOError:
                continue
            except OSError:
                close(fd)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
