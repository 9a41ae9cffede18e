import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";
import { inject } from "vitest";

export function mongoUri(): string {
  return inject("mongoUri");
}

/** A database name no other test file uses, on the run's shared server. */
export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

export async function connectTestClient(): Promise<MongoClient> {
  const client = new MongoClient(mongoUri(), { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  return client;
}
