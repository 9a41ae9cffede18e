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

/** Every collection of a database with its documents and index names: equal before and after, a command wrote nothing. */
export async function databaseSnapshot(name: string): Promise<unknown> {
  const client = await connectTestClient();
  try {
    const db = client.db(name);
    const collections = (await db.listCollections().toArray()).map((c) => c.name).sort();
    return await Promise.all(
      collections.map(async (c) => ({
        name: c,
        documents: await db.collection(c).find().sort({ _id: 1 }).toArray(),
        indexes: (await db.collection(c).indexes()).map((i) => i.name).sort(),
      })),
    );
  } finally {
    await client.close();
  }
}
