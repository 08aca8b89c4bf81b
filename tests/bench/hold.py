#!/usr/bin/env python3
"""Hostile hold: opens idle keep-alive connections and slow-header clients
against a webhook port, spread over source addresses in 127.0.0.0/8 (so a
per-address cap does not hide the total), keeps them open, and times valid
signed Cal.com deliveries meanwhile. Prints one JSON object.

  hold.py --port P [--idle 10000] [--slow 1000] [--secret S] [--deliveries 5]

Idle connections each GET /healthz once (keep-alive) and then say nothing;
slow clients send a request line and one header byte a second, never
finishing their head. Loopback only; bounded in count and time.
"""
import argparse
import hashlib
import hmac
import json
import resource
import select
import socket
import time
import uuid


def source(i, base):
    return "127.%d.%d.%d" % (base, 1 + i // 250 % 250, 1 + i % 250)


def connect(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s, timeout):
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def deliver(port, secret, n):
    uid = "hold-%s-%d" % (uuid.uuid4().hex[:12], n)
    body = json.dumps({"triggerEvent": "BOOKING_CREATED", "createdAt": "2026-01-01T00:00:00Z",
                       "payload": {"uid": uid, "title": "hold"}}, separators=(",", ":")).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    req = (b"POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
           b"Content-Type: application/json\r\nX-Cal-Signature-256: " + sig.encode() +
           b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    started = time.monotonic()
    s = connect(port, "127.250.0.%d" % (1 + n % 250))
    s.sendall(req)
    answer = read_answer(s, 30)
    elapsed = time.monotonic() - started
    s.close()
    status = int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, elapsed * 1000.0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle", type=int, default=10000)
    p.add_argument("--slow", type=int, default=1000)
    p.add_argument("--secret", default="bench-secret")
    p.add_argument("--deliveries", type=int, default=5)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    failed = 0

    def open_many(count, base, first_bytes):
        nonlocal failed
        held = []
        for i in range(count):
            try:
                s = connect(a.port, source(i, base))
                s.sendall(first_bytes)
                held.append(s)
            except OSError:
                failed += 1
        return held

    started = time.monotonic()
    idle = open_many(a.idle, 10, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    for s in idle:  # each answered, then idle on keep-alive
        try:
            read_answer(s, 10)
        except OSError:
            failed += 1
    slow = open_many(a.slow, 20, b"POST /webhooks/calcom HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    opened = time.monotonic() - started

    results = []
    for n in range(a.deliveries):
        for s in slow:  # keep dribbling
            try:
                s.send(b"a")
            except OSError:
                pass
        results.append(deliver(a.port, a.secret, n))
        time.sleep(0.2)

    # How many held connections the server still keeps open.
    still_open = 0
    poller = select.poll()
    for s in idle + slow:
        poller.register(s, select.POLLIN)
    readable = {fd for fd, _ in poller.poll(0)}
    still_open = sum(1 for s in idle + slow if s.fileno() not in readable)
    for s in idle + slow:
        s.close()
    latencies = sorted(ms for _, ms in results)
    print(json.dumps({
        "idle": len(idle), "slow": len(slow), "failed_to_open": failed,
        "open_seconds": round(opened, 2), "still_open": still_open,
        "statuses": [st for st, _ in results],
        "delivery_ms_median": round(latencies[len(latencies) // 2], 2),
        "delivery_ms_max": round(latencies[-1], 2),
    }))


if __name__ == "__main__":
    main()
