#!/usr/bin/env python3
"""rekindle's benchmarks: each figure is a median of several runs, reported as a ratio to a
floor measured in the same run on the same data (these machines are shared and noisy).

    python3 bench/run.py                 # default sizes (1M customers for import and evaluation)
    python3 bench/run.py --quick         # tiny sizes: checks that the harness works (CI)

Needs: sqlite3, psql/PostgreSQL on 127.0.0.1:5432 (trust auth), postfix's smtp-sink and
smtp-source, wrk. Results go to stdout as a Markdown table and to bench/results.json.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AT = "2026-11-01T09:00:00Z"
# serve_ticks' schedule: every rule every this many seconds.
SERVE_TICK = 10
PG_ADMIN = os.environ.get("REKINDLE_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")


def run(cmd, cwd=None, env=None, stdout=subprocess.DEVNULL, check=True):
    """Runs a command; returns (wall seconds, peak RSS in MiB) of that one process."""
    started = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE, shell=isinstance(cmd, str))
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - started
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if check and os.waitstatus_to_exitcode(status) not in (0, 3):
        sys.exit(f"failed: {cmd}\n{err}")
    return wall, usage.ru_maxrss / 1024


def log_fields(line):
    """The fields of one line of `--log-format json` output ({} for anything else)."""
    try:
        return json.loads(line).get("fields", {})
    except ValueError:
        return {}


def median_of(n, fn):
    walls, rss = [], []
    for _ in range(n):
        w, r = fn()
        walls.append(w)
        rss.append(r)
    return statistics.median(walls), max(rss)


def fresh_sqlite(path):
    """Removes a SQLite database and its WAL files; returns its URL."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return f"sqlite://{path}"


def pg_url(name):
    # Every client here (ours, psql's floors, graphile-worker) talks to the same local server
    # in plain text: node-postgres does not ask for TLS, libpq and sqlx do by default, and TLS
    # over loopback cost rekindle 13 % of a 20k-email run on PostgreSQL (BENCHMARKS.md).
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    return url if "sslmode=" in PG_ADMIN else url + "?sslmode=disable"


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, stdout=subprocess.DEVNULL)


def fresh_pg(name):
    psql(PG_ADMIN, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(PG_ADMIN, f"CREATE DATABASE {name}")
    return pg_url(name)


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.binary)
        self.work = tempfile.mkdtemp(prefix="rekindle-bench-")
        self.rows = []
        # A book of a million customers is measured once (a run takes minutes); smaller ones
        # get the median of --runs like the rest.
        self.book_runs = 1 if args.customers >= 500_000 else args.runs
        self.results = {}

    def rekindle(self, args, cwd, db_url, extra_env=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("REKINDLE_")}
        env["REKINDLE_DATABASE_URL"] = db_url
        # Email over SMTP needs a way to unsubscribe: mailto tokens are signed with this.
        env["REKINDLE_LINK_SECRET"] = "bench-link-secret-0123456789abcdef"
        env.update(extra_env or {})
        return [self.bin] + args, env

    def record(self, name, ours, floor, unit, floor_name, goal, note=""):
        ratio = ours / floor if floor else float("nan")
        self.rows.append((name, ours, floor, unit, floor_name, ratio, goal, note))
        self.results[name] = {"ours": ours, "floor": floor, "unit": unit, "ratio": ratio, "floor_name": floor_name}
        print(f"  {name}: {ours:.3f} {unit} vs {floor_name} {floor:.3f} {unit} -> ratio {ratio:.2f} {note}", flush=True)

    # -- data -----------------------------------------------------------------------------

    def generate(self):
        data = os.path.join(self.work, "data")
        run([self.bin, "generate", "--customers", str(self.args.customers), "--seed", "7",
             "--until", "2026-11-01T00:00:00Z", "--out", data])
        with open(os.path.join(data, "events.csv")) as f:
            self.events = sum(1 for _ in f) - 1
        self.data = data
        shutil.copytree(os.path.join(ROOT, "rules"), os.path.join(self.work, "rules"))
        with open(os.path.join(self.work, "rekindle.toml"), "w") as f:
            f.write('rules_dir = "rules"\n')
        print(f"data: {self.args.customers} customers, {self.events} events", flush=True)

    # -- 1. import -------------------------------------------------------------------------

    def import_sqlite(self):
        events = os.path.join(self.data, "events.csv")
        customers = os.path.join(self.data, "customers.csv")

        def ours():
            url = fresh_sqlite(os.path.join(self.work, "import.db"))
            cmd, env = self.rekindle(["import", "customers", customers], self.work, url)
            run(cmd, cwd=self.work, env=env)
            cmd, env = self.rekindle(["import", "events", events], self.work, url)
            return run(cmd, cwd=self.work, env=env)

        def floor():
            db = os.path.join(self.work, "floor.db")
            if os.path.exists(db):
                os.remove(db)
            script = (f".mode csv\n.import {events} events\n"
                      # The same index rekindle maintains on SQLite (migration 0013).
                      "CREATE INDEX events_ckt ON events (customer_id, kind, occurred_at, amount, score);\n")
            return run(f"sqlite3 {db} <<'EOF'\n{script}EOF", cwd=self.work)

        o, rss = median_of(self.book_runs, ours)
        f, _ = median_of(self.book_runs, floor)
        self.record("import events, SQLite", o, f, "s", "sqlite3 .import + 1 index", "<= 2x",
                    f"({self.events / o:,.0f} events/s, peak {rss:.0f} MiB)")
        self.sqlite_db = os.path.join(self.work, "import.db")

    def import_postgres(self):
        events = os.path.join(self.data, "events.csv")
        customers = os.path.join(self.data, "customers.csv")
        url = fresh_pg("rekindle_bench")
        cmd, env = self.rekindle(["import", "customers", customers], self.work, url)
        run(cmd, cwd=self.work, env=env)
        cmd, env = self.rekindle(["import", "events", events], self.work, url)
        o, _ = run(cmd, cwd=self.work, env=env)
        self.pg_url = url
        # The floor: COPY into a bare table, then the indexes events has (an identity key, the
        # unique external id, the per-customer index), built once after the load - the fastest
        # way PostgreSQL itself offers to the same indexed table.
        floor_url = fresh_pg("rekindle_bench_floor")
        with open(events) as f:
            columns = f.readline().strip().split(",")
        psql(floor_url, "CREATE TABLE events (row_id BIGINT GENERATED ALWAYS AS IDENTITY, "
             + ", ".join(f"{c} TEXT" for c in columns) + ")")
        f, _ = run(["psql", "-q", "-v", "ON_ERROR_STOP=1", floor_url, "-c",
                    f"\\copy events ({', '.join(columns)}) FROM '{events}' CSV HEADER",
                    "-c", "ALTER TABLE events ADD PRIMARY KEY (row_id)",
                    "-c", "ALTER TABLE events ADD UNIQUE (id)",
                    "-c", "CREATE INDEX ON events (customer_id, kind, occurred_at)"])
        self.record("import events, PostgreSQL", o, f, "s", "COPY + the same indexes", "<= 2x",
                    "(one run each; first import into an empty table)")

    # -- 2. evaluation ---------------------------------------------------------------------

    def evaluation(self):
        query = ("SELECT customer_id, kind, max(occurred_at), count(*) FROM events "
                 "GROUP BY customer_id, kind;")

        def ours(url):
            cmd, env = self.rekindle(["rules", "preview", "--at", AT, "--format", "json"], self.work, url)
            return lambda: run(cmd, cwd=self.work, env=env)

        o, rss = median_of(self.book_runs, ours(f"sqlite://{self.sqlite_db}"))
        f, _ = median_of(self.book_runs, lambda: run(["sqlite3", self.sqlite_db, query]))
        self.record("evaluate example rules, SQLite", o, f, "s", "sqlite3 GROUP BY pass", "<= 3x",
                    f"(peak {rss:.0f} MiB; goal <= 500)")
        # Ticks on copies: the recorded decisions must not change what later rows measure.
        self.ticks("SQLite", f"sqlite://{self.sqlite_copy('ticks.db')}", f, "sqlite3 GROUP BY pass")
        self.serve_ticks("SQLite", f"sqlite://{self.sqlite_copy('serve.db')}", f, "sqlite3 GROUP BY pass")
        if getattr(self, "pg_url", None):
            o, rss = median_of(self.book_runs, ours(self.pg_url))
            f, _ = median_of(self.book_runs, lambda: run(["psql", "-q", self.pg_url, "-c", query]))
            self.record("evaluate example rules, PostgreSQL", o, f, "s", "psql GROUP BY pass", "<= 3x",
                        f"(peak {rss:.0f} MiB)")
            for copy in ("rekindle_bench_ticks", "rekindle_bench_serve"):
                psql(PG_ADMIN, f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
                psql(PG_ADMIN, f"CREATE DATABASE {copy} TEMPLATE rekindle_bench")
            self.ticks("PostgreSQL", pg_url("rekindle_bench_ticks"), f, "psql GROUP BY pass")
            self.serve_ticks("PostgreSQL", pg_url("rekindle_bench_serve"), f, "psql GROUP BY pass")

    def sqlite_copy(self, name):
        """A copy of the imported SQLite book, for rows that write to it."""
        path = os.path.join(self.work, name)
        fresh_sqlite(path)
        for suffix in ("", "-wal"):
            if os.path.exists(self.sqlite_db + suffix):
                shutil.copy(self.sqlite_db + suffix, path + suffix)
        return path

    def ticks(self, backend, url, group_by, floor_name):
        """A recorded full evaluation at AT, then hourly ticks with nothing new: each looks only
        at the customers who changed or are due (the first also at those decided at AT)."""
        start = datetime.datetime.fromisoformat(AT.replace("Z", "+00:00"))

        def at(hours):
            return (start + datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

        cmd, env = self.rekindle(["evaluate", "--at", AT, "--full"], self.work, url)
        full, rss = run(cmd, cwd=self.work, env=env)
        self.record(f"recorded full evaluation, {backend}", full, group_by, "s", floor_name, "info",
                    f"(decisions and every customer's wake written; peak {rss:.0f} MiB)")
        walls = []
        for hour in range(1, 4):
            cmd, env = self.rekindle(["evaluate", "--at", at(hour)], self.work, url)
            walls.append(run(cmd, cwd=self.work, env=env)[0])
        self.record(f"tick with nothing changed, {backend}", statistics.median(walls), group_by, "s", floor_name,
                    "<= 0.3x", f"(hourly ticks after the full one: {', '.join(f'{w:.2f}' for w in walls)} s)")

    def serve_ticks(self, backend, url, group_by, floor_name, ticks=4):
        """`serve`'s own ticks on a fresh copy of the imported book, as an operator's first start
        meets it: every rule every SERVE_TICK seconds, timed by serve itself (its `evaluated` log
        line). Beside the evaluation a serve tick creates the messages of its sends and marks
        conversions; the first tick is a full pass, the rest find nothing changed. Delivery is
        throttled to a trickle so it does not compete.

        Not on the ticks' copy: serve ticks at the wall clock, weeks after AT, and a series
        step whose previous step was decided at AT and never went out (nothing delivers here)
        is overdue the moment serve starts: such a customer is looked at every tick until the
        ledger says the message went (rules/wake.rs), which made every tick a full pass."""
        ws = os.path.join(self.work, f"serve-ticks-{backend}")
        rules = os.path.join(ws, "rules")
        os.makedirs(rules)
        for name in os.listdir(os.path.join(self.work, "rules")):
            with open(os.path.join(self.work, "rules", name)) as f:
                text = f.read()
            if name.endswith(".toml"):
                text = re.sub(r'(?m)^schedule = "[^"]*"', f'schedule = "*/{SERVE_TICK} * * * * *"', text)
            with open(os.path.join(rules, name), "w") as f:
                f.write(text)
        with open(os.path.join(ws, "rekindle.toml"), "w") as f:
            f.write('[http]\nlisten = "127.0.0.1:0"\n'
                    '[delivery.email]\nrate_per_second = 0.01\n[delivery.sms]\nrate_per_second = 0.01\n')
        cmd, env = self.rekindle(["--log-format", "json", "serve"], ws, url)
        log_path = os.path.join(ws, "serve.log")
        seen = []
        with open(log_path, "w") as log:
            p = subprocess.Popen(cmd, cwd=ws, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 1800
            while len(seen) < ticks:
                if p.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"serve ticks, {backend}: {len(seen)} of {ticks} ticks (log: {log_path})")
                time.sleep(1)
                with open(log_path) as log:
                    seen = [f for f in map(log_fields, log) if f.get("message") == "evaluated"]
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=120)
        first, rest = seen[0], seen[1:ticks]
        self.record(f"serve's first tick, {backend}", first["tick_seconds"], group_by, "s", floor_name, "info",
                    f"(evaluation {first['seconds']:.2f} s, {first['queued']} messages queued, "
                    f"{first['converted']} conversions in {first['conversion_seconds']:.2f} s)")
        walls = [t["tick_seconds"] for t in rest]
        conversions = [t["conversion_seconds"] for t in rest]
        self.record(f"serve tick with nothing changed, {backend}", statistics.median(walls), group_by, "s",
                    floor_name, "<= 0.3x",
                    f"(next ticks: {', '.join(f'{w:.2f}' for w in walls)} s, looking at "
                    f"{', '.join(str(t['customers']) for t in rest)} customers; conversions "
                    f"{', '.join(f'{c:.2f}' for c in conversions)} s)")

    # -- 3. email delivery -----------------------------------------------------------------

    def email_workspace(self, name, n, db_url, extra_config=""):
        ws = os.path.join(self.work, name)
        os.makedirs(os.path.join(ws, "rules"), exist_ok=True)
        with open(os.path.join(ws, "rules", "win-back.toml"), "w") as f:
            f.write('id = "win-back"\nname = "Win back"\nschedule = "*/2 * * * * *"\n'
                    '[trigger]\ntype = "inactive"\ndays = 30\n[message]\nchannel = "email"\n'
                    'subject = "We miss you, {{ customer.first_name }}"\n'
                    'body = "Hi {{ customer.first_name }}, your table is waiting. ' + "x" * 1200 + '"\n')
        with open(os.path.join(ws, "rekindle.toml"), "w") as f:
            f.write(f'[policy]\nmax_messages = 5\n[quiet_hours]\nsms = ""\n{extra_config}')
        with open(os.path.join(ws, "customers.csv"), "w") as c, open(os.path.join(ws, "events.csv"), "w") as e:
            c.write("id,name,email,consent_email\n")
            e.write("id,customer_id,kind,occurred_at\n")
            for i in range(n):
                c.write(f"c{i},Guest {i},guest{i}@example.com,yes\n")
                e.write(f"v{i},c{i},visit,2026-09-01T10:00:00Z\n")
        for what in ("customers", "events"):
            cmd, env = self.rekindle(["import", what, f"{what}.csv"], ws, db_url)
            run(cmd, cwd=ws, env=env)
        return ws

    def smtp_sink(self, port):
        return subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def email(self):
        n, conns, port = self.args.emails, 8, 25250
        sink = self.smtp_sink(port)
        time.sleep(0.5)
        try:
            smtp = (f'[business]\naddress = "Bench utca 1, 1000 Budapest"\n[email]\ntransport = "smtp"\nunsubscribe_mailto = "unsubscribe@bench.example"\n[email.smtp]\nhost = "127.0.0.1"\nport = {port}\n'
                    f'security = "none"\npool_size = {conns}\n[delivery]\nconcurrency = 32\n'
                    f'[delivery.email]\nconcurrency = {conns}\n')

            def ours(backend):
                def once():
                    url = (fresh_sqlite(os.path.join(self.work, "email.db")) if backend == "sqlite"
                           else fresh_pg("rekindle_bench_email"))
                    ws = self.email_workspace(f"email-{backend}", n, url, smtp)
                    cmd, env = self.rekindle(["evaluate", "--at", AT], ws, url)
                    run(cmd, cwd=ws, env=env)
                    cmd, env = self.rekindle(["run", "--once", "--at", AT], ws, url)
                    return run(cmd, cwd=ws, env=env)
                return once

            f, _ = median_of(self.args.runs, lambda: run(
                ["smtp-source", "-c", "-l", "2000", "-m", str(n), "-s", str(conns),
                 "-f", "hello@cafe.example", "-t", "guest@example.com", f"127.0.0.1:{port}"]))
            for backend in ("sqlite", "postgres"):
                ob, rss_b = median_of(self.args.runs, ours(backend))
                if backend == "sqlite":
                    o, rss = ob, rss_b
                self.record(f"email delivery to smtp-sink, {backend} (msgs/s)", n / ob, n / f, "msg/s",
                            f"smtp-source, {conns} connections", ">= 0.8x",
                            f"({n} messages, peak {rss_b:.0f} MiB; ratio = ours/floor)")
            self.peer(n, port, conns, n / o, rss)
        finally:
            sink.terminate()

    def peer(self, n, port, conns, ours_rate, ours_rss):
        """The same emails through Celery + Redis + smtplib, same sink, same connection count."""
        try:
            import celery  # noqa: F401
            import redis  # noqa: F401
        except ImportError:
            print("  peer: celery and redis (pip) are not installed; skipped", flush=True)
            return
        rates, peak = [], 0.0
        for _ in range(self.args.runs):
            out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "peer_celery.py"), str(n), str(port),
                                  str(conns)], capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rates.append(r["msg_per_s"])
            peak = max(peak, r["peak_rss_mib"])
        self.record("email delivery vs Celery peer (msgs/s)", ours_rate, statistics.median(rates), "msg/s",
                    f"Celery+Redis+smtplib, {conns} workers", ">= 5x",
                    f"(RSS: rekindle {ours_rss:.0f} MiB, Celery pool {peak:.0f} MiB)")

    # -- 5. queue ---------------------------------------------------------------------------

    def queue(self):
        """Matched decisions drained through the job queue with the SMS outbox (a JSON line
        appended per message: as close to a no-op channel as the product has), on SQLite and
        PostgreSQL, against graphile-worker on the same PostgreSQL and pgbench's floors."""
        n = self.args.emails
        for backend in ("sqlite", "postgres"):
            ws = os.path.join(self.work, f"queue-{backend}")
            url = f"sqlite://{ws}/q.db" if backend == "sqlite" else fresh_pg("rekindle_bench_queue")
            os.makedirs(os.path.join(ws, "rules"), exist_ok=True)
            with open(os.path.join(ws, "rules", "r.toml"), "w") as f:
                f.write('id = "r"\nname = "r"\n[trigger]\ntype = "inactive"\ndays = 30\n'
                        '[message]\nchannel = "sms"\nbody = "Hi"\n')
            with open(os.path.join(ws, "rekindle.toml"), "w") as f:
                f.write('[policy]\nmax_messages = 5\n[quiet_hours]\nsms = ""\n[delivery]\nconcurrency = 32\n'
                        '[delivery.sms]\nconcurrency = 32\n')
            with open(os.path.join(ws, "c.csv"), "w") as c, open(os.path.join(ws, "e.csv"), "w") as e:
                c.write("id,phone,consent_sms\n")
                e.write("id,customer_id,kind,occurred_at\n")
                for i in range(n):
                    c.write(f"c{i},+1555{i:07d},yes\n")
                    e.write(f"v{i},c{i},visit,2026-09-01T10:00:00Z\n")
            for what, file in (("customers", "c.csv"), ("events", "e.csv")):
                cmd, env = self.rekindle(["import", what, file], ws, url)
                run(cmd, cwd=ws, env=env)
            cmd, env = self.rekindle(["evaluate"], ws, url)
            run(cmd, cwd=ws, env=env)
            cmd, env = self.rekindle(["run", "--once"], ws, url)
            wall, _ = run(cmd, cwd=ws, env=env)
            self.results[f"queue drain {backend}"] = {"jobs_per_s": n / wall}
            print(f"  queue: rekindle on {backend}: {n / wall:,.0f} jobs/s drained (evaluation excluded)", flush=True)
            if backend == "postgres":
                self.rekindle_pg_drain = n / wall
        graphile = os.environ.get("GRAPHILE_NODE_PATH", os.path.join(ROOT, "bench", "node_modules"))
        if shutil.which("node") and os.path.isdir(os.path.join(graphile, "graphile-worker")):
            url = fresh_pg("rekindle_bench_graphile")
            out = subprocess.run(["node", os.path.join(ROOT, "bench", "peer_graphile.js"), str(n), url],
                                 env={**os.environ, "NODE_PATH": graphile}, capture_output=True, text=True,
                                 check=True).stdout
            g = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
            self.results["queue graphile-worker"] = g
            self.record("queue drain on PostgreSQL vs graphile-worker (jobs/s)", self.rekindle_pg_drain,
                        g["drain_per_s"], "jobs/s", "graphile-worker 0.18, batching", "—",
                        f"(graphile enqueue {g['enqueue_per_s']:,.0f}/s, pick-up p50 {g['p50_ms']} ms, "
                        f"p95 {g['p95_ms']} ms)")
        else:
            print("  queue: graphile-worker is not installed (cd bench && npm install graphile-worker@0.18); "
                  "skipped", flush=True)
        # pgbench's floors: one-row INSERT, and a SKIP LOCKED claim, 8 clients for 10 s.
        url = fresh_pg("rekindle_bench_pgbench")
        psql(url, "CREATE TABLE q (id BIGSERIAL PRIMARY KEY, payload TEXT, done BOOLEAN NOT NULL DEFAULT FALSE)")
        psql(url, "CREATE INDEX q_todo ON q (id) WHERE NOT done")
        scripts = {
            "insert": "INSERT INTO q (payload) VALUES ('x');\n",
            "claim": "WITH c AS (SELECT id FROM q WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                     "UPDATE q SET done = TRUE FROM c WHERE q.id = c.id;\n",
        }
        seconds = 3 if self.args.quick else 10
        for name, sql in scripts.items():
            path = os.path.join(self.work, f"{name}.sql")
            with open(path, "w") as f:
                f.write(sql)
            out = subprocess.run(["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(seconds), "-f", path, url],
                                 capture_output=True, text=True, check=True).stdout
            tps = float(out.split("tps = ")[1].split()[0])
            self.results[f"pgbench {name}"] = {"tps": tps}
            print(f"  queue floor: pgbench {name}: {tps:,.0f}/s", flush=True)
        self.record("queue drain on PostgreSQL vs pgbench SKIP LOCKED claim (jobs/s)", self.rekindle_pg_drain,
                    self.results["pgbench claim"]["tps"], "jobs/s", "pgbench claim, 8 clients", "—",
                    f"(pgbench one-row INSERT {self.results['pgbench insert']['tps']:,.0f}/s)")

    # -- 6. scale-out ----------------------------------------------------------------------

    def scale_out(self):
        n, port = self.args.emails, 25251
        sink = self.smtp_sink(port)
        time.sleep(0.5)
        try:
            throughput = {}
            for instances in (1, 2, 3):
                url = fresh_pg("rekindle_bench_scale")
                extra = (f'[http]\nlisten = "127.0.0.1:0"\n[business]\naddress = "Bench utca 1, 1000 Budapest"\n[email]\ntransport = "smtp"\n'
                         f'unsubscribe_mailto = "unsubscribe@bench.example"\n[email.smtp]\n'
                         f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\npool_size = 8\n'
                         f'[delivery]\nconcurrency = 16\n')
                ws = self.email_workspace(f"scale{instances}", n, url, extra)
                cmd, env = self.rekindle(["serve"], ws, url)
                started = None
                procs = [subprocess.Popen(cmd, cwd=ws, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL) for _ in range(instances)]
                try:
                    # The clock starts when the evaluation has queued every message: start-up and
                    # the wait for the first tick are not delivery.
                    deadline = time.monotonic() + 600
                    while True:
                        out = subprocess.run(["psql", "-tA", url, "-c",
                                              "SELECT count(*), count(*) FILTER (WHERE status = 'sent'), "
                                              "(SELECT count(*) FROM message_events WHERE status = 'sent') FROM messages"],
                                             capture_output=True, text=True).stdout.strip()
                        queued, sent, events = (int(x) for x in out.split("|")) if "|" in out else (0, 0, 0)
                        if started is None and queued >= n:
                            started = time.monotonic()
                        if sent >= n:
                            break
                        if time.monotonic() > deadline:
                            sys.exit("scale-out: not all messages were sent within 10 minutes")
                        time.sleep(0.05)
                    wall = time.monotonic() - started
                finally:
                    for p in procs:
                        p.send_signal(signal.SIGTERM)
                    for p in procs:
                        p.wait(timeout=60)
                throughput[instances] = n / wall
                print(f"  scale-out: {instances} instance(s): {n / wall:.0f} msg/s, "
                      f"duplicates {events - sent}", flush=True)
                self.results[f"scale-out {instances}"] = {"msg_per_s": n / wall, "duplicates": events - sent}
            self.record("scale-out 3 vs 1 instance (msgs/s)", throughput[3], throughput[1], "msg/s",
                        "1 instance", ">= 1x, 0 duplicates")
        finally:
            sink.terminate()

    # -- 7. HTTP ingest ---------------------------------------------------------------------

    def ingest(self):
        if not shutil.which("wrk"):
            print("  ingest: wrk is not installed; skipped", flush=True)
            return
        db = os.path.join(self.work, "ingest.db")
        url = f"sqlite://{db}"
        ws = self.email_workspace("ingest", 1000, url, '[http]\nlisten = "127.0.0.1:0"\n')
        cmd, env = self.rekindle(["serve"], ws, url, {"REKINDLE_API_TOKENS": "bench"})
        p = subprocess.Popen(cmd, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            base = p.stdout.readline().strip().removeprefix("listening on ")
            lua = os.path.join(ws, "post.lua")
            with open(lua, "w") as f:
                f.write(WRK_SCRIPT)
            out = subprocess.run(["wrk", "-t2", "-c8", f"-d{self.args.ingest_seconds}s", "--latency", "-s", lua,
                                  f"{base}/v1/events"], capture_output=True, text=True, check=True).stdout
            requests = float(out.split("Requests/sec:")[1].split()[0])
            p99 = out.split(" 99%")[1].split()[0]
            errors = "Non-2xx" in out or "Socket errors" in out
            self.results["ingest"] = {"requests_per_s": requests, "events_per_s": requests * 100, "p99": p99,
                                      "errors": errors}
            print(f"  ingest: {requests * 100:,.0f} events/s ({requests:.0f} batches of 100/s), p99 {p99}, "
                  f"errors: {'yes' if errors else 'none'}", flush=True)
            if errors:
                print(out)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)


WRK_SCRIPT = r"""
counter = 0
request = function()
  counter = counter + 1
  local items = {}
  for i = 1, 100 do
    local c = (counter * 7 + i) % 1000
    items[i] = string.format('{"id":"w%d-%d-%d","customer_id":"c%d","kind":"visit","occurred_at":"2026-10-01T10:00:00Z"}',
      math.random(1, 1000000000), counter, i, c)
  end
  local body = '{"events":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", nil, {["Authorization"] = "Bearer bench", ["Content-Type"] = "application/json"}, body)
end
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one run: checks the harness works")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "rekindle"))
    ap.add_argument("--customers", type=int, default=1_000_000,
                    help="the book for import and evaluation (1M customers: 28.25M events, one run each)")
    ap.add_argument("--emails", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ingest-seconds", type=int, default=60)
    ap.add_argument("--only", default="import,eval,email,queue,scaleout,ingest")
    args = ap.parse_args()
    if args.quick:
        args.customers, args.emails, args.runs, args.ingest_seconds = 500, 300, 1, 3
    only = set(args.only.split(","))
    b = Bench(args)
    try:
        b.generate()
        if "import" in only or "eval" in only:
            b.import_sqlite()
            b.import_postgres()
        if "eval" in only:
            b.evaluation()
        if "email" in only:
            b.email()
        if "queue" in only:
            b.queue()
        if "scaleout" in only:
            b.scale_out()
        if "ingest" in only:
            b.ingest()
    finally:
        shutil.rmtree(b.work, ignore_errors=True)
    print("\n| benchmark | rekindle | floor / peer | ratio | goal |\n|---|---|---|---|---|")
    for name, ours, floor, unit, floor_name, ratio, goal, note in b.rows:
        print(f"| {name} | {ours:,.2f} {unit} {note} | {floor_name}: {floor:,.2f} {unit} | {ratio:.2f} | {goal} |")
    with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
        json.dump(b.results, f, indent=2)


if __name__ == "__main__":
    main()
