// The queue peer: graphile-worker on the same PostgreSQL, a no-op task, batching on.
//   node bench/peer_graphile.js N DATABASE_URL
// Prints {"enqueue_per_s", "drain_per_s", "p50_ms", "p95_ms"}: pick-up latency is from the
// job's run_at (the moment it became runnable) to the task starting.
const { run, makeWorkerUtils, Logger } = require("graphile-worker");

const quiet = new Logger(() => () => {});

async function main() {
  const n = parseInt(process.argv[2], 10);
  const url = process.argv[3];
  const utils = await makeWorkerUtils({ connectionString: url, logger: quiet });
  await utils.migrate();
  const t0 = Date.now();
  for (let i = 0; i < n; i += 1000) {
    const specs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) specs.push({ identifier: "noop", payload: { id: j } });
    await utils.addJobs(specs);
  }
  const enqueue = (Date.now() - t0) / 1000;
  const latencies = [];
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const t1 = Date.now();
  const runner = await run({
    connectionString: url,
    concurrency: 16,
    noHandleSignals: true,
    logger: quiet,
    pollInterval: 100,
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    taskList: {
      noop: async (_payload, helpers) => {
        latencies.push(Date.now() - new Date(helpers.job.run_at).getTime());
        done += 1;
        if (done === n) finish();
      },
    },
  });
  await finished;
  const drain = (Date.now() - t1) / 1000;
  await runner.stop();
  await utils.release();
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(JSON.stringify({ enqueue_per_s: n / enqueue, drain_per_s: n / drain, p50_ms: at(0.5), p95_ms: at(0.95) }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
