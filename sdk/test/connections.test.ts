// Which of the client's connections a call takes (src/connections.ts): the one with
// the fewest calls in flight, ties in turn. Channels connect lazily; none does here.
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Connections } from "../src/connections.js";

const open = (count: number) => new Connections("127.0.0.1:9", grpc.credentials.createInsecure(), {}, count);

describe("the client's connections", () => {
  it("takes the one with the fewest calls in flight, and ties in turn", () => {
    const connections = open(3);
    const [a, b, c] = [connections.take(), connections.take(), connections.take()];
    expect(new Set([a.stub, b.stub, c.stub]).size).toBe(3);
    b.done();
    expect(connections.take().stub).toBe(b.stub);
    a.done();
    c.done();
    const next = connections.take();
    expect(next.stub).toBe(c.stub); // a and c have none in flight; c comes after b, the last taken
    connections.close();
  });

  it("counts a call's end once, however often it is said", () => {
    const connections = open(2);
    const first = connections.take();
    first.done();
    first.done();
    const second = connections.take(); // the other one, in turn: both have none in flight
    const third = connections.take();
    expect(third.stub).toBe(first.stub);
    expect(second.stub).not.toBe(first.stub);
    connections.close();
  });

  it("keeps one connection when told to", () => {
    const connections = open(1);
    expect(connections.take().stub).toBe(connections.take().stub);
    connections.close();
  });
});
