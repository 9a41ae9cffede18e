// The bench's database: MONGODB_URI when set, else the pinned local-mongo in memory.
// Its CPU is measured from /proc when its process is on this machine (found by the
// loopback port it listens on), whoever started it.
import { MongoClient } from "mongodb";
import { startLocalMongo } from "../src/dev/index.js";
import { pidListeningOn } from "./procfs.js";

export interface BenchDatabase {
  uri: string;
  /** "local-mongo (in memory)" or "MONGODB_URI". */
  kind: string;
  /** The database server's process, when it runs here; its CPU is then measured. */
  pid: number | undefined;
  client: MongoClient;
  stop(): Promise<void>;
}

export async function startDatabase(env: NodeJS.ProcessEnv = process.env): Promise<BenchDatabase> {
  const fromEnv = env["MONGODB_URI"];
  const server = fromEnv ? { uri: fromEnv, kind: "MONGODB_URI", stop: async () => {} } : { ...(await startLocalMongo()), kind: "local-mongo (in memory)" };
  const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  return {
    uri: server.uri,
    kind: server.kind,
    pid: localPid(server.uri),
    client,
    async stop() {
      await client.close();
      await server.stop();
    },
  };
}

function localPid(uri: string): number | undefined {
  const match = /^mongodb:\/\/(?:[^@/]*@)?(127\.0\.0\.1|localhost|\[::1\]):(\d+)[/?]?/.exec(uri);
  return match ? pidListeningOn(Number(match[2])) : undefined;
}
