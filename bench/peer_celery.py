"""The peer rekindle is measured against: what a Python shop would write to send a batch of
emails — Celery with the machine's Redis as broker, one task per email, workers sending with
smtplib over a connection kept per worker process.

    python3 bench/peer_celery.py N SMTP_PORT CONCURRENCY

Enqueues N tasks, starts a worker pool, waits until every task has sent its email, and prints
one JSON line: {"seconds": …, "msg_per_s": …, "peak_rss_mib": …} (RSS summed over the pool).
"""

import json
import os
import smtplib
import subprocess
import sys
import time

import redis
from celery import Celery

BROKER = os.environ.get("PEER_BROKER", "redis://127.0.0.1:6379/15")
app = Celery("peer", broker=BROKER)
app.conf.update(worker_prefetch_multiplier=16, task_acks_late=False, worker_hijack_root_logger=False)

_smtp = None
BODY = "Hi, your table is waiting. " + "x" * 1200


@app.task(name="peer.send_email")
def send_email(i, port):
    global _smtp
    if _smtp is None:
        _smtp = smtplib.SMTP("127.0.0.1", port)
    message = (f"From: hello@cafe.example\r\nTo: guest{i}@example.com\r\nSubject: We miss you\r\n"
               f"Message-ID: <peer.{i}@cafe.example>\r\n\r\n{BODY}\r\n")
    _smtp.sendmail("hello@cafe.example", [f"guest{i}@example.com"], message)
    redis.Redis.from_url(BROKER).incr("peer:sent")


def rss_of_tree(pid):
    """Resident memory of a process and its children, MiB."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return sum(int(x) for x in out.stdout.split()) / 1024


def main():
    n, port, concurrency = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    r = redis.Redis.from_url(BROKER)
    r.flushdb()
    for i in range(n):
        send_email.apply_async((i, port))
    started = time.monotonic()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "peer_celery", "worker", "--concurrency", str(concurrency),
         "--pool", "prefork", "--loglevel", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=os.path.dirname(os.path.abspath(__file__)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    try:
        while int(r.get("peer:sent") or 0) < n:
            peak = max(peak, rss_of_tree(worker.pid))
            if time.monotonic() - started > 1200:
                sys.exit("the Celery peer did not finish within 20 minutes")
            time.sleep(0.2)
        seconds = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    print(json.dumps({"seconds": seconds, "msg_per_s": n / seconds, "peak_rss_mib": peak}))


if __name__ == "__main__":
    main()
