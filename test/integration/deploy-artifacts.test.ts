// The Dockerfiles, deploy/compose.yaml and the Helm chart cannot run here (no
// container engine, no cluster): these tests read them as the engine and Helm do
// and check that what they reference exists and agrees with Verdict's defaults.
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { demoPolicyScopes } from "../../src/dev/index.js";
import * as devModule from "../../src/dev/index.js";
import {
  copyOf,
  dockerIgnored,
  dockerIgnorePatterns,
  hostPort,
  parseDockerfile,
  readYaml,
  renderChart,
  repo,
  validateVerdictConfig,
  words,
  type Manifest,
  type Stage,
} from "../support/deploy.js";
import { createTestCa } from "../support/certs.js";

/** Verdict's default ports: listen's default and the admin listener's (issue 15: admin_listen 127.0.0.1:9464). */
const GRPC_PORT = 50051;
const ADMIN_PORT = 9464;

const verdictCommands = ["serve", "check", "dev-token", "policy", "audit"];

function stageInstructions(stage: Stage, keyword: string) {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

describe.each([
  { file: "Dockerfile", command: "verdict" },
  { file: "examples/invoices-api/Dockerfile", command: "invoices-api" },
])("$file", ({ file, command }) => {
  const { stages } = parseDockerfile(repo(file));
  const runtime = stages.at(-1)!;

  it("builds on Node 24 (and Go for opa) pinned by digest in every stage", () => {
    expect(stages.length).toBeGreaterThan(1);
    for (const stage of stages) {
      expect(stage.from, `stage ${stage.name ?? "runtime"}`).toMatch(/^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
      if (stage.from.startsWith("node:")) expect(stage.from).toMatch(/^node:24-/);
    }
  });

  it("copies only files that exist and that .dockerignore lets into the build context", () => {
    const ignore = dockerIgnorePatterns();
    const names = new Set(stages.map((stage) => stage.name));
    for (const stage of stages) {
      for (const instruction of stageInstructions(stage, "COPY")) {
        const { from, sources } = copyOf(instruction);
        if (from !== undefined) {
          expect(names.has(from), `line ${instruction.line}: stage ${from}`).toBe(true);
          continue;
        }
        for (const source of sources) {
          expect(existsSync(repo(source)), `line ${instruction.line}: ${source} exists`).toBe(true);
          expect(dockerIgnored(source, ignore), `line ${instruction.line}: ${source} is not in .dockerignore`).toBe(false);
        }
      }
    }
  });

  it("copies node_modules into the runtime image only from a stage that installed without dev dependencies", () => {
    const copies = stageInstructions(runtime, "COPY")
      .map(copyOf)
      .filter((copy) => copy.sources.some((source) => source.includes("node_modules")));
    expect(copies.length).toBe(1);
    const source = stages.find((stage) => stage.name === copies[0]!.from)!;
    const installs = stageInstructions(source, "RUN").filter((run) => /npm ci/.test(run.args));
    expect(installs.length).toBe(1);
    expect(installs[0]!.args).toContain("--omit=dev");
  });

  it("runs as the unprivileged node user", () => {
    const users = stageInstructions(runtime, "USER");
    expect(users.at(-1)?.args).toBe("node");
  });

  if (command === "verdict") {
    it("exposes the gRPC and admin ports and checks /readyz on the admin port with Node (no curl)", () => {
      const exposed = stageInstructions(runtime, "EXPOSE").flatMap((expose) => expose.args.split(/\s+/).map(Number));
      expect(exposed).toEqual(expect.arrayContaining([GRPC_PORT, ADMIN_PORT]));
      const healthcheck = stageInstructions(runtime, "HEALTHCHECK");
      expect(healthcheck.length).toBe(1);
      const cmd = words(healthcheck[0]!.args.slice(healthcheck[0]!.args.indexOf("CMD") + 3).trim());
      expect(cmd[0]).toBe("node");
      const env = stageInstructions(runtime, "ENV")
        .map((e) => e.args)
        .join(" ");
      const url = /VERDICT_HEALTHCHECK_URL=(\S+)/.exec(env)?.[1];
      expect(new URL(url!)).toMatchObject({ pathname: "/readyz", port: String(ADMIN_PORT) });
      expect(cmd.join(" ")).toContain("process.env.VERDICT_HEALTHCHECK_URL");
    });

    it("starts bin/verdict.js serve with --config, both of which exist", () => {
      const entrypoint = words(stageInstructions(runtime, "ENTRYPOINT")[0]!.args);
      const cmd = words(stageInstructions(runtime, "CMD")[0]!.args);
      expect(entrypoint).toEqual(["node", "bin/verdict.js"]);
      expect(existsSync(repo("bin", "verdict.js"))).toBe(true);
      expect(verdictCommands).toContain(cmd[0]);
      expect(cmd).toEqual(["serve", "--config", "/etc/verdict/verdict.yaml"]);
      expect(readFileSync(repo("src", "cli", "serve.ts"), "utf8")).toContain("--config FILE");
    });

    it("compiles the policy bundle with the opa pinned in tools/go.mod and ships it where Verdict looks by default", () => {
      const opa = stages.find((stage) => stage.name === "opa")!;
      expect(stageInstructions(opa, "COPY").map(copyOf)[0]!.sources).toEqual(["tools/go.mod", "tools/go.sum"]);
      expect(readFileSync(repo("tools", "go.mod"), "utf8")).toMatch(/^tool github\.com\/open-policy-agent\/opa$/m);
      const shipped = stageInstructions(runtime, "COPY")
        .map(copyOf)
        .find((copy) => copy.sources.includes("/app/build/bundle.tar.gz"));
      expect(shipped?.destination).toBe("build/bundle.tar.gz");
    });
  } else {
    it("starts the example's compiled main, whose source exists", () => {
      const cmd = words(stageInstructions(runtime, "CMD")[0]!.args);
      expect(cmd).toEqual(["node", "dist/main.js"]);
      expect(existsSync(repo("examples", "invoices-api", "src", "main.ts"))).toBe(true);
    });
  }
});

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  secrets?: string[];
  expose?: string[];
  ports?: string[];
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
}
interface Compose {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}

describe("deploy/compose.yaml", () => {
  const compose = readYaml<Compose>(repo("deploy", "compose.yaml"));
  const services = compose.services;
  const verdict = services["verdict"]!;
  const mountOf = (service: ComposeService, target: string) => (service.volumes ?? []).map((v) => v.split(":")).find(([, t]) => t === target)?.[0];
  const verdictConfig = parse(readFileSync(repo("deploy", "verdict.yaml"), "utf8")) as Record<string, unknown> & {
    listen: string;
    admin_listen: string;
    tls: { cert_file: string; key_file: string };
    issuers: { issuer: string; jwks_file: string }[];
    apis: { name: string; audience: string; key_sha256: string; scopes: string[] }[];
  };

  it("runs two Verdict replicas from the repository's Dockerfile with deploy/verdict.yaml as the configuration", () => {
    expect(verdict.deploy?.replicas).toBe(2);
    expect(verdict.build).toEqual({ context: "..", dockerfile: "Dockerfile" });
    expect(verdict.command).toEqual(["serve", "--config", "/etc/verdict/verdict.yaml"]);
    expect(mountOf(verdict, "/etc/verdict/verdict.yaml")).toBe("./verdict.yaml");
  });

  it("bind-mounts only files that exist in deploy/, and builds from Dockerfiles that exist", () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(":");
        if (source!.startsWith(".")) expect(existsSync(repo("deploy", source!)), `${name}: ${source}`).toBe(true);
        else expect(compose.volumes, `${name}: volume ${source}`).toHaveProperty(source!);
      }
      if (service.build) expect(existsSync(join(repo("deploy"), service.build.context, service.build.dockerfile)), name).toBe(true);
    }
    for (const secret of Object.values(compose.secrets)) expect(existsSync(repo("deploy", secret.file))).toBe(true);
  });

  it("runs a three-member mongo:7 replica set that the compose file initiates, and gives Verdict all three members", () => {
    const members = Object.entries(services).filter(([name]) => /^mongo\d$/.test(name));
    expect(members.length).toBe(3);
    for (const [, service] of members) {
      expect(service.image).toMatch(/^mongo:7@sha256:[0-9a-f]{64}$/);
      expect(service.command).toEqual(["mongod", "--replSet", "rs0", "--bind_ip_all"]);
    }
    const init = services["mongo-init"]!;
    expect(init.command?.[0]).toBe("mongosh");
    const script = init.command!.at(-1)!;
    const scriptFile = mountOf(init, script)!;
    const text = readFileSync(repo("deploy", scriptFile), "utf8");
    expect(text).toContain("rs.initiate");
    expect(text).toContain('_id: "rs0"');
    for (const [name] of members) {
      expect(text).toContain(`"${name}:27017"`);
      expect(init.depends_on?.[name]?.condition).toBe("service_healthy");
    }
    const [, hosts = "", query = ""] = /^mongodb:\/\/([^/]+)\/\?(.*)$/.exec(verdict.environment!["MONGODB_URI"]!) ?? [];
    expect(hosts.split(",").sort()).toEqual(members.map(([name]) => `${name}:27017`).sort());
    expect(new URLSearchParams(query).get("replicaSet")).toBe("rs0");
    expect(verdict.depends_on?.["mongo-init"]?.condition).toBe("service_completed_successfully");
  });

  it("has a configuration Verdict accepts, listening on the ports the image exposes and the compose file publishes", () => {
    expect(() => validateVerdictConfig(verdictConfig)).not.toThrow();
    expect(hostPort(verdictConfig.listen)).toEqual({ host: "0.0.0.0", port: GRPC_PORT });
    expect(hostPort(verdictConfig.admin_listen)).toEqual({ host: "0.0.0.0", port: ADMIN_PORT });
    expect(verdict.expose).toEqual(expect.arrayContaining([String(GRPC_PORT), String(ADMIN_PORT)]));
  });

  it("points TLS at the files the certs service makes, for the name the invoices API dials", () => {
    const script = readFileSync(repo("deploy", "make-certs.sh"), "utf8");
    const certsMount = (verdict.volumes ?? []).find((v) => v.startsWith("certs:"))!.split(":")[1]!;
    for (const file of [verdictConfig.tls.cert_file, verdictConfig.tls.key_file]) {
      expect(file.startsWith(certsMount + "/")).toBe(true);
      expect(script).toContain(file.slice(certsMount.length + 1));
    }
    const api = services["invoices-api"]!;
    const address = hostPort(api.environment!["VERDICT_ADDRESS"]!);
    expect(address).toEqual({ host: "verdict", port: GRPC_PORT });
    expect(script).toContain(`DNS:${address.host}`);
    const caMount = (api.volumes ?? []).find((v) => v.startsWith("certs:"))!.split(":")[1]!;
    expect(api.environment!["VERDICT_TLS_CA"]).toBe(`${caMount}/ca.crt`);
    expect(script).toContain("ca.crt");
  });

  it("gives the invoices API the key whose SHA-256 Verdict's configuration holds, and the settings its main reads", () => {
    const api = services["invoices-api"]!;
    const secret = api.secrets![0]!;
    expect(api.environment!["VERDICT_API_KEY_FILE"]).toBe(`/run/secrets/${secret}`);
    const key = readFileSync(repo("deploy", compose.secrets[secret]!.file), "utf8").trim();
    const entry = verdictConfig.apis.find((a) => a.name === "invoices-api")!;
    expect(createHash("sha256").update(key).digest("hex")).toBe(entry.key_sha256);
    const main = readFileSync(repo("examples", "invoices-api", "src", "main.ts"), "utf8");
    for (const name of Object.keys(api.environment!)) expect(main, name).toContain(`"${name}"`);
    expect(api.ports).toEqual(["127.0.0.1:3000:3000"]);
    expect(api.environment!["PORT"]).toBe("3000");
  });

  it("trusts the development issuer whose JWKS the dev-issuer service writes, with scopes the shipped policies use", () => {
    const issuer = services["dev-issuer"]!;
    const entrypoint = issuer.entrypoint!.join(" ");
    expect(entrypoint).toContain("/app/dist/dev/index.js");
    expect(typeof devModule.writeDevIssuerJwks).toBe("function");
    expect(entrypoint).toContain("writeDevIssuerJwks('/var/lib/verdict')");
    const issuerVolume = mountOf(issuer, "/var/lib/verdict");
    const verdictMount = (verdict.volumes ?? []).find((v) => v.startsWith(`${issuerVolume}:`))!.split(":")[1]!;
    expect(verdictConfig.issuers[0]!.jwks_file).toBe(join(verdictMount, devModule.devIssuerJwksPath("/").slice(1)));
    expect(verdictConfig.issuers[0]!.issuer).toBe(devModule.DEV_ISSUER);
    expect(verdictConfig.apis[0]!.audience).toBe(devModule.DEV_API_AUDIENCE);
    expect(demoPolicyScopes()).toEqual(expect.arrayContaining(verdictConfig.apis[0]!.scopes));
    const token = services["dev-token"]!;
    expect(token.entrypoint).toEqual(["node", "bin/verdict.js", "dev-token"]);
    expect(mountOf(token, "/var/lib/verdict")).toBe(issuerVolume);
  });
});

describe("deploy/helm/verdict", () => {
  const kinds = (manifests: Manifest[]) => manifests.map((m) => m.kind);
  const find = <T>(manifests: Manifest[], kind: string, name?: string) =>
    manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name)) as unknown as T;
  type Container = {
    name: string;
    image: string;
    args?: string[];
    command?: string[];
    ports?: { name: string; containerPort: number }[];
    env?: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
    readinessProbe?: { httpGet: { path: string; port: string } };
    livenessProbe?: { httpGet: { path: string; port: string } };
    startupProbe?: { httpGet: { path: string; port: string } };
    volumeMounts: { name: string; mountPath: string; subPath?: string }[];
  };
  type Deployment = {
    spec: {
      template: {
        metadata: { labels: Record<string, string> };
        spec: {
          containers: Container[];
          initContainers?: Container[];
          volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
        };
      };
    };
  };
  type ServiceManifest = {
    metadata: { name: string; labels: Record<string, string> };
    spec: { type?: string; ports: { name: string; port: number; targetPort: string | number; nodePort?: number }[]; selector: Record<string, string> };
  };
  type NetworkPolicyPort = { port: string | number; protocol: string };
  type NetworkPolicy = {
    spec: {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: { ports: NetworkPolicyPort[]; from?: Record<string, unknown>[] }[];
    };
  };
  const valuesFile = (name: string) => ["--values", repo("deploy", "helm", "verdict", "ci", name)];
  const monitoring = ["--api-versions", "monitoring.coreos.com/v1"];

  /** Verdict's configuration as the chart renders it, and the container that reads it. */
  function verdictOf(manifests: Manifest[]) {
    const deployment = find<Deployment>(manifests, "Deployment");
    const pod = deployment.spec.template.spec;
    const container = pod.containers.find((c) => c.name === "verdict")!;
    expect(container.args).toEqual(["serve", "--config", "/etc/verdict/verdict.yaml"]);
    const mount = container.volumeMounts.find((m) => m.mountPath === "/etc/verdict/verdict.yaml")!;
    const volume = pod.volumes.find((v) => v.name === mount.name)!;
    const configMap = find<{ data: Record<string, string> }>(manifests, "ConfigMap", volume.configMap!.name);
    const config = parse(configMap.data[mount.subPath!]!) as Record<string, unknown> & { listen: string; admin_listen: string };
    return { deployment, pod, container, config };
  }

  const cases = [
    { name: "the default values", args: [] as string[] },
    { name: "every option", args: [...valuesFile("all-options-values.yaml"), ...monitoring] },
    { name: "an OCI bundle behind a mesh", args: valuesFile("bundle-oci-values.yaml") },
    { name: "a ConfigMap bundle", args: valuesFile("bundle-configmap-values.yaml") },
    { name: "AuthZEN and a NetworkPolicy restricting every port", args: valuesFile("network-policy-values.yaml") },
  ];

  it.each(cases)("renders, with $name, a configuration Verdict accepts whose ports match the container, probes and Service", ({ args }) => {
    const manifests = renderChart(args);
    const { container, config, deployment } = verdictOf(manifests);
    expect(() => validateVerdictConfig(config)).not.toThrow();
    const ports = Object.fromEntries(container.ports!.map((p) => [p.name, p.containerPort]));
    expect(hostPort(config.listen)).toEqual({ host: "0.0.0.0", port: ports["grpc"] });
    expect(hostPort(config.admin_listen)).toEqual({ host: "0.0.0.0", port: ports["admin"] });
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "admin" });
    expect(container.startupProbe?.httpGet).toEqual({ path: "/healthz", port: "admin" });
    // gRPC on the Service of service.type; the admin port on a ClusterIP Service of its own
    const service = find<ServiceManifest>(manifests, "Service", "verdict");
    expect(service.spec.ports.map((p) => p.targetPort)).toEqual(["grpc"]);
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    const admin = find<ServiceManifest>(manifests, "Service", "verdict-admin");
    expect(admin.spec.type).toBe("ClusterIP");
    expect(admin.spec.ports).toEqual([expect.objectContaining({ port: ports["admin"], targetPort: "admin" })]);
    expect(deployment.spec.template.metadata.labels).toMatchObject(admin.spec.selector);
  });

  it("with the defaults: TLS from a Secret, a generated API key whose SHA-256 is in the configuration, no ServiceMonitor", () => {
    const manifests = renderChart();
    expect(kinds(manifests)).not.toContain("ServiceMonitor");
    expect(kinds(manifests).sort()).toEqual([
      "ConfigMap",
      "Deployment",
      "HorizontalPodAutoscaler",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "Secret",
      "Service",
      "Service",
      "Service",
      "ServiceAccount",
    ]);
    const { config, pod, container } = verdictOf(manifests);
    const tls = config["tls"] as { cert_file: string; key_file: string };
    const tlsMount = container.volumeMounts.find((m) => m.name === "tls")!;
    expect(tls).toEqual({ cert_file: `${tlsMount.mountPath}/tls.crt`, key_file: `${tlsMount.mountPath}/tls.key` });
    expect(pod.volumes.find((v) => v.name === "tls")?.secret?.secretName).toBe("verdict-tls");
    const keys = find<{ data: Record<string, string> }>(manifests, "Secret", "verdict-api-keys");
    const apis = config["apis"] as { name: string; key_sha256: string }[];
    for (const api of apis) {
      const key = Buffer.from(keys.data[api.name]!, "base64").toString("utf8");
      expect(key).toMatch(/^vdk_[A-Za-z0-9]{40}$/);
      expect(createHash("sha256").update(key).digest("hex")).toBe(api.key_sha256);
    }
    const uri = container.env!.find((e) => e.name === "MONGODB_URI")!.valueFrom!.secretKeyRef;
    expect(uri).toEqual({ name: "verdict-mongodb", key: "uri" });
    expect(config).not.toHaveProperty("bundle"); // the bundle built into the image
  });

  it("makes a ServiceMonitor on the admin port only when the cluster serves monitoring.coreos.com/v1, selecting the admin Service alone", () => {
    const manifests = renderChart(monitoring);
    const monitor = find<{ spec: { endpoints: { port: string; path: string }[]; selector: { matchLabels: Record<string, string> } } }>(
      manifests,
      "ServiceMonitor",
    );
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: "admin", path: "/metrics" })]);
    const selected = manifests
      .filter((m) => m.kind === "Service")
      .map((m) => m as unknown as ServiceManifest)
      .filter((service) => Object.entries(monitor.spec.selector.matchLabels).every(([key, value]) => service.metadata.labels[key] === value));
    expect(selected.map((service) => service.metadata.name)).toEqual(["verdict-admin"]);
  });

  it.each(["LoadBalancer", "NodePort"])("keeps the admin port off the Service of service.type %s: only a ClusterIP Service has it", (type) => {
    const manifests = renderChart(["--set", `service.type=${type}`]);
    const services = manifests.filter((m) => m.kind === "Service").map((m) => m as unknown as ServiceManifest);
    expect(find<ServiceManifest>(manifests, "Service", "verdict").spec.type).toBe(type);
    const withAdmin = services.filter((service) =>
      service.spec.ports.some((p) => p.port === ADMIN_PORT || p.targetPort === "admin" || p.targetPort === ADMIN_PORT),
    );
    expect(withAdmin.map((service) => [service.metadata.name, service.spec.type])).toEqual([["verdict-admin", "ClusterIP"]]);
    expect(services.filter((service) => service.spec.type === type).flatMap((service) => service.spec.ports.map((p) => p.port))).toEqual([GRPC_PORT]);
  });

  it("renders a NetworkPolicy by default: gRPC from anywhere, the admin port only from the monitoring namespace", () => {
    const manifests = renderChart();
    const { deployment, container } = verdictOf(manifests);
    const policy = find<NetworkPolicy>(manifests, "NetworkPolicy", "verdict");
    expect(deployment.spec.template.metadata.labels).toMatchObject(policy.spec.podSelector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    const containerPorts = container.ports!.map((p) => p.name);
    const rules = policy.spec.ingress;
    // every port it names is one of the container's, by name
    for (const port of rules.flatMap((rule) => rule.ports)) expect(containerPorts).toContain(port.port);
    expect(rules).toEqual([
      { ports: [{ port: "grpc", protocol: "TCP" }] },
      { ports: [{ port: "admin", protocol: "TCP" }], from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }] },
    ]);
  });

  it("admits the admin port from networkPolicy.adminFrom only, no one when it is empty, and AuthZEN's port as gRPC's", () => {
    const adminRules = (policy: NetworkPolicy) => policy.spec.ingress.filter((rule) => rule.ports.some((p) => p.port === "admin"));
    const peers = [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } } }];
    const told = find<NetworkPolicy>(renderChart(["--set-json", `networkPolicy.adminFrom=${JSON.stringify(peers)}`]), "NetworkPolicy");
    expect(adminRules(told)).toEqual([{ ports: [{ port: "admin", protocol: "TCP" }], from: peers }]);
    // a rule without from would admit everyone: there is none for the admin port
    const none = find<NetworkPolicy>(renderChart(["--set-json", "networkPolicy.adminFrom=[]"]), "NetworkPolicy");
    expect(adminRules(none)).toEqual([]);
    expect(none.spec.ingress.every((rule) => rule.from === undefined && rule.ports.every((p) => p.port !== "admin"))).toBe(true);
    const authzen = find<NetworkPolicy>(renderChart(["--set", "config.authzen.listen=0.0.0.0:8443"]), "NetworkPolicy");
    expect(authzen.spec.ingress[0]).toEqual({
      ports: [
        { port: "grpc", protocol: "TCP" },
        { port: 8443, protocol: "TCP" },
      ],
    });
    expect(kinds(renderChart(["--set", "networkPolicy.enabled=false"]))).not.toContain("NetworkPolicy");
    expect(() => renderChart(["--set-json", 'networkPolicy.adminFrom=[{"namespaceSelectr":{}}]'])).toThrow(
      /additional properties 'namespaceSelectr' not allowed/,
    );
  });

  describe("networkPolicy.grpcFrom and authzenFrom", () => {
    /** The rules that admit a port (by name or number), as they are rendered. */
    const rulesFor = (policy: NetworkPolicy, port: string | number) => policy.spec.ingress.filter((rule) => rule.ports.some((p) => p.port === port));
    const policyWith = (args: string[]) => find<NetworkPolicy>(renderChart(args), "NetworkPolicy", "verdict");
    const json = (key: string, value: unknown) => ["--set-json", `networkPolicy.${key}=${JSON.stringify(value)}`];
    const authzenOn = ["--set", "config.authzen.listen=0.0.0.0:8443"];
    const monitoringPeers = [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }];
    const adminRule = { ports: [{ port: "admin", protocol: "TCP" }], from: monitoringPeers };
    const apps = [
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "apps" } } },
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "payments" } }, podSelector: { matchLabels: { app: "payments-api" } } },
    ];
    const gateway = [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "gateway" } } }, { ipBlock: { cidr: "10.20.0.0/16" } }];

    it("admits gRPC from exactly the grpcFrom peers, and no port from everyone", () => {
      const policy = policyWith(json("grpcFrom", apps));
      expect(policy.spec.ingress).toEqual([{ ports: [{ port: "grpc", protocol: "TCP" }], from: apps }, adminRule]);
      expect(rulesFor(policy, "grpc")).toEqual([{ ports: [{ port: "grpc", protocol: "TCP" }], from: apps }]);
      // a rule without from (or with an empty one) admits everyone to its ports
      for (const rule of policy.spec.ingress) expect(rule.from?.length).toBeGreaterThan(0);
    });

    it("admits AuthZEN's port from grpcFrom's peers when authzenFrom is not given, from authzenFrom's when it is", () => {
      const same = policyWith([...authzenOn, ...json("grpcFrom", apps)]);
      expect(same.spec.ingress).toEqual([
        {
          ports: [
            { port: "grpc", protocol: "TCP" },
            { port: 8443, protocol: "TCP" },
          ],
          from: apps,
        },
        adminRule,
      ]);
      const apart = policyWith([...authzenOn, ...json("grpcFrom", apps), ...json("authzenFrom", gateway)]);
      expect(rulesFor(apart, "grpc")).toEqual([{ ports: [{ port: "grpc", protocol: "TCP" }], from: apps }]);
      expect(rulesFor(apart, 8443)).toEqual([{ ports: [{ port: 8443, protocol: "TCP" }], from: gateway }]);
      expect(apart.spec.ingress).toHaveLength(3);
      // AuthZEN restricted, gRPC left open: only gRPC's rule has no from
      const authzenOnly = policyWith([...authzenOn, ...json("authzenFrom", gateway)]);
      expect(authzenOnly.spec.ingress).toEqual([
        { ports: [{ port: "grpc", protocol: "TCP" }] },
        { ports: [{ port: 8443, protocol: "TCP" }], from: gateway },
        adminRule,
      ]);
    });

    it("without them admits gRPC and AuthZEN from anywhere, as before", () => {
      expect(policyWith([]).spec.ingress).toEqual([{ ports: [{ port: "grpc", protocol: "TCP" }] }, adminRule]);
      expect(policyWith(["--set", "networkPolicy.grpcFrom=null"]).spec.ingress).toEqual([{ ports: [{ port: "grpc", protocol: "TCP" }] }, adminRule]);
      expect(policyWith(authzenOn).spec.ingress).toEqual([
        {
          ports: [
            { port: "grpc", protocol: "TCP" },
            { port: 8443, protocol: "TCP" },
          ],
        },
        adminRule,
      ]);
    });

    it("refuses, with a message, an empty list, peers no policy would enforce, and peers Kubernetes would refuse", () => {
      // [] would admit no one to the decision API (a rule with from: [] would admit everyone): neither is what [] asks for
      expect(() => policyWith(json("grpcFrom", []))).toThrow(/networkPolicy\.grpcFrom is empty/);
      expect(() => policyWith([...authzenOn, ...json("authzenFrom", [])])).toThrow(/networkPolicy\.authzenFrom is empty/);
      expect(() => policyWith(["--set", "networkPolicy.enabled=false", ...json("grpcFrom", apps)])).toThrow(
        /networkPolicy\.grpcFrom is set but networkPolicy\.enabled is false/,
      );
      expect(() => policyWith(["--set", "networkPolicy.enabled=false", ...authzenOn, ...json("authzenFrom", gateway)])).toThrow(
        /networkPolicy\.authzenFrom is set but networkPolicy\.enabled is false/,
      );
      // peers for a port that is not there: a mistake of the values, not "nothing to do"
      expect(() => policyWith(json("authzenFrom", gateway))).toThrow(/networkPolicy\.authzenFrom is set but config\.authzen\.listen is not/);
      // values.schema.json: a peer is a namespaceSelector and/or podSelector, or an ipBlock alone with a cidr
      expect(() => policyWith(json("grpcFrom", [{ namespaceSelectr: {} }]))).toThrow(/additional properties 'namespaceSelectr' not allowed/);
      expect(() => policyWith(json("grpcFrom", [{}]))).toThrow(/'\/networkPolicy\/grpcFrom\/0': minProperties/);
      expect(() => policyWith(json("grpcFrom", "apps"))).toThrow(/'\/networkPolicy\/grpcFrom': got string/);
      expect(() => policyWith(json("authzenFrom", [{ ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }]))).toThrow(
        /'\/networkPolicy\/authzenFrom\/0': maxProperties/,
      );
      expect(() => policyWith(json("grpcFrom", [{ ipBlock: { except: ["10.0.0.0/8"] } }]))).toThrow(/missing property 'cidr'/);
      // a misspelt key, where the API server drops unknown fields with a warning, would leave podSelector: {} (the whole namespace)
      expect(() => policyWith(json("grpcFrom", [{ podSelector: { matchLabel: { app: "payments-api" } } }]))).toThrow(
        /additional properties 'matchLabel' not allowed/,
      );
    });

    it("refuses the default adminFrom (monitoring only) when the admin port receives Shared Signals, which come from elsewhere", () => {
      const transmitter = { name: "idp", issuer: "https://idp.example", jwks_uri: "https://idp.example/jwks", audience: "https://verdict.example" };
      const ssf = ["--set-json", `config.ssf=${JSON.stringify({ transmitters: [transmitter] })}`];
      expect(() => policyWith(ssf)).toThrow(/config\.ssf\.transmitters push their security events to \/ssf\/events on the admin port/);
      // given peers (the ingress controller's namespace beside monitoring), or no policy at all: rendered
      const ingress = [...monitoringPeers, { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }];
      expect(rulesFor(policyWith([...ssf, ...json("adminFrom", ingress)]), "admin")).toEqual([{ ports: [{ port: "admin", protocol: "TCP" }], from: ingress }]);
      expect(renderChart([...ssf, "--set", "networkPolicy.enabled=false"]).some((r) => r.kind === "NetworkPolicy")).toBe(false);
      // the console may be reached by kubectl port-forward (not filtered): rendered, NOTES.txt warns
      expect(rulesFor(policyWith(["--set", "config.console.enabled=true"]), "admin")).toEqual([adminRule]);
    });

    it("renders ci/network-policy-values.yaml's peers, port by port", () => {
      const values = readYaml<{ networkPolicy: Record<"grpcFrom" | "authzenFrom" | "adminFrom", unknown[]> }>(
        repo("deploy", "helm", "verdict", "ci", "network-policy-values.yaml"),
      );
      const policy = policyWith(valuesFile("network-policy-values.yaml"));
      expect(policy.spec.ingress).toEqual([
        { ports: [{ port: "grpc", protocol: "TCP" }], from: values.networkPolicy.grpcFrom },
        { ports: [{ port: 8443, protocol: "TCP" }], from: values.networkPolicy.authzenFrom },
        { ports: [{ port: "admin", protocol: "TCP" }], from: values.networkPolicy.adminFrom },
      ]);
    });
  });

  it("with every option: mutual TLS, a MongoDBCommunity whose connection Secret feeds MONGODB_URI, HPA on CPU and decisions per second", () => {
    const manifests = renderChart([...valuesFile("all-options-values.yaml"), ...monitoring]);
    expect(kinds(manifests)).toEqual(expect.arrayContaining(["MongoDBCommunity", "ServiceMonitor", "HorizontalPodAutoscaler", "PodDisruptionBudget"]));
    const { config, container, pod } = verdictOf(manifests);
    expect((config["tls"] as Record<string, string>)["client_ca_file"]).toBe("/etc/verdict/tls/ca.crt");
    const tlsSecret = find<{ type: string; data: Record<string, string> }>(manifests, "Secret", "verdict-tls");
    expect(tlsSecret.type).toBe("kubernetes.io/tls");
    expect(Object.keys(tlsSecret.data).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
    const mongo = find<{ spec: { users: { connectionStringSecretName: string; roles: { db: string }[] }[] } }>(manifests, "MongoDBCommunity");
    const uri = container.env!.find((e) => e.name === "MONGODB_URI")!.valueFrom!.secretKeyRef;
    expect(uri).toEqual({ name: mongo.spec.users[0]!.connectionStringSecretName, key: "connectionString.standard" });
    expect(mongo.spec.users[0]!.roles[0]!.db).toBe(config["mongodb_database"]);
    const keys = find<{ data: Record<string, string> }>(manifests, "Secret", "verdict-api-keys");
    expect(Object.keys(keys.data)).toEqual(["invoices-api"]); // payments-api brings its own key_sha256
    const hpa = find<{ spec: { scaleTargetRef: { name: string }; metrics: { type: string; pods?: { metric: { name: string } } }[] } }>(
      manifests,
      "HorizontalPodAutoscaler",
    );
    expect(hpa.spec.scaleTargetRef.name).toBe("verdict");
    expect(hpa.spec.metrics.map((m) => m.type)).toEqual(["Resource", "Pods"]);
    expect(hpa.spec.metrics[1]!.pods!.metric.name).toBe("verdict_decisions_per_second");
    // The bundle over HTTPS: fetched by the script the image ships, into the path the configuration names.
    const init = pod.initContainers!.find((c) => c.name === "fetch-bundle")!;
    expect(init.command!.slice(0, 2)).toEqual(["node", "deploy/fetch-bundle.mjs"]);
    expect(existsSync(repo(init.command![1]!))).toBe(true);
    expect(readFileSync(repo("Dockerfile"), "utf8")).toContain(`COPY ${init.command![1]} ${init.command![1]}`);
    expect(config["bundle"]).toBe(init.command![3]);
    const bundleMount = container.volumeMounts.find((m) => m.name === "bundle")!;
    expect(String(config["bundle"]).startsWith(bundleMount.mountPath + "/")).toBe(true);
  });

  it("pulls an OCI bundle into the path the configuration names, and serves in clear only when told a mesh encrypts", () => {
    const manifests = renderChart(valuesFile("bundle-oci-values.yaml"));
    const { config, pod, container } = verdictOf(manifests);
    const init = pod.initContainers!.find((c) => c.name === "pull-bundle")!;
    const output = init.args![init.args!.indexOf("--output") + 1];
    expect(config["bundle"]).toBe(`${output}/bundle.tar.gz`);
    expect(container.volumeMounts.find((m) => m.name === "bundle")?.mountPath).toBe(output);
    expect(config["insecure_plaintext"]).toBe(true);
    expect(config).not.toHaveProperty("tls");
    expect(kinds(manifests)).not.toContain("HorizontalPodAutoscaler");
    const secret = find<{ data: Record<string, string> }>(manifests, "Secret", "verdict-mongodb");
    expect(Buffer.from(secret.data["uri"]!, "base64").toString()).toMatch(/^mongodb:\/\//);
  });

  it("refuses, with a message, what would make Verdict insecure or ignore the chart's settings", () => {
    expect(() => renderChart(["--set", "tls.enabled=false"])).toThrow(/insecurePlaintext/);
    expect(() => renderChart(["--set", "config.listen=0.0.0.0:1"])).toThrow(/config\.listen is set by the chart/);
    expect(() => renderChart(["--set", "bundle.source=ftp"])).toThrow(/bundle\/source': value must be one of/);
    expect(() => renderChart(["--set", "tls.enabeld=true"])).toThrow(/additional properties 'enabeld' not allowed/); // values.schema.json
    expect(() => renderChart(["--set", "bundle.source=http"])).toThrow(/bundle\.http\.url is needed/);
  });
});

describe("deploy/fetch-bundle.mjs (the chart's bundle.source=http)", () => {
  const bundle = Buffer.from("a policy bundle, byte for byte");
  const sha256 = createHash("sha256").update(bundle).digest("hex");
  let server: Server;
  let base: string;
  const dir = mkdtempSync(join(tmpdir(), "verdict-fetch-bundle-"));

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/bundle.tar.gz") res.end(bundle);
      else if (req.url === "/private.tar.gz" && req.headers.authorization === "Bearer t0ken") res.end(bundle);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function fetchBundle(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [repo("deploy", "fetch-bundle.mjs"), ...args], { env: { ...process.env, ...env } });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("close", (code) => resolve({ code, stderr }));
    });
  }

  it("writes the bundle when its SHA-256 matches", async () => {
    const out = join(dir, "ok.tar.gz");
    const run = await fetchBundle([`${base}/bundle.tar.gz`, out, sha256]);
    expect(run.code).toBe(0);
    expect(readFileSync(out)).toEqual(bundle);
  });

  it("writes nothing when the SHA-256 differs, exit 1", async () => {
    const out = join(dir, "tampered.tar.gz");
    const run = await fetchBundle([`${base}/bundle.tar.gz`, out, "0".repeat(64)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("SHA-256 mismatch");
    expect(existsSync(out)).toBe(false);
  });

  it("refuses plain http:// without a SHA-256, exit 2", async () => {
    const run = await fetchBundle([`${base}/bundle.tar.gz`, join(dir, "unpinned.tar.gz")]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("needs its SHA-256");
  });

  it("writes nothing when an https:// URL redirects to plain http:// and no SHA-256 is given, exit 1", async () => {
    const ca = createTestCa("fetch-bundle test CA");
    const cert = ca.issue({ cn: "localhost", ips: ["127.0.0.1"], server: true });
    const secure = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.writeHead(302, { location: `${base}/bundle.tar.gz` }).end());
    await new Promise<void>((resolve) => secure.listen(0, "127.0.0.1", resolve));
    try {
      const origin = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
      const out = join(dir, "downgraded.tar.gz");
      const run = await fetchBundle([`${origin}/bundle.tar.gz`, out], { NODE_EXTRA_CA_CERTS: ca.certFile });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("redirected to plain http://");
      expect(existsSync(out)).toBe(false);
      // with the SHA-256, the redirected body is checked, and written when it matches
      expect((await fetchBundle([`${origin}/bundle.tar.gz`, out, sha256], { NODE_EXTRA_CA_CERTS: ca.certFile })).code).toBe(0);
      expect(readFileSync(out)).toEqual(bundle);
    } finally {
      await new Promise<void>((resolve) => secure.close(() => resolve()));
    }
  });

  it("sends the Authorization header from a mounted file, and fails on an error status", async () => {
    const auth = join(dir, "authorization");
    writeFileSync(auth, "Bearer t0ken\n");
    const out = join(dir, "private.tar.gz");
    expect((await fetchBundle([`${base}/private.tar.gz`, out, sha256], { BUNDLE_AUTHORIZATION_FILE: auth })).code).toBe(0);
    const denied = await fetchBundle([`${base}/private.tar.gz`, join(dir, "denied.tar.gz"), sha256]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("answered 404");
  });
});
