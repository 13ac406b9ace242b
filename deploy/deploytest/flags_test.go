package deploytest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// extraEnv are CUSTREAM_* variables custream reads that are not the env
// form of a flag.
var extraEnv = map[string]bool{
	// kafka.go: the SASL password when no --sasl-password-file is given.
	"CUSTREAM_SASL_PASSWORD": true,
	// facade.go: API keys, KEY=ORG,... (not a flag: ps shows flag values).
	"CUSTREAM_API_KEYS": true,
}

var (
	flagUse = regexp.MustCompile(`(?:^|\s|")--([a-z0-9-]+)`)
	envUse  = regexp.MustCompile(`\bCUSTREAM_[A-Z0-9_]+\b`)
)

// TestManifestFlagsExist: every --flag and CUSTREAM_* variable in the
// Kubernetes manifests, the compose file and the Dockerfile is one that
// `custream run` has.
func TestManifestFlagsExist(t *testing.T) {
	flags := runFlags(t)
	envs := map[string]bool{}
	for _, e := range flags {
		envs[e] = true
	}
	files := []string{
		deployPath("k8s", "statefulset.yaml"),
		deployPath("k8s", "configmap.yaml"),
		deployPath("compose", "compose.yaml"),
		deployPath("Dockerfile"),
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue // comments may name other tools' flags
			}
			// The Dockerfile's -- words are Docker's own (COPY --from).
			for _, m := range flagUse.FindAllStringSubmatch(line, -1) {
				if strings.HasSuffix(f, "Dockerfile") {
					break
				}
				// Prometheus's own flags in compose are not ours.
				if strings.Contains(line, "--config.file") || strings.Contains(line, "--web.") || strings.Contains(line, "--bootstrap-server") {
					continue
				}
				if _, ok := flags[m[1]]; !ok {
					t.Errorf("%s: --%s is not a flag of `custream run`", f, m[1])
				}
			}
			for _, e := range envUse.FindAllString(line, -1) {
				if !envs[e] && !extraEnv[e] {
					t.Errorf("%s: %s is not the env var of a `custream run` flag", f, e)
				}
			}
		}
	}
}

// TestOperationsDocListsEveryFlag keeps the configuration reference in
// docs/operations.md in step with the binary.
func TestOperationsDocListsEveryFlag(t *testing.T) {
	b, err := os.ReadFile(root + "/docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, env := range runFlags(t) {
		if !strings.Contains(doc, "--"+name) || !strings.Contains(doc, env) {
			t.Errorf("docs/operations.md does not list --%s [%s]: paste the new `custream run -h`", name, env)
		}
	}
}
