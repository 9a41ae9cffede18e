// The client's connections to Verdict, each call on the one with the fewest calls in
// flight (ties taken in turn). A Verdict on several cores runs a process per core, and
// each HTTP/2 connection is served by one of them: a client on a single connection
// keeps one process busy whatever its load, and leaves the others idle.
import type * as grpc from "@grpc/grpc-js";
import { PolicyDecisionServiceClient } from "./wire/index.js";

/** Connections a client opens unless told otherwise: enough for a Verdict of two processes (two cores). */
export const DEFAULT_CONNECTIONS = 2;
export const MAX_CONNECTIONS = 16;

/** A connection taken for one call, and how to say the call has ended. */
export interface TakenConnection {
  stub: PolicyDecisionServiceClient;
  done(): void;
}

export class Connections {
  private readonly stubs: PolicyDecisionServiceClient[];
  private readonly inFlight: number[];
  private last = -1;

  constructor(address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions, count: number) {
    // grpc-js shares one connection among channels with the same target and options
    // unless each channel keeps its own subchannels.
    const own: grpc.ChannelOptions = count > 1 ? { ...options, "grpc.use_local_subchannel_pool": 1 } : options;
    this.stubs = Array.from({ length: count }, () => new PolicyDecisionServiceClient(address, credentials, own));
    this.inFlight = this.stubs.map(() => 0);
  }

  /** The connection with the fewest calls in flight; `done` (once) when the call has ended. */
  take(): TakenConnection {
    const count = this.stubs.length;
    let best = -1;
    for (let step = 1; step <= count; step++) {
      const i = (this.last + step) % count;
      if (best === -1 || this.inFlight[i]! < this.inFlight[best]!) best = i;
    }
    this.last = best;
    this.inFlight[best]! += 1;
    let ended = false;
    return {
      stub: this.stubs[best]!,
      done: () => {
        if (ended) return;
        ended = true;
        this.inFlight[best]! -= 1;
      },
    };
  }

  close(): void {
    for (const stub of this.stubs) stub.close();
  }
}
