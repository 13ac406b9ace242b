package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custream/custream/state"
)

// The memory budget of `custream run` (--memory-limit): one figure the
// operator gives (or the container's cgroup limit), split between Pebble's
// block cache, Pebble's memtables, the Go heap and a headroom for what
// neither counts, so RSS stays inside it however large the state grows.
// docs/operations.md ("Memory") states the same rules for operators.

// defaultMemoryLimit is the budget without --memory-limit and without a
// cgroup limit: the target peak RSS of issue 14, and enough for the
// default 256 MiB Pebble cache with a Go heap limit the processor runs
// well under (docs/benchmarks.md, "Memory budget").
const defaultMemoryLimit = 512 << 20

// pebbleMemTablesHeld is how many memtables Pebble holds at once at most:
// pebble.Options.MemTableStopWritesThreshold, whose default (2, in
// pebble/v2 options.go) state.Open leaves. Writes stall while the queued
// memtables (the mutable one included) add up to that many; a flushed one
// is recycled for the next rotation rather than held beside them.
const pebbleMemTablesHeld = 2

// Bounds of the derivation. The Go heap floor is about the live heap the
// processor was measured with after a load, 80–125 MiB (docs/benchmarks.md,
// "Memory budget"): below it the GC would run all the time and the process
// still exceed its budget.
const (
	minGoHeap      = 128 << 20
	minMemTable    = 4 << 20
	minHeadroom    = 64 << 20
	headroomShare  = 8 // headroom is at least 1/8 of the budget
	blockShare     = 4 // the block cache gets 1/4 of the budget besides the memtables
	memTableShare  = 4 // the memtables together at most 1/4 of the budget
	memLimitSource = "GOMEMLIMIT"
)

// memoryLimitUsage is --memory-limit's help.
var memoryLimitUsage = fmt.Sprintf("memory budget of the process, e.g. 512MiB, 1GiB, 800M or bytes; 0: none (Pebble's defaults, no Go heap limit). Pebble's cache (unless --cache-mb), its memtables and the Go heap limit are derived from it, with a headroom of 1/8 (at least 64MiB); an explicit GOMEMLIMIT sets the Go limit instead. Below about %s it is refused (default: the cgroup's memory limit when one is set, else %s)",
	formatSize(minimumBudget()), formatSize(defaultMemoryLimit))

// minimumBudget is the smallest budget deriveBudget accepts with a derived
// cache, for the help text: found by trying, as the shares round.
func minimumBudget() int64 {
	for n := int64(64 << 20); ; n += 16 << 20 {
		if _, err := deriveBudget(budgetInputs{Limit: n, Source: "flag"}); err == nil {
			return n
		}
	}
}

// runBudget is the budget of `custream run` from its flags, the
// environment and the cgroup files.
func runBudget(f runFlags, getenv func(string) string, cg cgroupFiles) (memoryBudget, error) {
	limit, source, err := resolveMemoryLimit(f.memoryLimit, cg)
	if err != nil {
		return memoryBudget{}, err
	}
	return deriveBudget(budgetInputs{
		Limit:          limit,
		Source:         source,
		CacheBytes:     int64(f.cacheMB) << 20,
		GOMEMLIMIT:     getenv("GOMEMLIMIT"),
		PebbleInGoHeap: pebbleInGoHeap(),
	})
}

// logBudget writes the budget as one line at start.
func logBudget(log *slog.Logger, b memoryBudget) {
	if b.Limit == 0 {
		log.Info("memory budget: none (--memory-limit 0)", "cache", formatSize(b.CacheBytes), "memtable", formatSize(int64(b.MemTableBytes)),
			"memtables_held", pebbleMemTablesHeld, "go_limit_source", b.GoLimitSource, "go_limit", formatSize(debug.SetMemoryLimit(-1)))
		return
	}
	log.Info("memory budget", "limit", formatSize(b.Limit), "source", b.Source, "cache", formatSize(b.CacheBytes),
		"memtable", formatSize(int64(b.MemTableBytes)), "memtables_held", pebbleMemTablesHeld, "pebble_max", formatSize(b.PebbleBytes),
		"headroom", formatSize(b.Headroom), "go_limit", formatSize(debug.SetMemoryLimit(-1)), "go_limit_source", b.GoLimitSource,
		"pebble_in_go_heap", b.PebbleInGoHeap)
}

// collector exports the budget as custream_memory_budget_bytes{part}, so a
// dashboard sets RSS beside what it was meant to stay under. The Go limit
// is read when scraped: GOMEMLIMIT may have set it.
func (b memoryBudget) collector() prometheus.Collector {
	return budgetCollector{b: b, desc: prometheus.NewDesc("custream_memory_budget_bytes",
		"The memory budget of custream run (--memory-limit) and its parts: limit (0: none), pebble_cache, memtable (one; Pebble holds up to two), headroom, go_limit (the Go runtime's soft limit; 9.2e18: none).",
		[]string{"part"}, nil)}
}

type budgetCollector struct {
	b    memoryBudget
	desc *prometheus.Desc
}

func (c budgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range []struct {
		part string
		v    int64
	}{
		{"limit", c.b.Limit}, {"pebble_cache", c.b.CacheBytes}, {"memtable", int64(c.b.MemTableBytes)},
		{"headroom", c.b.Headroom}, {"go_limit", debug.SetMemoryLimit(-1)},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(p.v), p.part)
	}
}

// memoryBudget is how a budget is split. Every figure is bytes.
type memoryBudget struct {
	// Limit is the whole budget; 0 means none (--memory-limit 0): Pebble
	// gets its defaults and the Go heap no limit.
	Limit int64
	// Source says where Limit came from: flag, cgroup or default.
	Source string
	// CacheBytes is Pebble's cache (state.Options.CacheBytes). Pebble
	// reserves every memtable it allocates inside its cache (db.go,
	// newMemTable: Cache.Reserve), so the cache's size bounds blocks and
	// memtables together while it is larger than the memtables.
	CacheBytes int64
	// MemTableBytes is one memtable (state.Options.MemTableBytes).
	MemTableBytes uint64
	// PebbleBytes is the most Pebble's manually managed memory (blocks and
	// memtables) reaches: max(CacheBytes, pebbleMemTablesHeld memtables).
	PebbleBytes int64
	// Headroom is kept for what no figure above counts: the binary's code
	// pages, malloc's own overhead, goroutine stacks, the Go runtime
	// running past its soft limit while it collects.
	Headroom int64
	// GoLimit is the value given to debug.SetMemoryLimit; 0 means none is
	// set (no budget, or GOMEMLIMIT in the environment decides).
	GoLimit int64
	// GoLimitSource is "derived", GOMEMLIMIT or "none".
	GoLimitSource string
	// PebbleInGoHeap is true in a CGO_ENABLED=0 build, where Pebble
	// allocates its cache and memtables with make (inside the Go limit);
	// with cgo it uses C malloc, outside it.
	PebbleInGoHeap bool
}

// budgetInputs are what deriveBudget decides from.
type budgetInputs struct {
	Limit          int64  // 0: no budget
	Source         string // flag, cgroup, default
	CacheBytes     int64  // --cache-mb given (> 0), else 0: derive
	GOMEMLIMIT     string // the environment variable, "" if unset
	PebbleInGoHeap bool
}

// deriveBudget splits a budget. It refuses one too small for Pebble's
// memory, the headroom and minGoHeap together, saying what would fit.
func deriveBudget(in budgetInputs) (memoryBudget, error) {
	b := memoryBudget{Limit: in.Limit, Source: in.Source, PebbleInGoHeap: in.PebbleInGoHeap, GoLimitSource: "none"}
	if in.Limit == 0 {
		b.CacheBytes = in.CacheBytes
		if b.CacheBytes == 0 {
			b.CacheBytes = state.DefaultCacheBytes
		}
		b.MemTableBytes = state.DefaultMemTableBytes
		b.PebbleBytes = max(b.CacheBytes, pebbleMemTablesHeld*int64(b.MemTableBytes))
		if in.GOMEMLIMIT != "" {
			b.GoLimitSource = memLimitSource
		}
		return b, nil
	}
	if in.Limit < 0 {
		return b, fmt.Errorf("memory limit %d is negative", in.Limit)
	}
	// 64 MiB memtables measured faster than 32 MiB (state.Options); halve
	// them only while the ones Pebble may hold would take more than their
	// share.
	mt := int64(state.DefaultMemTableBytes)
	for mt > minMemTable && pebbleMemTablesHeld*mt > in.Limit/memTableShare {
		mt /= 2
	}
	b.MemTableBytes = uint64(mt)
	memTables := pebbleMemTablesHeld * mt
	b.CacheBytes = in.CacheBytes
	if b.CacheBytes == 0 {
		// Blocks keep their quarter even while the memtables are full.
		b.CacheBytes = in.Limit/blockShare + memTables
	}
	b.PebbleBytes = max(b.CacheBytes, memTables)
	b.Headroom = max(int64(minHeadroom), in.Limit/headroomShare)
	goHeap := in.Limit - b.PebbleBytes - b.Headroom
	if goHeap < minGoHeap {
		need := b.PebbleBytes + b.Headroom + minGoHeap
		return b, fmt.Errorf("memory limit %s (%s) is too small: Pebble needs %s (cache %s, %d memtables of %s), the headroom %s and the Go heap at least %s; give at least %s, or a smaller --cache-mb",
			formatSize(in.Limit), in.Source, formatSize(b.PebbleBytes), formatSize(b.CacheBytes), pebbleMemTablesHeld, formatSize(mt),
			formatSize(b.Headroom), formatSize(minGoHeap), formatSize(need))
	}
	switch {
	case in.GOMEMLIMIT != "":
		// The operator's own setting, which the runtime read at start.
		b.GoLimitSource = memLimitSource
	case in.PebbleInGoHeap:
		// Pebble's memory is Go heap here: the Go limit must hold it.
		b.GoLimit, b.GoLimitSource = in.Limit-b.Headroom, "derived"
	default:
		b.GoLimit, b.GoLimitSource = goHeap, "derived"
	}
	return b, nil
}

// resolveMemoryLimit turns --memory-limit into a budget and its source:
// the flag when given ("0" is no budget), else the cgroup's limit when one
// is set, else defaultMemoryLimit.
func resolveMemoryLimit(flagValue string, cgroupPaths cgroupFiles) (int64, string, error) {
	if strings.TrimSpace(flagValue) != "" {
		n, err := parseSize(flagValue)
		if err != nil {
			return 0, "", fmt.Errorf("--memory-limit: %w", err)
		}
		return n, "flag", nil
	}
	n, err := cgroupPaths.limit()
	if err != nil {
		return 0, "", err
	}
	if n > 0 {
		return n, "cgroup", nil
	}
	return defaultMemoryLimit, "default", nil
}

// cgroupFiles are where the container's memory limit is read; tests point
// them at temp files.
type cgroupFiles struct {
	V2 string // cgroup v2: "max" or bytes
	V1 string // cgroup v1: bytes, a huge number meaning none
}

var defaultCgroupFiles = cgroupFiles{
	V2: "/sys/fs/cgroup/memory.max",
	V1: "/sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// cgroupV1Unlimited: cgroup v1 reports "no limit" as the largest multiple
// of the page size below 2^63; anything above 2^62 is taken as none.
const cgroupV1Unlimited = 1 << 62

// limit is the cgroup's memory limit, 0 when none is set or neither file
// exists (no cgroup, or a host's root cgroup).
func (c cgroupFiles) limit() (int64, error) {
	for _, p := range []string{c.V2, c.V1} {
		if p == "" {
			continue
		}
		raw, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("reading the cgroup memory limit: %w", err)
		}
		s := strings.TrimSpace(string(raw))
		if s == "max" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cgroup memory limit in %s: %q is not a number of bytes", p, s)
		}
		if n <= 0 || n > cgroupV1Unlimited {
			return 0, nil
		}
		return n, nil
	}
	return 0, nil
}

// sizeUnits are the suffixes parseSize accepts: binary (KiB, Ki) as Go's
// GOMEMLIMIT and Kubernetes write them, decimal (KB, K) as Kubernetes and
// most tools do. Matched case-insensitively, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// parseSize reads a whole number of bytes with an optional unit: 512MiB,
// 1GiB, 800M, 2Gi, 1073741824.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional unit (KiB, MiB, GiB, TiB, or K, M, G, T for powers of 1000), e.g. 512MiB", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// formatSize writes n in MiB (GiB from 10 GiB), as the log and errors show it.
func formatSize(n int64) string {
	if n >= 10<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%dGiB", n>>30)
	}
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
}

// pebbleInGoHeap reports whether this binary was built without cgo, so
// that Pebble's cache and memtables are Go allocations (pebble's
// internal/manual: C malloc with cgo, make without). The build records
// CGO_ENABLED; a binary without that record is taken as built with cgo,
// the toolchain's default where a C compiler exists.
func pebbleInGoHeap() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "0"
		}
	}
	return false
}
