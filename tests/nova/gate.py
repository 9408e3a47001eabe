"""gate.py DIR NAME EVENT WHO [IF_EXISTS]: hold one process at one open or
read of DIR/NAME until told to go on, so a test can stop Nova's code, cp,
qemu-img or the hook at an exact point, whichever process makes the call.

A fanotify permission gate (FAN_CLASS_CONTENT, needs CAP_SYS_ADMIN) on
the children of DIR.  EVENT is "open" (FAN_OPEN_PERM) or "read"
(FAN_ACCESS_PERM: read, copy_file_range, ...).  WHO is "comm=NAME" (the
process's /proc/PID/comm) or "exe=PATH" (its executable, symlinks
resolved).  With IF_EXISTS, only a call made while that path exists is
held.  Every other access is allowed at once.

The first matching call is held: the calling process sleeps inside that
system call, nothing after it has run.  Prints "ready" once the mark is
set, "held PID COMM" when it holds a call, "released" on SIGUSR1 (the call
is allowed and the gate exits).  It gives up after 120 s (exit 1), and an
ending gate lets everything through: the kernel allows pending calls when
its fanotify descriptor closes.  Nothing of Nova's is used here."""

import ctypes
import os
import select
import signal
import struct
import sys
import time

FAN_CLOEXEC = 0x1
FAN_CLASS_CONTENT = 0x4
FAN_MARK_ADD = 0x1
FAN_OPEN_PERM = 0x10000
FAN_ACCESS_PERM = 0x20000
FAN_EVENT_ON_CHILD = 0x08000000
FAN_ALLOW = 0x1
AT_FDCWD = -100
META = struct.Struct('=IBBHQii')          # struct fanotify_event_metadata
RESPONSE = struct.Struct('=iI')          # struct fanotify_response

libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64,
                               ctypes.c_int, ctypes.c_char_p]


def say(line):
    print(line, flush=True)


def proc(pid, what):
    try:
        if what == 'exe':
            return os.path.realpath('/proc/%d/exe' % pid)
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def main():
    directory, name, event, who = sys.argv[1:5]
    if_exists = sys.argv[5] if len(sys.argv) > 5 else None
    mask = {'open': FAN_OPEN_PERM, 'read': FAN_ACCESS_PERM}[event]
    kind, _, value = who.partition('=')
    if kind == 'exe':
        value = os.path.realpath(value)
    target = os.path.join(os.path.realpath(directory), name)

    released = []
    signal.signal(signal.SIGUSR1, lambda *_: released.append(1))
    fan = libc.fanotify_init(FAN_CLOEXEC | FAN_CLASS_CONTENT,
                             os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
    if fan < 0:
        sys.exit('gate: fanotify_init: %s' % os.strerror(ctypes.get_errno()))
    if libc.fanotify_mark(fan, FAN_MARK_ADD, mask | FAN_EVENT_ON_CHILD, AT_FDCWD,
                          directory.encode()) < 0:
        sys.exit('gate: fanotify_mark %s: %s' % (directory, os.strerror(ctypes.get_errno())))
    say('ready')

    held = None
    deadline = time.monotonic() + 120
    while not released:
        if time.monotonic() > deadline:
            say('gate: nothing released it within 120 s')
            sys.exit(1)
        if not select.select([fan], [], [], 0.1)[0]:
            continue
        buf = os.read(fan, 4096)
        off = 0
        while off + META.size <= len(buf):
            length, _, _, _, _, fd, pid = META.unpack_from(buf, off)
            off += length
            if fd < 0:
                continue
            path = os.readlink('/proc/self/fd/%d' % fd)
            if (held is None and path == target and pid != os.getpid()
                    and proc(pid, kind) == value
                    and (if_exists is None or os.path.lexists(if_exists))):
                held = fd
                say('held %d %s' % (pid, proc(pid, 'comm')))
                continue
            os.write(fan, RESPONSE.pack(fd, FAN_ALLOW))
            os.close(fd)
    if held is not None:
        os.write(fan, RESPONSE.pack(held, FAN_ALLOW))
        os.close(held)
    say('released')


main()
