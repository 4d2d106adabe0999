"""Loaded at start-up by every Python process of an audited Flower run (see edgelearn.flower.netaudit).

Records each socket connect (address and outcome) to $EDGELEARN_NET_AUDIT/connect-<pid>.jsonl.
"""
import os as _os

_dir = _os.environ.get("EDGELEARN_NET_AUDIT")
if _dir:
    import errno as _errno
    import json as _json
    import socket as _socket
    import sys as _sys

    def _note(address, outcome):
        try:
            addr = address if isinstance(address, str) else list(address)[:2]
            if isinstance(addr, list):
                addr = [str(addr[0]), int(addr[1])]
            line = _json.dumps({"pid": _os.getpid(), "argv0": _os.path.basename(_sys.argv[0]) if _sys.argv else "",
                                "address": addr, "outcome": outcome})
            fd = _os.open(_os.path.join(_dir, f"connect-{_os.getpid()}.jsonl"),
                          _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)
            try:
                _os.write(fd, (line + "\n").encode())
            finally:
                _os.close(fd)
        except Exception:
            pass

    # every process leaves a (possibly empty) record, so the check can count the processes it covered
    try:
        open(_os.path.join(_dir, f"connect-{_os.getpid()}.jsonl"), "a").close()
    except OSError:
        pass

    def _hook(event, args):
        # every connect of a Python socket object, whatever class made it (asyncio, ray, httpx, ...)
        if event == "socket.connect" and len(args) == 2:
            sock, address = args
            if getattr(sock, "family", None) in (_socket.AF_INET, _socket.AF_INET6, _socket.AF_UNIX):
                _note(address, "attempt")

    _sys.addaudithook(_hook)

    _connect, _connect_ex = _socket.socket.connect, _socket.socket.connect_ex

    def connect(self, address):
        try:
            r = _connect(self, address)
        except OSError as e:
            _note(address, _errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__)
            raise
        _note(address, "ok")
        return r

    def connect_ex(self, address):
        r = _connect_ex(self, address)
        _note(address, "ok" if r == 0 else _errno.errorcode.get(r, str(r)))
        return r

    _socket.socket.connect, _socket.socket.connect_ex = connect, connect_ex
