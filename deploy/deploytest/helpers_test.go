package deploytest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root, seen from this package's directory (where
// go test runs).
const root = "../.."

// deployPath joins parts under deploy/.
func deployPath(parts ...string) string {
	return filepath.Join(append([]string{root, "deploy"}, parts...)...)
}

// readYAML returns every document of a (possibly multi-document) YAML file.
func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// get walks a decoded document by map keys and list indexes ("0").
func get(v any, path ...string) any {
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[p]
		case []any:
			i := 0
			for _, r := range p {
				i = i*10 + int(r-'0')
			}
			if i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func dict(v any, path ...string) map[string]any {
	m, _ := get(v, path...).(map[string]any)
	return m
}

var (
	runHelpOnce sync.Once
	runHelpOut  string
	runHelpErr  error
)

// runHelp is the real `custream run -h` output, from a binary built now:
// the flags and env names the manifests and docs must agree with.
func runHelp(t *testing.T) string {
	t.Helper()
	runHelpOnce.Do(func() {
		dir, err := os.MkdirTemp("", "custream-deploytest")
		if err != nil {
			runHelpErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "custream")
		build := exec.Command("go", "build", "-o", bin, "./cmd/custream")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			runHelpErr = errors.New("go build ./cmd/custream: " + err.Error() + "\n" + string(out))
			return
		}
		// -h exits 2 (flag.ErrHelp) and prints the usage to stderr.
		out, _ := exec.Command(bin, "run", "-h").CombinedOutput()
		runHelpOut = string(out)
		if !strings.Contains(runHelpOut, "Usage: custream run") {
			runHelpErr = errors.New("unexpected `custream run -h` output:\n" + runHelpOut)
		}
	})
	if runHelpErr != nil {
		t.Fatal(runHelpErr)
	}
	return runHelpOut
}

var helpFlag = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)  \[(CUSTREAM_[A-Z0-9_]+)\]$`)

// runFlags maps every flag of `custream run` to its environment variable.
func runFlags(t *testing.T) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, m := range helpFlag.FindAllStringSubmatch(runHelp(t), -1) {
		flags[m[1]] = m[2]
	}
	if len(flags) < 10 {
		t.Fatalf("parsed only %d flags from `custream run -h`", len(flags))
	}
	return flags
}
