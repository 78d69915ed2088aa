// Starts the fauxqs SQS emulator on 127.0.0.1 only (its own CLI binds every
// interface and logs every request). Usage: node serve.mjs [PORT]; PORT 0
// picks a free one. Prints one JSON line {"url": ...} once it is listening.
import { buildApp } from "fauxqs";

const app = buildApp({ logger: false });
await app.listen({ port: Number(process.argv[2] ?? 4566), host: "127.0.0.1" });
console.log(JSON.stringify({ url: `http://127.0.0.1:${app.server.address().port}` }));

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await app.close();
    process.exit(0);
  });
}
