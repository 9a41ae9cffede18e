// Initiates the replica set of deploy/compose.yaml (run once by its mongo-init
// service with mongosh; a second run finds it initiated and only waits for a primary).
const members = ["mongo1:27017", "mongo2:27017", "mongo3:27017"];
try {
  rs.status();
  print("replica set rs0 is already initiated");
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error;
  rs.initiate({ _id: "rs0", members: members.map((host, i) => ({ _id: i, host })) });
  print(`initiated replica set rs0 with ${members.join(", ")}`);
}
// Verdict's first writes need a primary: wait for the election (bounded).
for (let i = 0; ; i += 1) {
  const primary = rs.status().members.find((member) => member.stateStr === "PRIMARY");
  if (primary) {
    print(`primary: ${primary.name}`);
    break;
  }
  if (i >= 120) throw new Error("no primary elected within 60 s");
  sleep(500);
}
