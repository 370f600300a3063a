/**
 * `etc/kubernetes/`: every manifest validated by the Kubernetes API schemas (`kubernetes-models`,
 * generated from the Kubernetes OpenAPI definitions), then the properties the README promises:
 * replicas, a hardened pod, probes, a budget, a network policy, and a configuration the service
 * itself accepts.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { loadOptions } from "../../src/config/load.ts";

const DIR = new URL("../../etc/kubernetes/", import.meta.url);
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
};

// deno-lint-ignore no-explicit-any
type Manifest = any;

async function manifests(): Promise<Manifest[]> {
  const all: Manifest[] = [];
  for await (const entry of Deno.readDir(DIR)) {
    if (!entry.name.endsWith(".yaml")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, DIR));
    for (const document of parseAllDocuments(text)) {
      assert.equal(document.errors.length, 0, `${entry.name}: ${document.errors[0]}`);
      all.push({ ...document.toJS(), file: entry.name });
    }
  }
  return all;
}

const all = await manifests();
const one = (kind: string, name: string) => {
  const found = all.find((item) => item.kind === kind && item.metadata?.name === name);
  assert.ok(found, `a ${kind} ${name}`);
  return found;
};

Deno.test("every manifest in etc/kubernetes is valid against the Kubernetes API schemas", () => {
  assert.ok(all.length >= 7, `${all.length} manifests`);
  for (const { file, ...manifest } of all) {
    const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
    assert.ok(Model, `${file}: ${manifest.apiVersion} ${manifest.kind} is a kind this test knows`);
    assert.doesNotThrow(() => new Model(manifest as never).validate(), `${file}: ${manifest.kind}`);
  }
});

Deno.test("the schema validation refuses a wrongly typed field (it is not a no-op)", () => {
  const deployment = structuredClone(one("Deployment", "registry-token-service"));
  delete deployment.file;
  deployment.spec.template.spec.containers[0].ports[0].containerPort = "http";
  assert.throws(() => new Deployment(deployment).validate(), /containerPort/);
});

Deno.test("the Deployment runs at least two hardened replicas with probes and bounded resources", () => {
  const deployment = one("Deployment", "registry-token-service");
  assert.ok(deployment.spec.replicas >= 2);
  const pod = deployment.spec.template.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.equal(pod.automountServiceAccountToken, false);
  const [container] = pod.containers;
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  for (const bound of ["requests", "limits"]) {
    assert.ok(container.resources[bound].cpu && container.resources[bound].memory, bound);
  }
  assert.equal(container.livenessProbe.httpGet.path, "/healthz");
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  // Config from the ConfigMap, keys from a Secret, mounted where the configuration names them.
  const volumes = new Map(pod.volumes.map((volume: Manifest) => [volume.name, volume]));
  const mounts = container.volumeMounts.map((mount: Manifest) => ({
    ...mount,
    volume: volumes.get(mount.name),
  }));
  assert.ok(mounts.some((m: Manifest) => m.volume.configMap?.name === "registry-token-config"));
  assert.ok(mounts.some((m: Manifest) => m.volume.secret?.secretName === "registry-token-keys"));
});

Deno.test("the Service, the budget and the network policy select the Deployment's pods", () => {
  const labels = one("Deployment", "registry-token-service").spec.template.metadata.labels;
  const selects = (selector: Record<string, string>) =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);
  assert.ok(selects(one("Service", "registry-token-service").spec.selector));
  const budget = one("PodDisruptionBudget", "registry-token-service");
  assert.ok(selects(budget.spec.selector.matchLabels));
  assert.ok(budget.spec.minAvailable >= 1);
  const policy = one("NetworkPolicy", "registry-token-service");
  assert.ok(selects(policy.spec.podSelector.matchLabels));
  assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
});

Deno.test("the ConfigMap's configuration is one the service accepts, with keys in the Secret mount", async () => {
  const configMap = one("ConfigMap", "registry-token-config");
  const deployment = one("Deployment", "registry-token-service");
  const [container] = deployment.spec.template.spec.containers;
  const configPath = container.args[container.args.indexOf("--config") + 1];
  const options = await loadOptions({ path: configPath, explicit: true }, {
    readTextFile: (path) =>
      path === configPath
        ? Promise.resolve(configMap.data["registry-token.yaml"])
        : Promise.reject(new Deno.errors.NotFound(path)),
    getEnv: () => undefined,
  });
  const keys = container.volumeMounts.find((mount: Manifest) => mount.name === "keys").mountPath;
  assert.ok(options.signing.keyPath.startsWith(`${keys}/`), options.signing.keyPath);
  assert.equal(options.server.port, container.ports[0].containerPort);
  // Replicas share DPoP and budget state through the Redis the manifests run.
  assert.equal(options.state.backend, "redis");
  const state = container.volumeMounts.find((mount: Manifest) => mount.name === "state-password");
  assert.ok(options.state.passwordPath?.startsWith(`${state.mountPath}/`));
  const redis = one("Service", "registry-token-redis");
  assert.equal(options.state.hostPort, `${redis.metadata.name}:${redis.spec.ports[0].port}`);
});
