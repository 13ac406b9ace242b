package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func noEnv(string) string { return "" }

func TestDevKey(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := httpFlags{addr: "127.0.0.1:8080"}
	var first bytes.Buffer
	keys, err := h.keys(dir, noEnv, &first, log)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, devKeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	// stderr goes to container logs: it names the file, never the key.
	if strings.Contains(first.String(), key) || !strings.Contains(first.String(), path) {
		t.Errorf("first start must print the key's file, not the key: %q", first.String())
	}
	if org, ok := keys.Org(key); !ok || org != devOrg {
		t.Errorf("dev key maps to %d, %v", org, ok)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("dev key file mode %v, want 0600", fi.Mode().Perm())
	}

	var second bytes.Buffer
	keys, err = h.keys(dir, noEnv, &second, log)
	if err != nil {
		t.Fatal(err)
	}
	if second.Len() != 0 {
		t.Errorf("a restart prints the notice again: %q", second.String())
	}
	if _, ok := keys.Org(key); !ok {
		t.Error("a restart does not reuse the dev key")
	}
}

// TestDevKeyLoopbackOnly: with no keys configured, a facade on a reachable
// address refuses to start rather than invent a key; loopback is fine.
func TestDevKeyLoopbackOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{":8080", "0.0.0.0:0", "[::]:8080", "10.1.2.3:8080", "custream-0.custream:8080", "nonsense"} {
		dir := t.TempDir()
		var out bytes.Buffer
		_, err := (&httpFlags{addr: addr}).keys(dir, noEnv, &out, log)
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("--http-addr %s without keys: %v, want a refusal", addr, err)
		}
		if _, statErr := os.Stat(filepath.Join(dir, devKeyFile)); statErr == nil {
			t.Errorf("--http-addr %s: a dev key was made", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "localhost:0", "[::1]:8080", "127.0.0.2:1"} {
		if _, err := (&httpFlags{addr: addr}).keys(t.TempDir(), noEnv, io.Discard, log); err != nil {
			t.Errorf("--http-addr %s: %v", addr, err)
		}
	}
	// Configured keys make any address fine.
	env := map[string]string{apiKeysEnv: "k=5"}
	if _, err := (&httpFlags{addr: ":8080"}).keys(t.TempDir(), func(k string) string { return env[k] }, io.Discard, log); err != nil {
		t.Errorf(":8080 with keys: %v", err)
	}
}

func TestConfiguredKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, []byte("# ops\nfilekey 300\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var h httpFlags
	h.register(fs)
	// A key is not a flag value (ps shows those): --api-key is gone.
	fs.SetOutput(io.Discard)
	if err := fs.Parse([]string{"--api-key", "flagkey=100"}); err == nil {
		t.Fatal("--api-key accepted")
	}
	fs = flag.NewFlagSet("run", flag.ContinueOnError)
	h = httpFlags{}
	h.register(fs)
	env := map[string]string{apiKeysEnv: "envkey=200,env2=201", "CUSTREAM_API_KEYS_FILE": file}
	getenv := func(k string) string { return env[k] }
	if err := fs.Parse([]string{"--http-addr", ":0"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, getenv); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	keys, err := h.keys(dir, getenv, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for key, org := range map[string]int64{"envkey": 200, "env2": 201, "filekey": 300} {
		if got, ok := keys.Org(key); !ok || got != org {
			t.Errorf("key %s: %d %v, want %d", key, got, ok, org)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, devKeyFile)); err == nil || out.Len() > 0 {
		t.Error("a dev key was made although keys are configured")
	}
	if _, err := h.keys(dir, func(k string) string { return map[string]string{apiKeysEnv: "bad"}[k] }, &out, nil); err == nil {
		t.Error("a bad " + apiKeysEnv + " was accepted")
	}
	// The old variable is refused rather than silently ignored.
	if _, err := h.keys(dir, func(k string) string { return map[string]string{"CUSTREAM_API_KEY": "k=1"}[k] }, &out, nil); err == nil {
		t.Error("CUSTREAM_API_KEY accepted")
	}
}

func TestListenAdvertise(t *testing.T) {
	h := httpFlags{addr: "127.0.0.1:0"}
	ln, adv, err := h.listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if adv != ln.Addr().String() {
		t.Errorf("advertised %q, listening on %s", adv, ln.Addr())
	}
	h = httpFlags{addr: "127.0.0.1:0", advertise: "custream-0.custream:8080"}
	ln2, adv, err := h.listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if adv != "custream-0.custream:8080" {
		t.Errorf("--advertise-http ignored: %q", adv)
	}
	h = httpFlags{addr: ":0"}
	ln3, adv, err := h.listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln3.Close()
	if host, _ := os.Hostname(); !strings.HasPrefix(adv, host+":") {
		t.Errorf("no host in --http-addr: advertised %q, want the host name %q", adv, host)
	}
}

// TestMetricsListener: /metrics is served on --metrics-addr, and an empty
// --metrics-addr is no listener at all.
func TestMetricsListener(t *testing.T) {
	if ln, err := (&httpFlags{}).listenMetrics(); ln != nil || err != nil {
		t.Fatalf("empty --metrics-addr: %v %v", ln, err)
	}
	ln, err := (&httpFlags{metricsAddr: "127.0.0.1:0"}).listenMetrics()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "custream_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveMetrics(ctx, ln, reg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "custream_test_total 1") {
		t.Errorf("/metrics: %d %s", resp.StatusCode, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
