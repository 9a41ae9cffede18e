// Which process holds the server's end of a TCP connection (Linux: /proc), for tests
// of where Verdict's primary hands its connections.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** The inode of each established IPv4 connection to `serverPort`, by the client's port. */
function serverSockets(serverPort: number): Map<number, string> {
  const sockets = new Map<number, string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const [, local, remote, state, , , , , , inode] = line.trim().split(/\s+/);
    if (!local || !remote || state !== "01" || !inode) continue;
    if (parseInt(local.split(":")[1] ?? "", 16) !== serverPort) continue;
    sockets.set(parseInt(remote.split(":")[1] ?? "", 16), inode);
  }
  return sockets;
}

/** The pid of each of `pids` that holds a socket, by the socket's inode. */
function holders(pids: readonly number[]): Map<string, number> {
  const byInode = new Map<string, number>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) byInode.set(inode, pid);
    }
  }
  return byInode;
}

/** Which of `pids` serves the connection from each of `clientPorts` to `serverPort` (undefined: none yet). */
export function servingProcesses(serverPort: number, clientPorts: readonly number[], pids: readonly number[]): (number | undefined)[] {
  const sockets = serverSockets(serverPort);
  const byInode = holders(pids);
  return clientPorts.map((port) => {
    const inode = sockets.get(port);
    return inode === undefined ? undefined : byInode.get(inode);
  });
}
