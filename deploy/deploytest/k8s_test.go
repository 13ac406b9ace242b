package deploytest

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// k8sObjects loads every resource kustomization.yaml lists, by kind.
func k8sObjects(t *testing.T) map[string][]map[string]any {
	t.Helper()
	kust := readYAML(t, deployPath("k8s", "kustomization.yaml"))[0]
	listed := map[string]bool{"kustomization.yaml": true}
	objs := map[string][]map[string]any{}
	for _, r := range list(kust, "resources") {
		name := r.(string)
		listed[name] = true
		for _, doc := range readYAML(t, deployPath("k8s", name)) {
			objs[str(doc, "kind")] = append(objs[str(doc, "kind")], doc)
		}
	}
	// A manifest left out of the kustomization would silently not deploy.
	files, _ := filepath.Glob(deployPath("k8s", "*.yaml"))
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
	return objs
}

// one returns the only object of kind, failing otherwise.
func one(t *testing.T, objs map[string][]map[string]any, kind string) map[string]any {
	t.Helper()
	if len(objs[kind]) != 1 {
		t.Fatalf("want one %s, have %d", kind, len(objs[kind]))
	}
	return objs[kind][0]
}

func container(t *testing.T, sts map[string]any) map[string]any {
	t.Helper()
	c := dict(sts, "spec", "template", "spec", "containers", "0")
	if c == nil {
		t.Fatal("StatefulSet has no container")
	}
	return c
}

// argValues maps --flag=value arguments of the container to their values.
func argValues(c map[string]any) map[string]string {
	out := map[string]string{}
	for _, a := range list(c, "args") {
		if name, ok := strings.CutPrefix(a.(string), "--"); ok {
			k, v, _ := strings.Cut(name, "=")
			out[k] = v
		}
	}
	return out
}

func TestStatefulSet(t *testing.T) {
	objs := k8sObjects(t)
	sts := one(t, objs, "StatefulSet")
	c := container(t, sts)
	args := argValues(c)

	if got := str(c, "livenessProbe", "httpGet", "path"); got != "/healthz" {
		t.Errorf("liveness probe path %q, want /healthz", got)
	}
	if got := str(c, "readinessProbe", "httpGet", "path"); got != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", got)
	}

	// The state dir must be a volume from the claim template, or a
	// restart loses the Pebble state and restores everything.
	claims := list(sts, "spec", "volumeClaimTemplates")
	if len(claims) == 0 {
		t.Fatal("StatefulSet has no volumeClaimTemplates")
	}
	mounts := map[string]string{}
	for _, m := range list(c, "volumeMounts") {
		mounts[str(m, "name")] = str(m, "mountPath")
	}
	claim := str(claims[0], "metadata", "name")
	if mounts[claim] == "" || mounts[claim] != args["state-dir"] {
		t.Errorf("--state-dir=%q but claim %q is mounted at %q", args["state-dir"], claim, mounts[claim])
	}

	// Stable identity from the pod name.
	if args["instance-id"] != "$(POD_NAME)" {
		t.Errorf("--instance-id=%q, want $(POD_NAME)", args["instance-id"])
	}
	wantAdv := "http://$(POD_NAME).custream-headless.$(NAMESPACE).svc:8080"
	if args["advertise-http"] != wantAdv {
		t.Errorf("--advertise-http=%q, want %q", args["advertise-http"], wantAdv)
	}
	// Members forward only to the headless service's pod names.
	if want := ".custream-headless.$(NAMESPACE).svc"; args["peer-allow"] != want || !strings.Contains(wantAdv, want+":") {
		t.Errorf("--peer-allow=%q, want %q (the suffix of --advertise-http)", args["peer-allow"], want)
	}
	// /metrics is off the API port, on the port Prometheus is told.
	ann := str(sts, "spec", "template", "metadata", "annotations", "prometheus.io/port")
	if _, port, _ := strings.Cut(args["metrics-addr"], ":"); port == "" || port != ann {
		t.Errorf("--metrics-addr=%q but prometheus.io/port %q", args["metrics-addr"], ann)
	}
	fieldRefs := map[string]string{}
	for _, e := range list(c, "env") {
		fieldRefs[str(e, "name")] = str(e, "valueFrom", "fieldRef", "fieldPath")
	}
	if fieldRefs["POD_NAME"] != "metadata.name" || fieldRefs["NAMESPACE"] != "metadata.namespace" {
		t.Errorf("POD_NAME and NAMESPACE must come from the downward API, have %v", fieldRefs)
	}

	// Credentials are files under a mounted Secret.
	secretMounts := map[string]bool{}
	for _, v := range list(sts, "spec", "template", "spec", "volumes") {
		if str(v, "secret", "secretName") != "" {
			secretMounts[mounts[str(v, "name")]] = true
		}
	}
	for _, f := range []string{"sasl-password-file", "api-keys-file", "kafka-tls-ca", "cluster-secret-file"} {
		if !secretMounts[filepath.Dir(args[f])] {
			t.Errorf("--%s=%q is not under a mounted Secret (%v)", f, args[f], secretMounts)
		}
	}

	// A restarted pod keeps its tasks: members stay in the group on
	// SIGTERM (a scale-in runs custream leave, docs/operations.md).
	if _, ok := args["stay-in-group-on-shutdown"]; !ok {
		t.Error("the StatefulSet's members leave the group on SIGTERM: every pod restart of a roll rebalances; set --stay-in-group-on-shutdown")
	}
	// SIGTERM: the open transaction (up to --transaction-timeout, 30s)
	// ends, with room for a leave (up to 10s) if a member is run without
	// --stay-in-group-on-shutdown.
	if g, _ := get(sts, "spec", "template", "spec", "terminationGracePeriodSeconds").(int); g < 40 {
		t.Errorf("terminationGracePeriodSeconds %d < 40", g)
	}
	for _, k := range []string{"requests", "limits"} {
		if dict(c, "resources", k)["memory"] == nil {
			t.Errorf("no memory %s", k)
		}
	}
}

func TestServicesAndPDBSelectPods(t *testing.T) {
	objs := k8sObjects(t)
	sts := one(t, objs, "StatefulSet")
	podLabels := dict(sts, "spec", "template", "metadata", "labels")
	if !reflect.DeepEqual(dict(sts, "spec", "selector", "matchLabels"), subset(podLabels, dict(sts, "spec", "selector", "matchLabels"))) {
		t.Error("StatefulSet selector does not match its pod labels")
	}
	ports := map[string]bool{}
	for _, p := range list(container(t, sts), "ports") {
		ports[str(p, "name")] = true
	}

	var headless string
	for _, svc := range objs["Service"] {
		name := str(svc, "metadata", "name")
		sel := dict(svc, "spec", "selector")
		if len(sel) == 0 || !reflect.DeepEqual(sel, subset(podLabels, sel)) {
			t.Errorf("Service %s selector %v does not match pod labels %v", name, sel, podLabels)
		}
		for _, p := range list(svc, "spec", "ports") {
			if tp := str(p, "targetPort"); !ports[tp] {
				t.Errorf("Service %s targets port %q, not a container port", name, tp)
			}
		}
		if str(svc, "spec", "clusterIP") == "None" {
			headless = name
		}
	}
	if headless == "" || str(sts, "spec", "serviceName") != headless {
		t.Errorf("serviceName %q must be the headless Service (%q)", str(sts, "spec", "serviceName"), headless)
	}
	if len(objs["Service"]) < 2 {
		t.Error("want a headless Service and a facade Service")
	}

	pdb := one(t, objs, "PodDisruptionBudget")
	sel := dict(pdb, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !reflect.DeepEqual(sel, subset(podLabels, sel)) {
		t.Errorf("PDB selector %v does not match pod labels %v", sel, podLabels)
	}
}

// subset returns the entries of m whose keys are in keys.
func subset(m, keys map[string]any) map[string]any {
	out := map[string]any{}
	for k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestKustomizeBuild renders the kustomization the way `kubectl apply -k`
// does, when kubectl is installed (it needs no cluster for this).
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	out, err := exec.Command(kubectl, "kustomize", deployPath("k8s")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	for _, kind := range []string{"StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap"} {
		if !strings.Contains(string(out), "kind: "+kind+"\n") {
			t.Errorf("rendered kustomization has no %s", kind)
		}
	}
}
