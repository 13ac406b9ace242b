package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDevKey(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var h httpFlags
	var first bytes.Buffer
	keys, err := h.keys(dir, &first, log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, devKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	if !strings.Contains(first.String(), key) {
		t.Errorf("first start does not print the new key: %q", first.String())
	}
	if org, ok := keys.Org(key); !ok || org != devOrg {
		t.Errorf("dev key maps to %d, %v", org, ok)
	}
	if fi, _ := os.Stat(filepath.Join(dir, devKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("dev key file mode %v, want 0600", fi.Mode().Perm())
	}

	var second bytes.Buffer
	keys, err = h.keys(dir, &second, log)
	if err != nil {
		t.Fatal(err)
	}
	if second.Len() != 0 {
		t.Errorf("a restart prints the key again: %q", second.String())
	}
	if _, ok := keys.Org(key); !ok {
		t.Error("a restart does not reuse the dev key")
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
	env := map[string]string{"CUSTREAM_API_KEY": "envkey=200,env2=201", "CUSTREAM_API_KEYS_FILE": file}
	if err := fs.Parse([]string{"--api-key", "flagkey=100"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	keys, err := h.keys(dir, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// The flag wins over the env for --api-key, as for every flag.
	for key, org := range map[string]int64{"flagkey": 100, "filekey": 300} {
		if got, ok := keys.Org(key); !ok || got != org {
			t.Errorf("key %s: %d %v, want %d", key, got, ok, org)
		}
	}
	if _, ok := keys.Org("envkey"); ok {
		t.Error("env --api-key used although the flag was given")
	}
	if _, err := os.Stat(filepath.Join(dir, devKeyFile)); err == nil || out.Len() > 0 {
		t.Error("a dev key was made although keys are configured")
	}

	// From the env alone.
	fs = flag.NewFlagSet("run", flag.ContinueOnError)
	h = httpFlags{}
	h.register(fs)
	_ = fs.Parse(nil)
	if err := applyEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	keys, err = h.keys(dir, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if org, ok := keys.Org("env2"); !ok || org != 201 {
		t.Errorf("env key: %d %v", org, ok)
	}
	if _, err := (&httpFlags{apiKeys: listFlag{"bad"}}).keys(dir, &out, nil); err == nil {
		t.Error("a bad --api-key was accepted")
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
