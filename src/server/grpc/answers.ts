// Answers a client does not read. A call's answer is written to its HTTP/2 stream, and
// HTTP/2's flow control lets it out only as fast as the client reads: a client that
// sends calls and never reads their answers (or says its window is 0) keeps each call,
// decided and answered, in the process until its connection closes: up to
// max_concurrent_streams (1,000) a connection, max_connections (4,096) connections,
// for max_connection_age_seconds and its grace (330 s by default). 4,000 such calls over
// 50 connections took a process from 97 to 197 MB (Node 20), so one client with an API
// key could fill a process's memory. Here a connection is closed (GOAWAY
// ENHANCE_YOUR_CALM, then its socket), counted and logged, when an answer on it has
// waited ANSWER_WAIT_MS to be read, or when it holds the most unread answers of a
// process that holds more than MAX_UNREAD_ANSWERS. A working client reads its answers
// as they come: each is a few hundred bytes, well within HTTP/2's window. A call ended
// before its request arrived whole (arrival.ts) whose client keeps its own side of the
// stream open is held the same way and counted the same way: its answer is not taken.
import type { EventEmitter } from "node:events";
import { constants, type Http2Session, type ServerHttp2Stream } from "node:http2";
import { performance } from "node:perf_hooks";
import type { Counter } from "prom-client";
import type { CountedWarning } from "../../observability/index.js";

/** An answer not read within this closes its connection. */
export const ANSWER_WAIT_MS = 10_000;
/** Unread answers a process holds at most (about 25 kB each) before it closes the connections holding the most. */
export const MAX_UNREAD_ANSWERS = 1_024;
/** How often the streams still open are looked at (an answer counts as unread from the first look that finds it written). */
const SWEEP_MS = 1_000;

/** What the connections closed here are counted in, by reason. */
export const UNREAD_ANSWERS_METRIC = {
  name: "verdict_grpc_unread_answers_closed_total",
  help: "gRPC connections closed because their client did not read its answers: waited (one waited 10 s), most (the process held more than 1,024 unread, this connection the most).",
  labelNames: ["reason"] as const,
};

/**
 * Watches every stream of `sessions` (the HTTP/2 server grpc-js serves the connections
 * handed in with; see connections.ts `injectorSessions`). Without it, nothing is watched
 * (injectorSessions has warned).
 */
export class UnreadAnswers {
  /** The streams open, each with when a look first found its answer written (bytes waiting in it, or its writable side ended). */
  private readonly open = new Map<ServerHttp2Stream, number | undefined>();
  private readonly sweep: NodeJS.Timeout | undefined;

  constructor(
    sessions: EventEmitter | undefined,
    private readonly closed: Counter<"reason">,
    private readonly warning: CountedWarning,
  ) {
    if (!sessions) return;
    sessions.on("stream", (stream: ServerHttp2Stream) => {
      this.open.set(stream, undefined);
      stream.once("close", () => this.open.delete(stream));
    });
    this.sweep = setInterval(() => this.look(), SWEEP_MS).unref();
  }

  stop(): void {
    clearInterval(this.sweep);
  }

  /** Finds the answers not read and closes the connections holding them, as above. */
  private look(): void {
    const now = performance.now();
    const unread = new Map<Http2Session, number>();
    const waited = new Set<Http2Session>();
    let total = 0;
    for (const [stream, answeredAt] of this.open) {
      const session = stream.session;
      // Nothing written yet (still being decided), or its connection is going. (grpc-js ends a stream once its message is out.)
      if (!(stream.writableLength > 0 || stream.writableEnded) || !session || session.destroyed) continue;
      if (answeredAt === undefined) {
        this.open.set(stream, now);
        continue;
      }
      total += 1;
      unread.set(session, (unread.get(session) ?? 0) + 1);
      if (now - answeredAt >= ANSWER_WAIT_MS) waited.add(session);
    }
    for (const session of waited) {
      total -= unread.get(session) ?? 0;
      this.close(session, "waited");
    }
    if (total <= MAX_UNREAD_ANSWERS) return;
    const most = [...unread].filter(([session]) => !waited.has(session)).sort((a, b) => b[1] - a[1]);
    for (const [session, count] of most) {
      if (total <= MAX_UNREAD_ANSWERS) break;
      total -= count;
      this.close(session, "most");
    }
  }

  private close(session: Http2Session, reason: "waited" | "most"): void {
    this.closed.inc({ reason });
    this.warning.count();
    session.destroy(undefined, constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}
