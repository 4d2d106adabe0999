"""Record and check where the processes of a Flower run connect (issue 13: nothing leaves 127.0.0.0/8).

Two records, both written under one directory while a run goes on:

* ``connect-<pid>.jsonl``: every Python-level ``connect()``/``connect_ex()`` of every Python
  process started with :func:`audit_env` (the Flower server, the Ray workers that run the
  ClientApps, the SuperLink): the address, the process and the outcome (``"ok"`` or the
  error).  A ``sitecustomize`` module on ``PYTHONPATH`` installs the recorder (an audit
  hook on ``socket.connect`` plus a wrapper that notes the outcome).
* ``sockets.jsonl``: the kernel's socket tables (``/proc/net/{tcp,tcp6,udp,udp6}``) of the
  network namespace, sampled every ``interval`` s by :func:`watch` (this also sees the
  connections that gRPC's C core opens, which no Python hook sees), and the namespace's
  network interfaces.

:func:`check` reads both and says whether any connection reached a non-loopback address.
"""
from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import time
from pathlib import Path

__all__ = ["audit_env", "watch", "check", "is_loopback", "loopback_up", "NetworkLeak"]

_SITE = Path(__file__).parent / "_audit"


class NetworkLeak(AssertionError):
    """A process of the run connected to an address outside 127.0.0.0/8 (or ::1)."""


def audit_env(directory, env=None) -> dict:
    """A copy of ``env`` (default ``os.environ``) whose Python processes record their connects in ``directory``."""
    env = dict(os.environ if env is None else env)
    env["EDGELEARN_NET_AUDIT"] = str(directory)
    env["PYTHONPATH"] = os.pathsep.join([str(_SITE)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def is_loopback(host) -> bool:
    """True for 127.0.0.0/8, ::1, an IPv4-mapped loopback and the unspecified address (0.0.0.0, ::)."""
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _hex_addr(text: str):
    """'0100007F:1F90' (or the 32-hex-digit IPv6 form) of /proc/net/* -> (host, port)."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words), int(port, 16)


def _socket_table():
    rows = set()
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote = _hex_addr(parts[1]), _hex_addr(parts[2])
            rows.add((proto, local[0], local[1], remote[0], remote[1]))
    return rows


def interfaces() -> list[str]:
    """The network interfaces of this process's namespace (``/proc/self/net/dev``; ``/sys`` shows the mounter's)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines if ":" in line)


def watch(directory, interval: float = 0.2, until=None):
    """Append every socket of this network namespace not seen before to ``directory/sockets.jsonl``.

    Runs until ``until()`` is true (default: forever; run it as a background process that
    ends with the namespace).  The first line lists the namespace's interfaces.  Every
    ``interval`` s (0.05 s cost about 4 s of CPU in a 30 s run; a socket that lives less than the
    interval can be missed, which the Python-level record and the namespace's lack of any route
    out cover).
    """
    out = Path(directory) / "sockets.jsonl"
    seen = set()
    with open(out, "a") as f:
        f.write(json.dumps({"interfaces": interfaces()}) + "\n")
        f.flush()
        while until is None or not until():
            for row in sorted(_socket_table() - seen):
                seen.add(row)
                f.write(json.dumps(dict(zip(("proto", "local", "local_port", "remote", "remote_port"), row))) + "\n")
            f.flush()
            time.sleep(interval)


def check(directory, *, need_processes: int = 2) -> dict:
    """Read a run's records; raise :class:`NetworkLeak` if anything reached beyond loopback.

    A connect to an outside address that *failed* (no route: the loopback-only namespace)
    is listed under ``blocked``, not a leak; one that succeeded is a leak, and so is a
    kernel socket with an outside peer.  Also fails when the records are too thin to mean
    anything: fewer than ``need_processes`` recording processes, no socket table, or a
    namespace with an interface besides ``lo``.  Returns a summary: processes, connects
    on loopback by address, the blocked outside attempts, sockets seen, interfaces.
    """
    d = Path(directory)
    connects = []
    for f in sorted(d.glob("connect-*.jsonl")):
        connects += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    procs = sorted({(c["pid"], c["argv0"]) for c in connects} |
                   {(int(f.stem.split("-")[1]), "") for f in d.glob("connect-*.jsonl")})
    pids = sorted({p for p, _ in procs})
    sock_file = d / "sockets.jsonl"
    if not sock_file.exists():
        raise NetworkLeak(f"no socket table was recorded in {d} (was the watcher running?)")
    rows = [json.loads(line) for line in sock_file.read_text().splitlines() if line.strip()]
    interfaces = rows[0]["interfaces"] if rows and "interfaces" in rows[0] else None
    sockets = [r for r in rows if "proto" in r]
    if len(pids) < need_processes:
        raise NetworkLeak(f"only {len(pids)} process(es) recorded their connects in {d}; expected >= "
                          f"{need_processes}: the recorder did not load in the run's processes")
    if interfaces != ["lo"]:
        raise NetworkLeak(f"the run's network namespace has interfaces {interfaces}, not only 'lo'")
    ok, blocked, leaks, tally = {}, {}, [], {}
    for c in connects:
        addr = c["address"]
        target = addr if isinstance(addr, str) else f"{addr[0]}:{addr[1]}"
        if isinstance(addr, str) or is_loopback(addr[0]):      # AF_UNIX paths and loopback stay on the machine
            if c["outcome"] != "attempt":
                ok[target] = ok.get(target, 0) + 1
            continue
        t = tally.setdefault((c["pid"], c["argv0"], target), {"attempt": 0, "done": 0})
        if c["outcome"] == "attempt":
            t["attempt"] += 1
        elif c["outcome"] in ("ok", "EINPROGRESS", "EALREADY", "EISCONN"):
            leaks.append(f"pid {c['pid']} ({c['argv0']}) connected to {target} ({c['outcome']})")
            t["done"] += 1
        else:
            blocked[f"{target} {c['outcome']}"] = blocked.get(f"{target} {c['outcome']}", 0) + 1
            t["done"] += 1
    for (pid, argv0, target), t in tally.items():
        if t["attempt"] > t["done"]:      # a connect whose outcome nobody recorded: cannot show it failed
            leaks.append(f"pid {pid} ({argv0}) tried {target} {t['attempt'] - t['done']} time(s), outcome unknown")
    for s in sockets:
        if not is_loopback(s["remote"]) or not is_loopback(s["local"]):
            leaks.append(f"kernel {s['proto']} socket {s['local']}:{s['local_port']} -> {s['remote']}:{s['remote_port']}")
    if leaks:
        raise NetworkLeak("traffic left loopback: " + "; ".join(leaks))
    return {"processes": len(pids), "loopback": ok, "blocked": blocked, "sockets": len(sockets),
            "interfaces": interfaces}


def loopback_up() -> None:
    """Bring up ``lo`` in this (fresh) network namespace: what ``ip link set lo up`` does, without iproute2."""
    import fcntl
    import struct

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | IFF_UP))


if __name__ == "__main__":       # python -m edgelearn.flower.netaudit watch DIR | lo-up
    if sys.argv[1:2] == ["lo-up"]:
        loopback_up()
    elif len(sys.argv) == 3 and sys.argv[1] == "watch":
        watch(sys.argv[2])
    else:
        sys.exit("usage: python -m edgelearn.flower.netaudit (watch DIR | lo-up)")
