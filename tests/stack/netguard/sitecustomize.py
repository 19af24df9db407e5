"""Network guard for the scheduler test: every Python process started with this directory
on PYTHONPATH refuses a connection (or a name lookup) to anything but loopback and
records it, one JSON line per attempt, in the file NETGUARD_LOG names."""

import json
import os
import sys

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _local(host) -> bool:
    import ipaddress
    import socket

    if host is None or host == "":
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%")[0]
    if host.lower() in _LOCAL_NAMES or host == socket.gethostname():
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or host in ("0.0.0.0", "::")
    except ValueError:
        return False


def _refuse(event: str, target) -> None:
    with open(_LOG, "a") as fh:
        fh.write(
            json.dumps(
                {"pid": os.getpid(), "argv": sys.argv, "event": event, "target": repr(target)}
            )
            + "\n"
        )
    raise ConnectionRefusedError(f"netguard: {event} to {target!r} refused (not loopback)")


def _hook(event: str, args) -> None:
    if event == "socket.connect":
        sock, address = args
        if isinstance(address, tuple) and sock.family in (2, 10) and not _local(address[0]):
            _refuse(event, address)
    elif event == "socket.getaddrinfo" and not _local(args[0]):
        _refuse(event, args[:2])


if _LOG:
    sys.addaudithook(_hook)
