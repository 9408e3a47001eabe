"""netrelay.py ADDR PORT PID...: make the TCP server at ADDR:PORT of this
network namespace reachable at the same address in the network namespace
of each PID.  The listeners are bound there (setns for the bind only);
each connection is forwarded from here.  Prints "ready" once all are
bound, then runs until killed."""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
addr, port = sys.argv[1], int(sys.argv[2])


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def pump(src, dst):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(ls):
    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection((addr, port))
        except OSError:
            c.close()    # the client sees the refusal as a reset
            continue
        threading.Thread(target=pump, args=(c, u), daemon=True).start()
        threading.Thread(target=pump, args=(u, c), daemon=True).start()


home = os.open('/proc/self/ns/net', os.O_RDONLY)
listeners = []
for pid in sys.argv[3:]:
    fd = os.open('/proc/%s/ns/net' % pid, os.O_RDONLY)
    setns(fd)
    os.close(fd)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    listeners.append(s)
    setns(home)
# Threads start here, at home: upstream connections are made from here.
for s in listeners:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print('ready', flush=True)
threading.Event().wait()
