#!/usr/bin/env python3
"""Soak: `rekindle serve` under ingest, evaluation and delivery for a long time, watching for
growth in memory, open files and database connections.

    python3 bench/soak.py --minutes 30            # the documented soak (not in CI)
    python3 bench/soak.py --minutes 1             # a smoke run

Starts smtp-sink and one `serve` (SQLite, or --postgres), POSTs batches of events for new and
existing customers continuously, lets a rule evaluated every 10 s send email to the sink, and
samples the process every 10 s: RSS, open file descriptors, TCP connections. At the end it
prints the samples and the growth between the first and the last third after a minute of
warm-up (the connection pools fill); "flat" means the last third's median is within 20 % of
the first third's. SQLite's page cache (64 MiB per pooled connection, up to 8 connections)
grows with the database file (sampled as db_mib) until it is full; that is bounded growth, not a
leak. On PostgreSQL (--postgres URL) the process holds no page cache, so its RSS is the test of
rekindle's own memory.
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE = '''id = "win-back"
name = "Win back"
schedule = "*/10 * * * * *"
[trigger]
type = "inactive"
days = 30
[message]
channel = "email"
subject = "We miss you"
body = "Hi {{ customer.first_name }}, your table is waiting."
[limits]
cooldown = "1h"
'''


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass  # closed between the listing and the look
    sockets = sum(1 for link in links if link.startswith("socket:"))
    return {"rss_mib": round(rss, 1), "fds": len(links), "sockets": sockets}


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer soak", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def emails_sent(base):
    """The service's own count of emails sent, from its Prometheus metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
        lines = r.read().decode().splitlines()
    return int(sum(float(l.rsplit(" ", 1)[1]) for l in lines
                   if l.startswith("rekindle_deliveries_total{") and 'status="sent"' in l))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "rekindle"))
    ap.add_argument("--postgres", help="a database URL instead of a SQLite file")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rekindle-soak-")
    os.makedirs(os.path.join(work, "rules"))
    with open(os.path.join(work, "rules", "win-back.toml"), "w") as f:
        f.write(RULE)
    port = 25300 + random.randrange(100)
    with open(os.path.join(work, "rekindle.toml"), "w") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:0"\n[quiet_hours]\nsms = ""\n[policy]\nmax_messages = 100\nper = "1d"\n'
                f'[business]\naddress = "Bench utca 1, 1000 Budapest"\n[email]\ntransport = "smtp"\nunsubscribe_mailto = "unsubscribe@soak.example"\n[email.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("REKINDLE_")}
    env["REKINDLE_API_TOKENS"] = "soak"
    # SMTP needs a way to unsubscribe: mailto tokens signed with this secret.
    env["REKINDLE_LINK_SECRET"] = "soak-link-secret-0123456789abcdef"
    env["REKINDLE_DATABASE_URL"] = args.postgres or f"sqlite://{work}/soak.db"
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serve = subprocess.Popen([os.path.abspath(args.binary), "serve"], cwd=work, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    # `sent` stays None when the service dies before it can be asked.
    samples, errors, batches, sent = [], 0, 0, None
    try:
        base = serve.stdout.readline().strip().removeprefix("listening on ")
        end = time.monotonic() + args.minutes * 60
        next_sample = time.monotonic()
        customer = 0
        while time.monotonic() < end:
            # A new customer who lapsed 40 days ago, and a visit for an existing one.
            customer += 1
            req = urllib.request.Request(f"{base}/v1/customers/s{customer}", method="PUT",
                                         data=json.dumps({"name": f"Guest {customer}",
                                                          "email": f"s{customer}@example.com",
                                                          "consent_email": True}).encode(),
                                         headers={"Authorization": "Bearer soak",
                                                  "Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=30).close()
                events = [{"id": f"v{customer}", "customer_id": f"s{customer}", "kind": "visit",
                           "occurred_at": "2026-01-01T10:00:00Z"}]
                events += [{"id": f"r{customer}-{i}", "customer_id": f"s{random.randrange(1, customer + 1)}",
                            "kind": "visit", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                           for i in range(20)]
                post(f"{base}/v1/events", {"events": events})
                batches += 1
            except Exception:
                errors += 1
            if time.monotonic() >= next_sample:
                s = sample(serve.pid)
                s["t"] = round(args.minutes * 60 - (end - time.monotonic()))
                if not args.postgres:
                    s["db_mib"] = round(os.path.getsize(os.path.join(work, "soak.db")) / 2**20, 1)
                samples.append(s)
                print(json.dumps(s), flush=True)
                next_sample += 10
            time.sleep(0.05)
        sent = emails_sent(base)
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=60)
        sink.terminate()
        shutil.rmtree(work, ignore_errors=True)
    # The first minute fills the connection pools; growth is judged after it.
    samples = [s for s in samples if s["t"] >= 60] or samples
    third = max(1, len(samples) // 3)
    print(f"\n{batches} ingest rounds, {errors} errors, {sent} emails sent, serve exited {code}")
    for key in ("rss_mib", "fds", "sockets"):
        first = statistics.median(s[key] for s in samples[:third])
        last = statistics.median(s[key] for s in samples[-third:])
        flat = last <= first * 1.2 + 2
        peak, final = max(s[key] for s in samples), samples[-1][key]
        # A leak never gives memory back; a cache that fills and is released (SQLite's, when
        # the pool closes idle connections) does.
        returned = final <= peak * 0.6
        verdict = "flat" if flat else f"bounded (peak {peak}, back to {final})" if returned else "GROWING"
        print(f"{key}: first third {first}, last third {last}, peak {peak} -> {verdict}")
    sys.exit(0 if errors == 0 and code == 0 else 1)


if __name__ == "__main__":
    main()
