// When a transmitter last re-enabled a target (RISC account-enabled), by the event's
// time. Resuming removes the suspension, and with it what ordered the two events: an
// account-disabled of before the enable, delivered after it (again after a 503, or
// late), would otherwise suspend the user anew, although the identity provider had
// re-enabled them since. Kept as long as a SET carrying such an event is accepted.
// Each call under the receiver's deadline (calls.ts).
import type { Collection } from "mongodb";
import { defineCollection, type Database } from "../database/index.js";
import type { SuspensionTarget } from "../contract/index.js";
import { suspensionId } from "../suspensions/index.js";
import { bounded } from "./calls.js";

interface ResumeMark {
  /** The transmitter's name and the target's key. */
  _id: string;
  /** The latest account-enabled's event time. */
  event_at: Date;
  expires_at: Date;
}

const RESUMED = defineCollection<ResumeMark>({ name: "ssf_resumed", indexes: [], expiresAt: "expires_at", writeConcern: { w: "majority", journal: true } });

export class ResumeMarks {
  private readonly marks: Collection<ResumeMark>;

  /** `keepMs`: how long after its last enable a mark is kept (a SET's accepted age, and a margin). */
  constructor(
    database: Database,
    private readonly keepMs: number,
  ) {
    this.marks = database.collection(RESUMED);
  }

  /** Records an enable of `target` by `transmitter` at `eventAtMs` (the latest one stays). */
  async mark(transmitter: string, target: SuspensionTarget, eventAtMs: number, nowMs: number): Promise<void> {
    await bounded("record an account-enabled", (options) =>
      this.marks.updateOne(
        { _id: markId(transmitter, target) },
        { $max: { event_at: new Date(eventAtMs) }, $set: { expires_at: new Date(nowMs + this.keepMs) } },
        { upsert: true, ...options },
      ),
    );
  }

  /** The time of the latest enable of `target` by `transmitter` still kept, in ms since the epoch. */
  async resumedAt(transmitter: string, target: SuspensionTarget): Promise<number | undefined> {
    const mark = await bounded("read an account-enabled", (options) => this.marks.findOne({ _id: markId(transmitter, target) }, options));
    return mark?.event_at.getTime();
  }
}

function markId(transmitter: string, target: SuspensionTarget): string {
  return `${transmitter}\n${suspensionId("", target)}`;
}
