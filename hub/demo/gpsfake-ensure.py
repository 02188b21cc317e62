#!/usr/bin/env python3
"""Part of `make demo`: makes sure the gpsd that gpsfake started has gpsfake's receiver.

gpsfake 3.22 asks its gpsd to add the pseudo-terminal it replays through once, as soon as gpsd's control socket file
exists; gpsd creates that file (bind) just before it listens, and an add that arrives in between is refused and
silently dropped — the replay then goes to a terminal nobody reads, and the agent never gets a fix. This waits (at
most TIMEOUT seconds) until gpsd lists a device, and sends the add itself when a second has passed since the
terminal appeared without one (the test harness does the same: GpsFake.start in DabbaTestSupport).
Usage: gpsfake-ensure.py GPSD_PORT GPSFAKE_PID CONTROL_DIR [TIMEOUT]
"""
import json
import os
import socket
import stat
import sys
import time


def devices(port):
    """The device paths gpsd lists (`?DEVICES;`), or None when it does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"?DEVICES;\n")
            data = b""
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline and b'"class":"DEVICES"' not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            for line in data.splitlines():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("class") == "DEVICES":
                    return [d.get("path") for d in message.get("devices", [])]
    except OSError:
        return None
    return None


def receiver(pid):
    """The /dev/pts/N gpsfake made readable and writable by all for gpsd, or None."""
    directory = f"/proc/{pid}/fd"
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in names:
        try:
            path = os.readlink(os.path.join(directory, name))
            if path.startswith("/dev/pts/") and os.stat(path).st_mode & (stat.S_IROTH | stat.S_IWOTH) == 0o006:
                return path
        except OSError:
            continue
    return None


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    port, pid, control_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 30
    deadline = time.monotonic() + timeout
    seen_at = None
    added = False
    while time.monotonic() < deadline:
        listed = devices(port)
        if listed:
            return 0
        pty = receiver(pid)
        if pty and seen_at is None:
            seen_at = time.monotonic()
        if pty and not added and time.monotonic() - seen_at > 1:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect(os.path.join(control_dir, f"gpsfake-{pid}.sock"))
                    s.sendall(f"+{pty}\r\n".encode())
                    added = s.recv(64).startswith(b"OK")
                if added:
                    print(f"demo: gpsd on {port} had lost gpsfake's receiver {pty}; added it again", file=sys.stderr)
            except OSError:
                pass
        time.sleep(0.05)
    print(f"demo: gpsd on {port} lists no receiver after {timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
