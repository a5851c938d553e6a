#!/usr/bin/python3
"""The Kubernetes manifests of deploy/k8s, rendered by `kubectl kustomize` for every overlay
(3b, 7b, 14b) and checked without a cluster:

  - every overlay renders (with the job's secrets made as docs/deploy.md says, in a copy of
    deploy/k8s) and refuses to render without them, naming the missing file;
  - every ConfigMap, Secret (and key), PersistentVolumeClaim and Service a workload refers to
    exists; every $(VAR) of a command line is defined; every stable DNS name
    (<pod>-<i>.<service>:<port>) names a pod that exists and a port it serves;
  - every container sets CPU and memory requests (GPU roles: one GPU), readiness and liveness
    probes on ports it serves; roles with a metrics endpoint carry Prometheus annotations for it;
  - the sizes match the overlay's job config (shards, learner ranks, actors), which is the
    repository's configs/qwen2.5-<size>-grpo.yaml;
  - every role command line is one memr1 accepts: its flags are in `memr1 ... --help` and its
    config overrides pass `memr1 config validate`.

Usage: k8s_manifests_test.py --source REPO --memr1 BINARY [--kubectl KUBECTL]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import yaml
except ImportError:
    sys.exit("k8s_manifests_test: python3-yaml is missing: install it (scripts/install-deps.sh, "
             "or apt-get install python3-yaml)")

ARGS = None
OVERLAYS = ("3b", "7b", "14b")
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")
DNS_NAME = re.compile(r"\b([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):(\d+)\b")
VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
GPU = "nvidia.com/gpu"


def quantity(text):
    """A Kubernetes quantity ("96Gi", "8", "500m") as a number."""
    text = str(text)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9,
             "m": 1e-3}
    for suffix, scale in units.items():
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * scale
    return float(text)


def render(directory):
    """`kubectl kustomize DIRECTORY`: (exit code, stdout, stderr)."""
    result = subprocess.run([ARGS.kubectl, "kustomize", directory], capture_output=True,
                            text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


class Rendered:
    """The resources of one rendered overlay, by kind and name."""

    def __init__(self, text):
        self.docs = [doc for doc in yaml.safe_load_all(text) if doc]
        self.by_kind = {}
        for doc in self.docs:
            self.by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc

    def named(self, kind, prefix):
        """The one resource of KIND named PREFIX or PREFIX-<generator hash>."""
        found = [doc for name, doc in self.by_kind.get(kind, {}).items()
                 if name == prefix or re.fullmatch(re.escape(prefix) + r"-[a-z0-9]{10}", name)]
        return found[0] if len(found) == 1 else None

    def workloads(self):
        for kind in WORKLOAD_KINDS:
            for name, doc in self.by_kind.get(kind, {}).items():
                yield kind, name, doc

    def settings(self):
        return self.named("ConfigMap", "memr1-settings")["data"]


class K8sManifestsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.temp = tempfile.TemporaryDirectory(prefix="memr1_k8s_")
        cls.tree = os.path.join(cls.temp.name, "k8s")
        shutil.copytree(os.path.join(ARGS.source, "deploy", "k8s"), cls.tree,
                        ignore=shutil.ignore_patterns("job-token", "learner-ssh-key*"))
        cls.unsecret = {}
        cls.rendered = {}
        cls.errors = {}
        for overlay in OVERLAYS:
            directory = os.path.join(cls.tree, "overlays", overlay)
            cls.unsecret[overlay] = render(directory)
            # The job's secrets where docs/deploy.md makes them (the key's content does not
            # matter to the manifests).
            for name, text in (("job-token", os.urandom(16).hex()),
                               ("learner-ssh-key", "test private key\n"),
                               ("learner-ssh-key.pub", "ssh-ed25519 test memr1-test\n")):
                with open(os.path.join(directory, name), "w") as out:
                    out.write(text)
            code, out, err = render(directory)
            if code == 0:
                cls.rendered[overlay] = Rendered(out)
            else:
                cls.errors[overlay] = err

    @classmethod
    def tearDownClass(cls):
        cls.temp.cleanup()

    def render_of(self, overlay):
        """The rendered overlay (the test fails when it did not render)."""
        self.assertNotIn(overlay, self.errors, "kubectl kustomize overlays/%s failed:\n%s" %
                         (overlay, self.errors.get(overlay)))
        return self.rendered[overlay]

    def test_overlays_refuse_to_render_without_the_job_secrets(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                code, _, err = self.unsecret[overlay]
                self.assertNotEqual(code, 0, "rendered without a job token")
                self.assertIn("job-token", err)

    def test_every_overlay_has_every_role(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                r = self.render_of(overlay)
                for kind, name in (("StatefulSet", "memr1-memstore"), ("StatefulSet", "memr1-coordinator"),
                                   ("Job", "memr1-learner"), ("Deployment", "memr1-actor"),
                                   ("Service", "memr1-memstore"), ("Service", "memr1-coordinator"),
                                   ("Service", "memr1-learner"),
                                   ("PersistentVolumeClaim", "memr1-data"),
                                   ("PersistentVolumeClaim", "memr1-outputs")):
                    self.assertIn(name, r.by_kind.get(kind, {}), "%s %s missing" % (kind, name))
                for kind, prefix in (("ConfigMap", "memr1-job"), ("ConfigMap", "memr1-settings"),
                                     ("ConfigMap", "memr1-scripts"), ("Secret", "memr1-job-token"),
                                     ("Secret", "memr1-learner-ssh")):
                    self.assertIsNotNone(r.named(kind, prefix), "%s %s missing" % (kind, prefix))
                learner = r.by_kind["Job"]["memr1-learner"]["spec"]
                self.assertEqual(learner["completionMode"], "Indexed")
                for name in ("memr1-memstore", "memr1-coordinator", "memr1-learner"):
                    self.assertEqual(r.by_kind["Service"][name]["spec"].get("clusterIP"), "None",
                                     "Service %s must be headless (stable pod names)" % name)
                # Both StatefulSets keep their data on volumes of their own.
                for name in ("memr1-memstore", "memr1-coordinator"):
                    self.assertTrue(r.by_kind["StatefulSet"][name]["spec"].get("volumeClaimTemplates"),
                                    "StatefulSet %s has no volume" % name)

    def test_every_reference_resolves(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                r = self.render_of(overlay)
                configmaps = r.by_kind.get("ConfigMap", {})
                secrets = r.by_kind.get("Secret", {})
                claims = r.by_kind.get("PersistentVolumeClaim", {})
                services = r.by_kind.get("Service", {})
                for kind, name, doc in r.workloads():
                    spec = doc["spec"]
                    pod = spec["template"]["spec"]
                    where = "%s %s" % (kind, name)
                    templates = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
                    volumes = {}
                    for volume in pod.get("volumes", []):
                        volumes[volume["name"]] = volume
                        if "configMap" in volume:
                            self.assertIn(volume["configMap"]["name"], configmaps, where)
                        if "secret" in volume:
                            self.assertIn(volume["secret"]["secretName"], secrets, where)
                        if "persistentVolumeClaim" in volume:
                            self.assertIn(volume["persistentVolumeClaim"]["claimName"], claims, where)
                    if kind == "StatefulSet":
                        service = services.get(spec["serviceName"])
                        self.assertIsNotNone(service, "%s: serviceName %s" % (where, spec["serviceName"]))
                    if "subdomain" in pod:
                        self.assertIn(pod["subdomain"], services, "%s: subdomain" % where)
                    labels = spec["template"]["metadata"].get("labels", {})
                    selector = spec.get("selector", {}).get("matchLabels", {})
                    for key, value in selector.items():
                        self.assertEqual(labels.get(key), value, "%s: selector %s" % (where, key))
                    for container in pod["containers"]:
                        cwhere = "%s container %s" % (where, container["name"])
                        for mount in container.get("volumeMounts", []):
                            self.assertTrue(mount["name"] in volumes or mount["name"] in templates,
                                            "%s: volume %s" % (cwhere, mount["name"]))
                        defined = {"JOB_COMPLETION_INDEX"} if kind == "Job" else set()
                        for env in container.get("env", []):
                            defined.add(env["name"])
                            source = env.get("valueFrom", {})
                            if "configMapKeyRef" in source:
                                ref = source["configMapKeyRef"]
                                self.assertIn(ref["name"], configmaps, cwhere)
                                self.assertIn(ref["key"], configmaps[ref["name"]].get("data", {}), cwhere)
                            if "secretKeyRef" in source:
                                ref = source["secretKeyRef"]
                                self.assertIn(ref["name"], secrets, cwhere)
                                self.assertIn(ref["key"], secrets[ref["name"]].get("data", {}), cwhere)
                        for source in container.get("envFrom", []):
                            if "configMapRef" in source:
                                ref = source["configMapRef"]["name"]
                                self.assertIn(ref, configmaps, cwhere)
                                defined.update(configmaps[ref].get("data", {}))
                            if "secretRef" in source:
                                ref = source["secretRef"]["name"]
                                self.assertIn(ref, secrets, cwhere)
                                defined.update(secrets[ref].get("data", {}))
                        for word in container.get("command", []) + container.get("args", []):
                            for var in VAR.findall(word):
                                self.assertIn(var, defined, "%s: $(%s) is not defined" % (cwhere, var))
                # Every Service selects pods of some workload.
                for name, service in services.items():
                    selector = service["spec"].get("selector", {})
                    self.assertTrue(any(all(doc["spec"]["template"]["metadata"]["labels"].get(k) == v
                                            for k, v in selector.items())
                                        for _, _, doc in r.workloads()),
                                    "Service %s selects no pods" % name)

    def test_stable_dns_names_name_pods_and_ports_that_exist(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                r = self.render_of(overlay)
                texts = list(r.settings().values())
                for _, _, doc in r.workloads():
                    for container in doc["spec"]["template"]["spec"]["containers"]:
                        texts += container.get("args", [])
                names = [m for text in texts for m in DNS_NAME.findall(str(text))]
                self.assertTrue(names, "no pod DNS names found")
                for pod_prefix, index, service_name, port in names:
                    where = "%s-%s.%s:%s" % (pod_prefix, index, service_name, port)
                    service = r.by_kind["Service"].get(service_name)
                    self.assertIsNotNone(service, "%s: no Service %s" % (where, service_name))
                    self.assertIn(int(port), [p["port"] for p in service["spec"]["ports"]], where)
                    workload = (r.by_kind.get("StatefulSet", {}).get(pod_prefix) or
                                r.by_kind.get("Job", {}).get(pod_prefix))
                    self.assertIsNotNone(workload, "%s: no StatefulSet or Job %s" % (where, pod_prefix))
                    spec = workload["spec"]
                    count = spec.get("replicas", spec.get("completions", 1))
                    self.assertLess(int(index), count, "%s: only %d pod(s)" % (where, count))
                    pod = spec["template"]["spec"]
                    self.assertEqual(spec.get("serviceName", pod.get("subdomain")), service_name, where)
                    ports = [p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])]
                    self.assertIn(int(port), ports, "%s: not a port the pod serves" % where)

    def test_containers_request_resources_and_have_probes(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                r = self.render_of(overlay)
                for kind, name, doc in r.workloads():
                    template = doc["spec"]["template"]
                    for container in template["spec"]["containers"]:
                        where = "%s %s container %s" % (kind, name, container["name"])
                        resources = container.get("resources", {})
                        requests = resources.get("requests", {})
                        limits = resources.get("limits", {})
                        for resource in ("cpu", "memory"):
                            self.assertIn(resource, requests, "%s: no %s request" % (where, resource))
                            self.assertGreater(quantity(requests[resource]), 0, where)
                        if "memory" in limits:
                            self.assertGreaterEqual(quantity(limits["memory"]),
                                                    quantity(requests["memory"]), where)
                        if container["name"] in ("learner", "actor"):
                            self.assertEqual(str(requests.get(GPU)), "1", "%s: one GPU" % where)
                            self.assertEqual(str(limits.get(GPU)), "1", "%s: one GPU" % where)
                        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
                        for probe_name in ("readinessProbe", "livenessProbe"):
                            probe = container.get(probe_name)
                            self.assertIsNotNone(probe, "%s: no %s" % (where, probe_name))
                        for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
                            probe = container.get(probe_name)
                            if probe is None:
                                continue
                            for handler in ("tcpSocket", "httpGet"):
                                if handler in probe:
                                    port = probe[handler]["port"]
                                    self.assertTrue(port in ports or port in ports.values(),
                                                    "%s: %s port %s is not served" %
                                                    (where, probe_name, port))
                            if "exec" in probe:
                                self.assertIn("memr1 status", " ".join(probe["exec"]["command"]), where)
                        # Prometheus: the annotated port is the one the metrics endpoint binds.
                        annotations = template["metadata"].get("annotations", {})
                        metrics = [a for a in container.get("args", [])
                                   if a.startswith("--set=observability.metrics_listen=")]
                        if metrics:
                            self.assertEqual(annotations.get("prometheus.io/scrape"), "true", where)
                            port = annotations.get("prometheus.io/port")
                            self.assertEqual(metrics[0].rsplit(":", 1)[1], port, where)
                            self.assertIn(int(port), ports.values(), where)
                            self.assertEqual(annotations.get("prometheus.io/path"), "/metrics", where)
                        else:
                            self.assertEqual(annotations.get("prometheus.io/scrape"), "false",
                                             "%s: no metrics endpoint, so no scraping" % where)

    def test_sizes_follow_the_job_config_of_the_repository(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                r = self.render_of(overlay)
                with open(os.path.join(ARGS.source, "deploy", "k8s", "overlays", overlay,
                                       "job.yaml")) as f:
                    ours = f.read()
                with open(os.path.join(ARGS.source, "configs", "qwen2.5-%s-grpo.yaml" % overlay)) as f:
                    self.assertEqual(ours, f.read(),
                                     "overlays/%s/job.yaml differs from configs/qwen2.5-%s-grpo.yaml"
                                     % (overlay, overlay))
                config = yaml.safe_load(ours)
                settings = r.settings()
                shards = settings["MEMR1_SHARDS"].strip("[]").split(",")
                memstore = r.by_kind["StatefulSet"]["memr1-memstore"]["spec"]
                self.assertEqual(memstore["replicas"], config["memstore"]["num_shards"])
                self.assertEqual(shards, ["memr1-memstore-%d.memr1-memstore:7000" % i
                                          for i in range(memstore["replicas"])])
                learner = r.by_kind["Job"]["memr1-learner"]["spec"]
                ranks = config["learner"]["num_ranks"]
                self.assertEqual((learner["completions"], learner["parallelism"]), (ranks, ranks))
                self.assertEqual(int(settings["MEMR1_LEARNER_RANKS"]), ranks)
                self.assertEqual(r.by_kind["Deployment"]["memr1-actor"]["spec"]["replicas"],
                                 config["actor"]["num_actors"])
                self.assertEqual(os.path.basename(settings["MEMR1_MODEL_PATH"]),
                                 os.path.basename(config["model"]["path"]))
                self.assertEqual(r.by_kind["StatefulSet"]["memr1-coordinator"]["spec"]["replicas"], 1)

    def test_role_command_lines_are_what_memr1_accepts(self):
        help_cache = {}
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                r = self.render_of(overlay)
                values = dict(r.settings())
                values.update({"MEMR1_JOB_TOKEN": "token", "POD_NAME": "memr1-actor-0"})
                job_yaml = os.path.join(ARGS.source, "deploy", "k8s", "overlays", overlay, "job.yaml")
                overrides = {}  # override -> the first workload that gives it
                for kind, name, doc in r.workloads():
                    for container in doc["spec"]["template"]["spec"]["containers"]:
                        where = "%s %s" % (kind, name)
                        argv = [VAR.sub(lambda m: values.get(m.group(1), m.group(0)), word)
                                for word in container.get("command", []) + container.get("args", [])]
                        if argv[0].endswith("learner.sh"):
                            argv = argv[1:]
                        self.assertEqual(argv[0], "memr1", where)
                        words = [w for w in argv[1:] if not w.startswith("-")]
                        flags = [w for w in argv[1:] if w.startswith("-")]
                        command = words[:2] if words[0] in ("memstore", "learner") else words[:1]
                        key = tuple(command)
                        if key not in help_cache:
                            help_cache[key] = subprocess.run(
                                [ARGS.memr1] + command + ["--help"], capture_output=True, text=True,
                                timeout=60).stdout
                        for flag in flags:
                            self.assertIn(flag.split("=", 1)[0] + " ", help_cache[key],
                                          "%s: memr1 %s has no %s" % (where, " ".join(command), flag))
                        for flag in flags:
                            if flag.startswith("--set="):
                                overrides.setdefault(flag.split("=", 1)[1], where)
                # Every override of every role at once (one memr1 start per overlay): the error names
                # the one that does not fit.
                validate = subprocess.run(
                    [ARGS.memr1, "config", "validate", "--config", job_yaml] +
                    [w for o in overrides for w in ("--set", o)],
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(validate.returncode, 0, "overrides of %s: %s%s" %
                                 (sorted(set(overrides.values())), validate.stdout, validate.stderr))

    def test_learner_entry_point_is_valid_bash(self):
        script = os.path.join(ARGS.source, "deploy", "k8s", "base", "scripts", "learner.sh")
        result = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--memr1", required=True)
    parser.add_argument("--kubectl", default="kubectl")
    ARGS, rest = parser.parse_known_args()
    if shutil.which(ARGS.kubectl) is None:
        sys.exit("k8s_manifests_test: '%s' is missing: install Debian's kubernetes-client "
                 "(scripts/install-deps.sh, or apt-get install kubernetes-client)" % ARGS.kubectl)
    version = subprocess.run([ARGS.kubectl, "version", "--client"], capture_output=True,
                             text=True).stdout.splitlines()
    print("kubectl:", version[0] if version else "?")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
