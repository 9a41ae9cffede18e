// Which database URIs Verdict says at start travel in clear beyond loopback.
import { describe, expect, it } from "vitest";
import { plaintextDatabaseHosts } from "../../src/server/database-uri.js";

describe("a database connection in clear", () => {
  it("names the hosts beyond loopback of a mongodb:// URI that asks for no TLS, never its credentials", () => {
    expect(plaintextDatabaseHosts("mongodb://verdict:s3cret@db-1:27017,db-2:27017/verdict?replicaSet=rs0")).toEqual(["db-1", "db-2"]);
    expect(plaintextDatabaseHosts("mongodb://10.0.0.7/")).toEqual(["10.0.0.7"]);
    expect(plaintextDatabaseHosts("mongodb://db:27017/?tls=false")).toEqual(["db"]);
    expect(plaintextDatabaseHosts("mongodb://127.0.0.1:27017,db:27017")).toEqual(["db"]);
    expect(JSON.stringify(plaintextDatabaseHosts("mongodb://verdict:s3cret@db/"))).not.toContain("s3cret");
  });

  it("says nothing of TLS, mongodb+srv://, loopback and unix sockets", () => {
    for (const uri of [
      "mongodb://db:27017/?tls=true",
      "mongodb://db:27017/verdict?replicaSet=rs0&ssl=TRUE",
      "mongodb+srv://verdict:s3cret@cluster0.example.net/verdict",
      "mongodb://127.0.0.1:27017/?directConnection=true",
      "mongodb://localhost,[::1]:27018/",
      "mongodb://%2Ftmp%2Fmongodb-27017.sock/",
    ]) {
      expect(plaintextDatabaseHosts(uri)).toEqual([]);
    }
  });
});
