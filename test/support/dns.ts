// A tiny authoritative DNS server on a loopback UDP port, for a name this machine's
// resolver does not know (a test cannot edit /etc/hosts): A records for the names
// it is given, no AAAA, NXDOMAIN for anything else. gRPC clients ask it through
// the target dns://127.0.0.1:PORT/NAME:PORT (grpc-js: GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true).
import { createSocket } from "node:dgram";
import { AUTHORITATIVE_ANSWER, decode, encode, RECURSION_DESIRED, type Answer, type Packet } from "dns-packet";

export interface TestDnsServer {
  /** host:port, the authority of a dns:// target. */
  authority: string;
  /** A queries answered, per name. */
  queries: Map<string, number>;
  close(): Promise<void>;
}

export async function startDnsServer(records: Record<string, string[]>): Promise<TestDnsServer> {
  const socket = createSocket("udp4");
  const queries = new Map<string, number>();
  socket.on("message", (message, from) => {
    let query: Packet;
    try {
      query = decode(message);
    } catch {
      return; // not DNS: no answer
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, "");
    const addresses = records[name];
    if (question.type === "A" && addresses) queries.set(name, (queries.get(name) ?? 0) + 1);
    const answers: Answer[] =
      question.type === "A" && addresses ? addresses.map((data) => ({ type: "A", name: question.name, class: "IN", ttl: 5, data })) : [];
    const reply = encode({
      id: query.id ?? 0,
      type: "response",
      // rcode (the low 4 bits): NOERROR, or NXDOMAIN (3) for a name it does not know
      flags: (addresses ? 0 : 3) | AUTHORITATIVE_ANSWER | RECURSION_DESIRED,
      questions: [question],
      answers,
    });
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    authority: `127.0.0.1:${socket.address().port}`,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
