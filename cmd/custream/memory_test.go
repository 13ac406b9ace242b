package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "1073741824", want: 1 << 30},
		{in: "512MiB", want: 512 << 20},
		{in: "512mib", want: 512 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "2Gi", want: 2 << 30},
		{in: "64Ki", want: 64 << 10},
		{in: "800M", want: 800e6},
		{in: "800MB", want: 800e6},
		{in: "1G", want: 1e9},
		{in: "10k", want: 10e3},
		{in: "4096B", want: 4096},
		{in: " 256 MiB ", want: 256 << 20},
		{in: "", bad: true},
		{in: "MiB", bad: true},
		{in: "1.5GiB", bad: true},
		{in: "-1GiB", bad: true},
		{in: "12 parsecs", bad: true},
		{in: "9000000TiB", bad: true},
	} {
		got, err := parseSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestDeriveBudget(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		in   budgetInputs
		want memoryBudget // Limit, Source and PebbleInGoHeap are copied from in
		err  string
	}{
		{
			name: "default 512MiB with cgo: cache a quarter plus two 64MiB memtables, Go gets the rest less 64MiB",
			in:   budgetInputs{Limit: 512 * mib, Source: "default"},
			want: memoryBudget{CacheBytes: 256 * mib, MemTableBytes: 64 * mib, PebbleBytes: 256 * mib, Headroom: 64 * mib, GoLimit: 192 * mib, GoLimitSource: "derived"},
		},
		{
			name: "without cgo Pebble is Go heap, so the Go limit holds it too",
			in:   budgetInputs{Limit: 512 * mib, Source: "default", PebbleInGoHeap: true},
			want: memoryBudget{CacheBytes: 256 * mib, MemTableBytes: 64 * mib, PebbleBytes: 256 * mib, Headroom: 64 * mib, GoLimit: 448 * mib, GoLimitSource: "derived"},
		},
		{
			name: "2GiB cgroup: headroom an eighth",
			in:   budgetInputs{Limit: 2048 * mib, Source: "cgroup"},
			want: memoryBudget{CacheBytes: 640 * mib, MemTableBytes: 64 * mib, PebbleBytes: 640 * mib, Headroom: 256 * mib, GoLimit: 1152 * mib, GoLimitSource: "derived"},
		},
		{
			name: "384MiB: memtables halved to keep within a quarter",
			in:   budgetInputs{Limit: 384 * mib, Source: "flag"},
			want: memoryBudget{CacheBytes: 160 * mib, MemTableBytes: 32 * mib, PebbleBytes: 160 * mib, Headroom: 64 * mib, GoLimit: 160 * mib, GoLimitSource: "derived"},
		},
		{
			name: "an explicit cache smaller than the memtables: Pebble holds the memtables anyway",
			in:   budgetInputs{Limit: 1024 * mib, Source: "flag", CacheBytes: 64 * mib},
			want: memoryBudget{CacheBytes: 64 * mib, MemTableBytes: 64 * mib, PebbleBytes: 128 * mib, Headroom: 128 * mib, GoLimit: 768 * mib, GoLimitSource: "derived"},
		},
		{
			name: "GOMEMLIMIT in the environment wins over the derived Go limit",
			in:   budgetInputs{Limit: 512 * mib, Source: "default", GOMEMLIMIT: "300MiB"},
			want: memoryBudget{CacheBytes: 256 * mib, MemTableBytes: 64 * mib, PebbleBytes: 256 * mib, Headroom: 64 * mib, GoLimitSource: "GOMEMLIMIT"},
		},
		{
			name: "no budget: Pebble's defaults, no Go limit",
			in:   budgetInputs{Limit: 0, Source: "flag"},
			want: memoryBudget{CacheBytes: 256 * mib, MemTableBytes: 64 * mib, PebbleBytes: 256 * mib, GoLimitSource: "none"},
		},
		{
			name: "no budget keeps an explicit cache",
			in:   budgetInputs{Limit: 0, Source: "flag", CacheBytes: 1024 * mib},
			want: memoryBudget{CacheBytes: 1024 * mib, MemTableBytes: 64 * mib, PebbleBytes: 1024 * mib, GoLimitSource: "none"},
		},
		{
			name: "256MiB leaves the Go heap 64MiB: refused, naming what would fit",
			in:   budgetInputs{Limit: 256 * mib, Source: "flag"},
			err:  "give at least 320MiB",
		},
		{
			name: "an explicit cache that eats the budget is refused",
			in:   budgetInputs{Limit: 1024 * mib, Source: "cgroup", CacheBytes: 900 * mib},
			err:  "or a smaller --cache-mb",
		},
		{
			name: "negative",
			in:   budgetInputs{Limit: -1, Source: "flag"},
			err:  "negative",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deriveBudget(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Limit, want.Source, want.PebbleInGoHeap = tc.in.Limit, tc.in.Source, tc.in.PebbleInGoHeap
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if got.Limit > 0 && got.GoLimit > 0 && !got.PebbleInGoHeap {
				if sum := got.PebbleBytes + got.Headroom + got.GoLimit; sum != got.Limit {
					t.Errorf("parts add up to %d, not the limit %d", sum, got.Limit)
				}
			}
		})
	}
}

// The help's minimum is one the derivation accepts, and 16MiB less is not.
func TestMinimumBudget(t *testing.T) {
	n := minimumBudget()
	if _, err := deriveBudget(budgetInputs{Limit: n, Source: "flag"}); err != nil {
		t.Fatalf("minimum %d refused: %v", n, err)
	}
	if _, err := deriveBudget(budgetInputs{Limit: n - 16<<20, Source: "flag"}); err == nil {
		t.Fatalf("%d below the minimum accepted", n-16<<20)
	}
}

func TestCgroupLimit(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		cg   cgroupFiles
		want int64
		bad  bool
	}{
		{name: "v2 limit", cg: cgroupFiles{V2: file("v2", "2147483648\n"), V1: missing}, want: 2 << 30},
		{name: "v2 max is none", cg: cgroupFiles{V2: file("v2max", "max\n"), V1: file("v1x", "1073741824\n")}, want: 0},
		{name: "no v2, v1 limit", cg: cgroupFiles{V2: missing, V1: file("v1", "1073741824\n")}, want: 1 << 30},
		{name: "v1 unlimited", cg: cgroupFiles{V2: missing, V1: file("v1u", "9223372036854771712\n")}, want: 0},
		{name: "neither file", cg: cgroupFiles{V2: missing, V1: missing}, want: 0},
		{name: "garbage", cg: cgroupFiles{V2: file("bad", "lots\n")}, bad: true},
	} {
		got, err := tc.cg.limit()
		if tc.bad {
			if err == nil {
				t.Errorf("%s: got %d, want an error", tc.name, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}

func TestResolveMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	v2 := filepath.Join(dir, "memory.max")
	if err := os.WriteFile(v2, []byte("1073741824\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withCgroup := cgroupFiles{V2: v2}
	none := cgroupFiles{V2: filepath.Join(dir, "missing")}
	for _, tc := range []struct {
		flag   string
		cg     cgroupFiles
		want   int64
		source string
	}{
		{flag: "", cg: withCgroup, want: 1 << 30, source: "cgroup"},
		{flag: "", cg: none, want: defaultMemoryLimit, source: "default"},
		{flag: "800MiB", cg: withCgroup, want: 800 << 20, source: "flag"},
		{flag: "0", cg: withCgroup, want: 0, source: "flag"},
	} {
		got, source, err := resolveMemoryLimit(tc.flag, tc.cg)
		if err != nil || got != tc.want || source != tc.source {
			t.Errorf("flag %q: got %d %s %v; want %d %s", tc.flag, got, source, err, tc.want, tc.source)
		}
	}
	if _, _, err := resolveMemoryLimit("lots", none); err == nil || !strings.Contains(err.Error(), "--memory-limit") {
		t.Errorf("a bad flag: err = %v, want one naming --memory-limit", err)
	}
}

// A budget too small to run stops `custream run` with status 2 before it
// touches the state dir or a broker.
func TestRunRefusesATooSmallBudget(t *testing.T) {
	var stdout, stderr strings.Builder
	dir := filepath.Join(t.TempDir(), "state")
	code := runRunCtx(t.Context(), []string{"--memory-limit", "200MiB", "--state-dir", dir, "--brokers", "127.0.0.1:1"}, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "too small") {
		t.Errorf("stderr does not say why:\n%s", stderr.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the state dir was made (%v)", err)
	}
}
