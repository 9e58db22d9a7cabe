#!/usr/bin/python3
"""NFS clients of the failover drill (hpcdk drill), run on the machine that drives the drill.

Every command prints one JSON object per line on stdout; times are CLOCK_MONOTONIC nanoseconds
("t", "start", "end"), the clock Node's process.hrtime reads, so the drill places every sample on
its own timeline. Every loop is bounded (--max-seconds) and stops on SIGTERM.

  read    --version 3|4   read one file through the floating IP, every --interval-ms
  write   --version 3|4   write a new file every --interval-ms (O_SYNC: FILE_SYNC writes)
  writer  --version 3|4   the steady writer: one record every --interval-ms into one file, each
                          acknowledged only when the server said it is on stable storage
  verify                  read the steady writer's file back: which acknowledged records are gone
  seed / sum              write a file of random bytes (stable) / print the sha256 of a file
  lock                    an NFSv4.0 client that holds an OPEN and a LOCK across the failover
                          and reclaims them from the new server (CLAIM_PREVIOUS, reclaim=true)

read/write/writer/seed/sum use libnfs (Debian's libnfs 4.0: NFSv3 and NFSv4.0, whose NFSv4
WRITE fails at ~4 KB: writes go in 2 KiB pieces). libnfs 4.0 has no NFSv4 state recovery (no
CLAIM_PREVIOUS, no reclaiming LOCK), so the lock probe speaks NFSv4.0 (RFC 7530) itself over ONC
RPC: SETCLIENTID/SETCLIENTID_CONFIRM, OPEN/OPEN_CONFIRM, LOCK, LOCKT, RENEW, CLOSE, LOCKU.
"""
import argparse
import ctypes
import hashlib
import json
import os
import random
import signal
import socket
import struct
import sys
import time

STOP = False


def _stop(_signum, _frame):
    global STOP
    STOP = True


signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)


def now():
    return time.monotonic_ns()


def emit(**fields):
    sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# libnfs (ctypes)

class Libnfs:
    def __init__(self):
        self.lib = ctypes.CDLL("libnfs.so.13", use_errno=True)
        lib = self.lib
        lib.nfs_init_context.restype = ctypes.c_void_p
        lib.nfs_destroy_context.argtypes = [ctypes.c_void_p]
        lib.nfs_get_error.restype = ctypes.c_char_p
        lib.nfs_get_error.argtypes = [ctypes.c_void_p]
        lib.nfs_set_version.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.nfs_set_timeout.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.nfs_set_autoreconnect.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.nfs_mount.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.nfs_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
        lib.nfs_creat.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
        lib.nfs_pread.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]
        lib.nfs_pwrite.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]
        lib.nfs_fsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.nfs_close.argtypes = [ctypes.c_void_p, ctypes.c_void_p]


class NfsError(Exception):
    pass


class Mount:
    """One libnfs context: a fresh client (and, for NFSv4, a fresh client id) per mount."""

    def __init__(self, libnfs, server, export, version, timeout_ms):
        self.l = libnfs.lib
        self.ctx = self.l.nfs_init_context()
        if not self.ctx:
            raise NfsError("nfs_init_context failed")
        self.version = version
        self.l.nfs_set_version(self.ctx, version)
        # libnfs takes whole seconds.
        self.l.nfs_set_timeout(self.ctx, max(1000, (timeout_ms // 1000) * 1000))
        self.l.nfs_set_autoreconnect(self.ctx, 0)
        if self.l.nfs_mount(self.ctx, server.encode(), export.encode()) != 0:
            err = self.error()
            self.close()
            raise NfsError(f"mount {server}:{export}: {err}")

    def error(self):
        e = self.l.nfs_get_error(self.ctx)
        return e.decode(errors="replace") if e else "unknown error"

    def open(self, path, flags, create=False):
        fh = ctypes.c_void_p()
        rc = self.l.nfs_creat(self.ctx, path.encode(), 0o644, ctypes.byref(fh)) if create else self.l.nfs_open(self.ctx, path.encode(), flags, ctypes.byref(fh))
        if rc != 0:
            raise NfsError(f"open {path}: {self.error()}")
        if create and flags:
            # nfs_creat opens O_RDWR without O_SYNC: reopen with the flags asked for.
            self.l.nfs_close(self.ctx, fh)
            return self.open(path, flags)
        return fh

    def read_all(self, fh, limit=64 * 1024 * 1024):
        out = bytearray()
        buf = ctypes.create_string_buffer(65536)
        while len(out) < limit:
            n = self.l.nfs_pread(self.ctx, fh, len(out), 65536, buf)
            if n < 0:
                raise NfsError(f"read: {self.error()}")
            if n == 0:
                break
            out += buf.raw[:n]
        return bytes(out)

    def write(self, fh, offset, data):
        # NFSv4 writes in 2 KiB pieces: libnfs 4.0 fails NFSv4 WRITEs of ~4 KB and more.
        piece = 2048 if self.version == 4 else 65536
        done = 0
        while done < len(data):
            chunk = data[done:done + piece]
            n = self.l.nfs_pwrite(self.ctx, fh, offset + done, len(chunk), chunk)
            if n < 0:
                raise NfsError(f"write at {offset + done}: {self.error()}")
            if n == 0:
                raise NfsError(f"write at {offset + done}: wrote nothing")
            done += n

    def fsync(self, fh):
        if self.l.nfs_fsync(self.ctx, fh) != 0:
            raise NfsError(f"commit: {self.error()}")

    def close_file(self, fh):
        self.l.nfs_close(self.ctx, fh)

    def close(self):
        if self.ctx:
            self.l.nfs_destroy_context(self.ctx)
            self.ctx = None


O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_SYNC = 0, 1, 2, 0o100, 0o4010000


def first_line(e):
    return str(e).strip().split("\n")[0][:300]


def bounded(attempt, n, timeout_ms):
    """
    Runs attempt(n) in a child process that is killed at the timeout: libnfs' own timeout does
    not cover every wait (a mount whose server went away can block far longer), and a probe
    that hangs until the server is back would hide the outage it lived through.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            detail = attempt(n)
            os.write(w, json.dumps({"ok": True, "detail": detail}).encode())
            code = 0
        except Exception as e:  # noqa: BLE001
            os.write(w, json.dumps({"ok": False, "error": first_line(e)}).encode())
            code = 1
        os._exit(code)
    os.close(w)
    import select
    ready, _, _ = select.select([r], [], [], timeout_ms / 1000)
    out = b""
    if ready:
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    else:
        os.kill(pid, signal.SIGKILL)
    os.close(r)
    os.waitpid(pid, 0)
    if not out:
        raise NfsError(f"no answer within {timeout_ms} ms")
    res = json.loads(out)
    if not res["ok"]:
        raise NfsError(res["error"])
    return res.get("detail")


def loop(args, attempt, fork=False):
    """Runs attempt() every --interval-ms until stopped; one JSON line per attempt."""
    deadline = time.monotonic() + args.max_seconds
    n = 0
    while not STOP and time.monotonic() < deadline:
        start = now()
        try:
            detail = bounded(attempt, n, args.timeout_ms) if fork else attempt(n)
            emit(start=start, end=now(), ok=True, **({"detail": detail} if detail else {}))
        except Exception as e:  # noqa: BLE001 - every failure is a sample, not a crash
            emit(start=start, end=now(), ok=False, error=first_line(e))
        n += 1
        wait = args.interval_ms / 1000 - (now() - start) / 1e9
        if wait > 0:
            time.sleep(wait)


def cmd_read(args):
    lib = Libnfs()

    def attempt(_n):
        m = Mount(lib, args.server, args.export, args.version, args.timeout_ms)
        try:
            fh = m.open(f"/{args.file}", O_RDONLY)
            data = m.read_all(fh, 1 << 20)
            m.close_file(fh)
            if not data:
                raise NfsError("read returned no data")
        finally:
            m.close()
        return None

    loop(args, attempt, fork=True)


def cmd_write(args):
    lib = Libnfs()
    payload = b"hpcdk drill probe\n" * 100  # 1.8 KB: one NFSv4 WRITE

    def attempt(n):
        m = Mount(lib, args.server, args.export, args.version, args.timeout_ms)
        try:
            # A new file each time: a create that the failed server had already done must not fail.
            fh = m.open(f"/{args.prefix}.w{n}", O_WRONLY | O_SYNC, create=True)
            m.write(fh, 0, payload)
            m.close_file(fh)
        finally:
            m.close()
        return None

    loop(args, attempt, fork=True)


RECORD = 2048


def record(seq, run):
    """A record of the steady writer: its number and run, padding, and a checksum of both."""
    head = f"hpcdk-record {run} {seq:010d} ".encode()
    body = head + bytes((seq * 7 + i) % 251 for i in range(RECORD - len(head) - 32))
    return body + hashlib.sha256(body).digest()


def cmd_writer(args):
    """
    Writes record N at offset N*2048 of one file, every --interval-ms, each with a stable write
    (O_SYNC: FILE_SYNC, or DATA_SYNC, before the reply) so an acknowledged record is on stable
    storage by the protocol's promise. The mount is made again after an error (the server moved).
    """
    lib = Libnfs()
    run = args.run
    state = {"m": None, "fh": None}

    def reopen():
        if state["m"]:
            state["m"].close()
        state["m"] = None
        m = Mount(lib, args.server, args.export, args.version, args.timeout_ms)
        try:
            fh = m.open(f"/{args.file}", O_RDWR | O_SYNC, create=not state.get("created"))
        except Exception:
            m.close()
            raise
        state["created"] = True
        state["m"], state["fh"] = m, fh

    seq = [0]

    def attempt(_n):
        if state["m"] is None:
            reopen()
        n = seq[0]
        try:
            state["m"].write(state["fh"], n * RECORD, record(n, run))
        except Exception:
            state["m"].close()
            state["m"] = None
            raise
        seq[0] += 1
        return {"seq": n}

    loop(args, attempt)
    if state["m"]:
        state["m"].close()


def cmd_verify(args):
    lib = Libnfs()
    m = Mount(lib, args.server, args.export, args.version, args.timeout_ms)
    try:
        fh = m.open(f"/{args.file}", O_RDONLY)
        data = m.read_all(fh)
        m.close_file(fh)
    finally:
        m.close()
    acked = [int(x) for x in args.acked.split(",") if x != ""] if args.acked else []
    lost = [n for n in acked if data[n * RECORD:(n + 1) * RECORD] != record(n, args.run)]
    emit(bytes=len(data), acked=len(acked), lost=lost[:50], lostCount=len(lost))


def cmd_seed(args):
    lib = Libnfs()
    data = os.urandom(args.size)
    m = Mount(lib, args.server, args.export, args.version, args.timeout_ms)
    try:
        fh = m.open(f"/{args.file}", O_WRONLY | O_SYNC, create=True)
        m.write(fh, 0, data)
        m.close_file(fh)
    finally:
        m.close()
    emit(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def cmd_sum(args):
    lib = Libnfs()
    m = Mount(lib, args.server, args.export, args.version, args.timeout_ms)
    try:
        fh = m.open(f"/{args.file}", O_RDONLY)
        data = m.read_all(fh)
        m.close_file(fh)
    finally:
        m.close()
    emit(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


# ---------------------------------------------------------------------------------------------
# A small NFSv4.0 client (RFC 7530) for the lock probe.

NFS4_OK = 0
NFS4ERR_DENIED = 10010
NFS4ERR_GRACE = 10013
NFS4ERR_CLID_INUSE = 10017
NFS4ERR_STALE_CLIENTID = 10022
NFS4ERR_STALE_STATEID = 10023
NFS4ERR_EXPIRED = 10011
NFS4ERR_NO_GRACE = 10033
NFS4ERR_RECLAIM_BAD = 10034
NFS4ERR_BAD_STATEID = 10025

ERRORS = {
    10001: "NFS4ERR_BADHANDLE", 10008: "NFS4ERR_DELAY", 10010: "NFS4ERR_DENIED", 10011: "NFS4ERR_EXPIRED",
    10013: "NFS4ERR_GRACE", 10017: "NFS4ERR_CLID_INUSE", 10022: "NFS4ERR_STALE_CLIENTID",
    10023: "NFS4ERR_STALE_STATEID", 10025: "NFS4ERR_BAD_STATEID", 10026: "NFS4ERR_BAD_SEQID",
    10033: "NFS4ERR_NO_GRACE", 10034: "NFS4ERR_RECLAIM_BAD", 10035: "NFS4ERR_RECLAIM_CONFLICT",
    10024: "NFS4ERR_OLD_STATEID", 10038: "NFS4ERR_LOCKS_HELD", 2: "NFS4ERR_NOENT", 13: "NFS4ERR_ACCESS",
    70: "NFS4ERR_STALE", 10004: "NFS4ERR_SERVERFAULT", 10021: "NFS4ERR_LEASE_MOVED",
}

OP_CLOSE, OP_GETFH, OP_LOCK, OP_LOCKT, OP_LOCKU, OP_LOOKUP, OP_OPEN = 4, 10, 12, 13, 14, 15, 18
OP_OPEN_CONFIRM, OP_PUTFH, OP_PUTROOTFH, OP_RENEW, OP_SETCLIENTID, OP_SETCLIENTID_CONFIRM = 20, 22, 24, 30, 35, 36
WRITE_LT = 2


class Xdr:
    def __init__(self):
        self.parts = []

    def u32(self, v):
        self.parts.append(struct.pack(">I", v & 0xFFFFFFFF))
        return self

    def u64(self, v):
        self.parts.append(struct.pack(">Q", v))
        return self

    def fixed(self, b):
        self.parts.append(b + b"\0" * ((4 - len(b) % 4) % 4))
        return self

    def opaque(self, b):
        return self.u32(len(b)).fixed(b)

    def string(self, s):
        return self.opaque(s.encode() if isinstance(s, str) else s)

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def u32(self):
        v = struct.unpack_from(">I", self.d, self.i)[0]
        self.i += 4
        return v

    def u64(self):
        v = struct.unpack_from(">Q", self.d, self.i)[0]
        self.i += 8
        return v

    def fixed(self, n):
        b = self.d[self.i:self.i + n]
        self.i += n + (4 - n % 4) % 4
        return b

    def opaque(self):
        return self.fixed(self.u32())


class Nfs4Error(Exception):
    def __init__(self, op, status):
        super().__init__(f"{op}: {ERRORS.get(status, status)}")
        self.op = op
        self.status = status


class Nfs4Client:
    """One NFSv4.0 client identity: its id string and boot verifier survive a reconnect."""

    def __init__(self, server, port, client_name, timeout):
        self.server, self.port, self.timeout = server, port, timeout
        self.name = client_name.encode()
        self.verifier = os.urandom(8)
        self.sock = None
        self.xid = random.randrange(1 << 31)
        self.clientid = None

    def connect(self):
        self.close()
        self.sock = socket.create_connection((self.server, self.port), timeout=self.timeout)
        self.sock.settimeout(self.timeout)

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def _recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            out += chunk
        return out

    def compound(self, ops):
        """ops: list of (opcode, encoder(Xdr)). Returns (status, [(opcode, status, Reader)])."""
        if self.sock is None:
            self.connect()
        self.xid = (self.xid + 1) & 0x7FFFFFFF
        x = Xdr().u32(self.xid).u32(0).u32(2).u32(100003).u32(4).u32(1)
        cred = Xdr().u32(int(time.time())).string("hpcdk-drill").u32(0).u32(0).u32(0).bytes()
        x.u32(1).opaque(cred).u32(0).u32(0)
        x.string("").u32(0).u32(len(ops))
        for op, enc in ops:
            x.u32(op)
            if enc:
                enc(x)
        body = x.bytes()
        try:
            self.sock.sendall(struct.pack(">I", 0x80000000 | len(body)) + body)
            data = b""
            while True:
                mark = struct.unpack(">I", self._recv(4))[0]
                data += self._recv(mark & 0x7FFFFFFF)
                if mark & 0x80000000:
                    break
        except (OSError, ConnectionError):
            self.close()
            raise
        r = Reader(data)
        if r.u32() != self.xid:
            self.close()
            raise ConnectionError("reply to another call")
        if r.u32() != 1 or r.u32() != 0:
            raise ConnectionError("RPC call denied")
        r.u32()
        r.opaque()
        accept = r.u32()
        if accept != 0:
            raise ConnectionError(f"RPC call not accepted ({accept})")
        status = r.u32()
        r.opaque()
        results = []
        for _ in range(r.u32()):
            op = r.u32()
            results.append((op, r.u32(), r))
            if results[-1][1] != NFS4_OK:
                break
            decode_result(op, r)
        return status, results

    def check(self, ops, names):
        status, results = self.compound(ops)
        if status != NFS4_OK:
            op = results[-1][0] if results else 0
            raise Nfs4Error(names.get(op, f"op {op}"), status)
        return results


def stateid(r):
    return r.fixed(16)


def decode_result(op, r):
    """Reads an operation's OK result, keeping what the client needs on the Reader."""
    if op == OP_SETCLIENTID:
        r.clientid = r.u64()
        r.confirm = r.fixed(8)
    elif op == OP_GETFH:
        r.fh = r.opaque()
    elif op == OP_OPEN:
        r.stateid = stateid(r)
        r.u32(), r.u64(), r.u64()
        r.rflags = r.u32()
        for _ in range(r.u32()):
            r.u32()
        deleg = r.u32()
        if deleg != 0:
            raise ConnectionError("the server granted a delegation: the lock probe does not handle one")
    elif op in (OP_OPEN_CONFIRM, OP_CLOSE, OP_LOCK, OP_LOCKU):
        r.stateid = stateid(r)


NAMES = {OP_SETCLIENTID: "SETCLIENTID", OP_SETCLIENTID_CONFIRM: "SETCLIENTID_CONFIRM", OP_PUTROOTFH: "PUTROOTFH",
         OP_LOOKUP: "LOOKUP", OP_GETFH: "GETFH", OP_PUTFH: "PUTFH", OP_OPEN: "OPEN", OP_OPEN_CONFIRM: "OPEN_CONFIRM",
         OP_LOCK: "LOCK", OP_LOCKT: "LOCKT", OP_LOCKU: "LOCKU", OP_RENEW: "RENEW", OP_CLOSE: "CLOSE"}


class LockHolder:
    """Holds OPEN + LOCK on one file and keeps the lease; reclaims both from a restarted server."""

    def __init__(self, c, path):
        self.c = c
        self.path = [p for p in path.split("/") if p]
        self.open_owner = b"hpcdk-drill-open-" + c.name
        self.lock_owner = b"hpcdk-drill-lock-" + c.name

    def setclientid(self):
        def enc(x):
            x.fixed(self.c.verifier).opaque(self.c.name)
            x.u32(0x40000000).string("tcp").string("0.0.0.0.0.0").u32(1)
        res = self.c.check([(OP_SETCLIENTID, enc)], NAMES)
        clientid, confirm = res[0][2].clientid, res[0][2].confirm
        self.c.check([(OP_SETCLIENTID_CONFIRM, lambda x: x.u64(clientid).fixed(confirm))], NAMES)
        self.c.clientid = clientid

    def open_and_lock(self, reclaim):
        self.open_seq = 0
        self.lock_seq = 0

        def open_enc(x):
            x.u32(self.open_seq).u32(3).u32(0).u64(self.c.clientid).opaque(self.open_owner)
            if reclaim:
                x.u32(0).u32(1).u32(0)  # NOCREATE, CLAIM_PREVIOUS, no delegation
            else:
                x.u32(1).u32(0).u32(0).opaque(b"")  # CREATE UNCHECKED4, no attributes
                x.u32(0).string(self.path[-1])  # CLAIM_NULL
        if reclaim:
            ops = [(OP_PUTFH, lambda x: x.opaque(self.fh)), (OP_OPEN, open_enc)]
        else:
            ops = [(OP_PUTROOTFH, None)] + [(OP_LOOKUP, (lambda p: lambda x: x.string(p))(p)) for p in self.path[:-1]]
            ops += [(OP_OPEN, open_enc), (OP_GETFH, None)]
        res = self.c.check(ops, NAMES)
        opened = next(r for op, _, r in res if op == OP_OPEN)
        if not reclaim:
            self.fh = next(r for op, _, r in res if op == OP_GETFH).fh
        self.open_stateid = opened.stateid
        self.open_seq += 1
        if opened.rflags & 2:  # OPEN4_RESULT_CONFIRM
            res = self.c.check([(OP_PUTFH, lambda x: x.opaque(self.fh)), (OP_OPEN_CONFIRM, lambda x: x.fixed(self.open_stateid).u32(self.open_seq))], NAMES)
            self.open_stateid = res[-1][2].stateid
            self.open_seq += 1

        def lock_enc(x):
            x.u32(WRITE_LT).u32(1 if reclaim else 0).u64(0).u64(0xFFFFFFFFFFFFFFFF)
            x.u32(1).u32(self.open_seq).fixed(self.open_stateid).u32(self.lock_seq).u64(self.c.clientid).opaque(self.lock_owner)
        res = self.c.check([(OP_PUTFH, lambda x: x.opaque(self.fh)), (OP_LOCK, lock_enc)], NAMES)
        self.lock_stateid = res[-1][2].stateid
        self.open_seq += 1
        self.lock_seq += 1

    def renew(self):
        self.c.check([(OP_RENEW, lambda x: x.u64(self.c.clientid))], NAMES)

    def release(self):
        self.c.check([(OP_PUTFH, lambda x: x.opaque(self.fh)), (OP_LOCKU, lambda x: x.u32(WRITE_LT).u32(self.lock_seq).fixed(self.lock_stateid).u64(0).u64(0xFFFFFFFFFFFFFFFF))], NAMES)
        self.c.check([(OP_PUTFH, lambda x: x.opaque(self.fh)), (OP_CLOSE, lambda x: x.u32(self.open_seq).fixed(self.open_stateid))], NAMES)


def lock_test(server, port, path, timeout):
    """From a second client: is the whole file write-locked by someone else (LOCKT DENIED)?"""
    c = Nfs4Client(server, port, f"hpcdk-drill-lockt-{os.getpid()}-{random.randrange(1 << 30)}", timeout)
    try:
        h = LockHolder(c, path)
        h.setclientid()
        parts = [p for p in path.split("/") if p]
        ops = [(OP_PUTROOTFH, None)] + [(OP_LOOKUP, (lambda p: lambda x: x.string(p))(p)) for p in parts]
        ops.append((OP_LOCKT, lambda x: x.u32(WRITE_LT).u64(0).u64(0xFFFFFFFFFFFFFFFF).u64(c.clientid).opaque(b"hpcdk-drill-lockt")))
        status, results = c.compound(ops)
        if status == NFS4_OK:
            return "free"
        if status == NFS4ERR_DENIED and results and results[-1][0] == OP_LOCKT:
            return "held"
        raise Nfs4Error(NAMES.get(results[-1][0], "?") if results else "?", status)
    finally:
        c.close()


def cmd_lock(args):
    """
    Takes an OPEN and a whole-file write LOCK, then renews the lease every --interval-ms. When the
    server answers again after the failover and says the client id is stale (a new server
    instance), it reclaims: SETCLIENTID with the same id and verifier, OPEN CLAIM_PREVIOUS, LOCK
    with reclaim=true. Events: locked, unreachable, server-restarted, reclaimed, lost (with the
    server's answer), renewed-same-server (the lease survived). On SIGTERM it unlocks and closes.
    """
    c = Nfs4Client(args.server, 2049, args.client_name, args.timeout_ms / 1000)
    h = LockHolder(c, f"{args.export}/{args.file}")
    deadline = time.monotonic() + args.max_seconds
    state = "starting"
    while not STOP and time.monotonic() < deadline and state == "starting":
        try:
            h.setclientid()
            h.open_and_lock(reclaim=False)
            state = "held"
            emit(t=now(), event="locked", clientid=f"{c.clientid:016x}")
        except (OSError, ConnectionError, Nfs4Error) as e:
            emit(t=now(), event="error", error=first_line(e))
            time.sleep(0.5)
    reachable = True
    while not STOP and time.monotonic() < deadline and state != "lost":
        start = time.monotonic()
        try:
            if state == "reclaiming":
                h.setclientid()
                h.open_and_lock(reclaim=True)
                state = "held"
                emit(t=now(), event="reclaimed", clientid=f"{c.clientid:016x}")
            else:
                h.renew()
                if not reachable:
                    emit(t=now(), event="renewed-same-server")
            reachable = True
        except Nfs4Error as e:
            if e.status == NFS4ERR_STALE_CLIENTID and state == "held":
                emit(t=now(), event="server-restarted", error=str(e))
                state = "reclaiming"
                reachable = True
                continue
            if e.status in (NFS4ERR_GRACE,) or e.status == 10008:
                emit(t=now(), event="retry", error=str(e))
            else:
                emit(t=now(), event="lost", error=str(e))
                state = "lost"
        except (OSError, ConnectionError) as e:
            if reachable:
                emit(t=now(), event="unreachable", error=first_line(e))
            reachable = False
            c.close()
        wait = args.interval_ms / 1000 - (time.monotonic() - start)
        if wait > 0:
            time.sleep(wait)
    if state == "held":
        try:
            held = lock_test(args.server, 2049, f"{args.export}/{args.file}", args.timeout_ms / 1000)
            emit(t=now(), event="lockt", result=held)
            h.release()
            emit(t=now(), event="released")
        except (OSError, ConnectionError, Nfs4Error) as e:
            emit(t=now(), event="release-failed", error=first_line(e))
    c.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("read", "write", "writer", "verify", "seed", "sum", "lock"):
        s = sub.add_parser(name)
        s.add_argument("--server", required=True)
        s.add_argument("--export", required=True)
        s.add_argument("--version", type=int, choices=(3, 4), default=3)
        s.add_argument("--timeout-ms", type=int, default=2000)
        s.add_argument("--interval-ms", type=int, default=250)
        s.add_argument("--max-seconds", type=float, default=600)
        s.add_argument("--file", default="")
        s.add_argument("--prefix", default="")
        s.add_argument("--run", default="r")
        s.add_argument("--acked", default="")
        s.add_argument("--size", type=int, default=256 * 1024)
        s.add_argument("--client-name", default=f"hpcdk-drill-{socket.gethostname()}-{os.getpid()}")
    args = p.parse_args()
    try:
        {"read": cmd_read, "write": cmd_write, "writer": cmd_writer, "verify": cmd_verify, "seed": cmd_seed, "sum": cmd_sum, "lock": cmd_lock}[args.cmd](args)
    except (NfsError, Nfs4Error, OSError, ConnectionError) as e:
        emit(fatal=first_line(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
