package deploytest

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryFileParses parses every YAML and JSON file this package owns.
func TestEveryFileParses(t *testing.T) {
	n := 0
	for _, dir := range []string{"k8s", "compose", "grafana", "prometheus"} {
		err := filepath.WalkDir(deployPath(dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch filepath.Ext(path) {
			case ".yaml", ".yml":
				if len(readYAML(t, path)) == 0 {
					t.Errorf("%s: no YAML document", path)
				}
			case ".json":
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if !json.Valid(b) {
					t.Errorf("%s: invalid JSON", path)
				}
			default:
				return nil
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 10 {
		t.Errorf("parsed only %d files", n)
	}
}

// TestCompose checks the compose file's wiring. No Docker engine is
// assumed, so it is parsed, not run.
func TestCompose(t *testing.T) {
	dir := deployPath("compose")
	c := readYAML(t, filepath.Join(dir, "compose.yaml"))[0]
	svcs := dict(c, "services")
	for _, s := range []string{"kafka", "custream", "prometheus", "grafana"} {
		if svcs[s] == nil {
			t.Errorf("no service %s", s)
		}
	}
	if img := str(svcs, "kafka", "image"); !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka image %q, want apache/kafka", img)
	}
	if roles := str(svcs, "kafka", "environment", "KAFKA_PROCESS_ROLES"); roles != "broker,controller" {
		t.Errorf("KAFKA_PROCESS_ROLES %q: want a combined KRaft node", roles)
	}
	ctx := filepath.Join(dir, str(svcs, "custream", "build", "context"))
	if _, err := os.Stat(filepath.Join(ctx, str(svcs, "custream", "build", "dockerfile"))); err != nil {
		t.Errorf("custream build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
		t.Errorf("custream build context is not the module root: %v", err)
	}
	// Every bind mount's host side must exist, or compose creates an empty
	// directory in its place.
	for name, s := range svcs {
		for _, v := range list(s, "volumes") {
			src, _, _ := strings.Cut(v.(string), ":")
			if !strings.HasPrefix(src, ".") {
				continue // a named volume
			}
			if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
	prom := readYAML(t, deployPath("prometheus", "prometheus.yml"))[0]
	if got := str(prom, "rule_files", "0"); got != "/etc/prometheus/alerts.yaml" {
		t.Errorf("prometheus rule_files %q, not where compose mounts alerts.yaml", got)
	}
	if got := str(prom, "scrape_configs", "0", "static_configs", "0", "targets", "0"); got != "custream:9464" {
		t.Errorf("prometheus scrapes %q, want custream:9464 (--metrics-addr)", got)
	}
}
