// arrivalBounds (src/server/grpc/arrival.ts) on a real grpc-js server over the
// loopback: a call whose request has not arrived whole within its time is ended
// DEADLINE_EXCEEDED, and that time is kept on the monotonic clock, so a step of the
// wall clock does not move it. The defaults over `verdict serve`:
// test/e2e/call-arrival.test.ts.
import * as grpc from "@grpc/grpc-js";
import { Counter, Registry } from "prom-client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { CountedWarning } from "../../src/observability/index.js";
import { arrivalBounds, REQUESTS_CUT_METRIC } from "../../src/server/grpc/arrival.js";
import { captureLog } from "../support/log.js";

/** The time a request has to arrive here: the setting under test, not a default raised (that is 10 s). */
const TIMEOUT_MS = 1_000;
const METHOD = "/arrival.Test/Echo";
const bytes = {
  serialize: (value: Buffer) => value,
  deserialize: (value: Buffer) => value,
};

let server: grpc.Server;
let client: grpc.Client;
let stopSweep: () => void;
let registry: Registry;
let cut: Counter<"reason">;

beforeEach(async () => {
  const { log } = captureLog();
  registry = new Registry();
  cut = new Counter({ ...REQUESTS_CUT_METRIC, registers: [registry] });
  const arrival = arrivalBounds({
    timeoutMs: TIMEOUT_MS,
    cut,
    warnings: { timeout: new CountedWarning(log, "timeout"), overloaded: new CountedWarning(log, "overloaded") },
  });
  stopSweep = () => arrival.stop();
  server = new grpc.Server({ interceptors: [arrival.interceptor] });
  server.addService(
    {
      echo: {
        path: METHOD,
        requestStream: false,
        responseStream: false,
        requestSerialize: bytes.serialize,
        requestDeserialize: bytes.deserialize,
        responseSerialize: bytes.serialize,
        responseDeserialize: bytes.deserialize,
      },
    },
    { echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => done(null, call.request) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterEach(() => {
  vi.restoreAllMocks();
  client.close();
  stopSweep();
  server.forceShutdown(); // a call that was not ended keeps tryShutdown waiting
});

interface Ended {
  code: grpc.status;
  afterMs: number;
}

/** A call whose request never ends (its client sends no half-close); resolves with the status it is ended with. */
function neverArriving(): Promise<Ended> {
  const opened = performance.now();
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(METHOD, bytes.serialize, bytes.deserialize, (error) =>
      resolve({ code: error?.code ?? grpc.status.OK, afterMs: performance.now() - opened }),
    );
    call.write(Buffer.from("part of a request"));
  });
}

/** A unary call sent whole; resolves with its status. */
function arriving(): Promise<grpc.status> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(METHOD, bytes.serialize, bytes.deserialize, Buffer.from("whole"), (error) => resolve(error?.code ?? grpc.status.OK)),
  );
}

async function cutFor(reason: string): Promise<number> {
  const metric = await cut.get();
  return metric.values.find((value) => value.labels["reason"] === reason)?.value ?? 0;
}

it("ends a call whose request has not arrived within its time, and serves one that has", async () => {
  const ended = neverArriving();
  expect(await arriving()).toBe(grpc.status.OK);
  const { code, afterMs } = await ended;
  expect(code).toBe(grpc.status.DEADLINE_EXCEEDED);
  expect(afterMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
  expect(await cutFor("request_timeout")).toBe(1);
});

it("ends it in its time when the wall clock is stepped back an hour while it arrives", async () => {
  const ended = neverArriving();
  await new Promise((resolve) => setTimeout(resolve, 100)); // its headers are in: it is stamped
  const wall = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => wall() - 3_600_000);
  const notEnded = new Promise<Ended>((resolve) => setTimeout(() => resolve({ code: grpc.status.OK, afterMs: Infinity }), 5 * TIMEOUT_MS));
  const { code, afterMs } = await Promise.race([ended, notEnded]);
  expect(code).toBe(grpc.status.DEADLINE_EXCEEDED);
  // The sweep looks once per TIMEOUT_MS (at most a second): the call is ended within two of it, not an hour later.
  expect(afterMs).toBeLessThan(3 * TIMEOUT_MS);
  expect(await cutFor("request_timeout")).toBe(1);
});
