// Starts the fauxqs SQS emulator on 127.0.0.1 only (its own CLI binds every
// interface and logs every request). Usage: node serve.mjs [PORT [DATA_DIR]];
// PORT 0 picks a free one; with DATA_DIR the queues and their messages are
// kept in SQLite there (written through on every change), so a restart on
// the same directory finds them, as a restarted SQS would. Prints one JSON
// line {"url": ...} once it is listening.
import { buildApp, startFauxqs } from "fauxqs";

const port = Number(process.argv[2] ?? 4566);
const dataDir = process.argv[3];
let stop;
if (dataDir) {
  const server = await startFauxqs({ port, host: "127.0.0.1", logger: false, dataDir });
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.port}` }));
  stop = () => server.stop();
} else {
  const app = buildApp({ logger: false });
  await app.listen({ port, host: "127.0.0.1" });
  console.log(JSON.stringify({ url: `http://127.0.0.1:${app.server.address().port}` }));
  stop = () => app.close();
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await stop();
    process.exit(0);
  });
}
