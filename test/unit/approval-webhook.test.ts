// The approval webhook holds a bounded number of deliveries (docs/approvals.md
// "Notifications"): a receiver that does not answer, and a flood of approvals, cost
// at most MAX_SENDING connections and MAX_WAITING queued bodies; one more is dropped
// and logged, never sent later.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ApprovalWebhook, MAX_SENDING, MAX_WAITING, type ApprovalView } from "../../src/approvals/index.js";
import { captureLog } from "../support/log.js";

/** A receiver that holds every request until released, and counts how many it held at once. */
function holdingReceiver() {
  const held: ServerResponse[] = [];
  const delivered: string[] = [];
  let open = 0;
  let mostOpen = 0;
  let released = false;
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      delivered.push((JSON.parse(body) as { approval: { approval_id: string } }).approval.approval_id);
      if (released) return void response.writeHead(204).end();
      open += 1;
      mostOpen = Math.max(mostOpen, open);
      held.push(response);
    });
  });
  return {
    server,
    delivered,
    open: () => open,
    mostOpen: () => mostOpen,
    release() {
      released = true;
      for (const response of held.splice(0)) {
        open -= 1;
        response.writeHead(204).end();
      }
    },
  };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

const approval = (n: number) => ({ approval_id: `approval-${n}` }) as ApprovalView;

describe("the approval webhook's bound", () => {
  it("sends at most MAX_SENDING at once, holds MAX_WAITING more, and drops (logging) one beyond them", async () => {
    const receiver = holdingReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
    const captured = captureLog();
    // the configuration's defaults: 6 attempts, 5 s each
    const webhook = new ApprovalWebhook({
      url: `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hooks`,
      secret: "whsec-test",
      max_attempts: 6,
      timeout_ms: 5_000,
      log: captured.log,
    });
    close = async () => {
      webhook.close();
      receiver.server.closeAllConnections();
      await new Promise<void>((resolve) => receiver.server.close(() => resolve()));
    };

    const held = MAX_SENDING + MAX_WAITING;
    for (let n = 0; n < held + 2; n++) webhook.notify(approval(n));
    const dropped = captured.lines().filter((line) => String(line["msg"]).startsWith("approval webhook: too many deliveries held"));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ level: 40, approval: `approval-${held}`, times: 1 });

    await expect.poll(() => receiver.open(), { timeout: 5_000 }).toBe(MAX_SENDING);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.open()).toBe(MAX_SENDING);

    receiver.release();
    await expect.poll(() => receiver.delivered.length, { timeout: 20_000 }).toBe(held);
    expect(receiver.mostOpen()).toBe(MAX_SENDING);
    expect(new Set(receiver.delivered)).toEqual(new Set(Array.from({ length: held }, (_, n) => `approval-${n}`)));
    // room again once they are delivered
    webhook.notify(approval(held + 2));
    await expect.poll(() => receiver.delivered.at(-1), { timeout: 5_000 }).toBe(`approval-${held + 2}`);
  });
});
