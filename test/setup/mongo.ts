// Finds a MongoDB-wire server for the test run, in this order: MONGODB_URI; a
// mongo:7 container when a container runtime answers; mongod on PATH; the pinned
// local-mongo. Servers started here are stopped after the run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localMongoAvailable, startLocalMongo } from "../../src/dev/index.js";
import { mongodOnPath, startMongod } from "../support/mongo-servers.js";

export interface TestMongo {
  uri: string;
  kind: string;
  stop(): Promise<void>;
}

export const NO_MONGO_MESSAGE =
  "No MongoDB server for the tests: set MONGODB_URI, start a container runtime (Docker or Podman), put mongod on PATH, " +
  "or install Java 17+ and Maven so that npm run tools can build the pinned local-mongo.";

export async function startTestMongo(): Promise<TestMongo> {
  const fromEnv = process.env["MONGODB_URI"];
  if (fromEnv) return { uri: fromEnv, kind: "MONGODB_URI", stop: async () => {} };

  const container = await startContainer();
  if (container) return container;

  if (mongodOnPath()) {
    const dbpath = mkdtempSync(join(tmpdir(), "verdict-mongod-"));
    const server = await startMongod({ dbpath });
    return {
      ...server,
      stop: async () => {
        await server.stop();
        rmSync(dbpath, { recursive: true, force: true });
      },
    };
  }
  if (localMongoAvailable()) return startLocalMongo();
  throw new Error(NO_MONGO_MESSAGE);
}

async function startContainer(): Promise<TestMongo | undefined> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined; // no container runtime answers here
  }
  const { MongoDBContainer } = await import("@testcontainers/mongodb");
  const container = await new MongoDBContainer("mongo:7").start();
  return {
    uri: `${container.getConnectionString()}?directConnection=true`,
    kind: "testcontainers mongo:7",
    stop: async () => {
      await container.stop();
    },
  };
}
