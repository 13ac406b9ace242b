package state

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/sample"
)

// A store's key layout may change between releases (layout.go), but its
// changelog is the durable copy of the state and must restore into every
// later layout: the ids and merges it holds were published and cannot be
// made again from the inputs. testdata/changelog-layout3.bin.gz is the
// changelog of compatFixtureCommands commands written by the release of
// layout 3, and compat-answers-layout3.json.gz what that release answered
// to every query over the result. Regenerate both (only when the query
// answers are meant to change) with CUSTREAM_WRITE_COMPAT_FIXTURE=1.
const (
	compatFixtureCommands = 3000
	compatChangelog       = "testdata/changelog-layout3.bin.gz"
	compatAnswers         = "testdata/compat-answers-layout3.json.gz"
	compatOrg             = 100
)

// TestRestoreFromAnOlderLayoutsChangelog restores the layout-3 changelog
// into this release's layout and checks that every query answers as the
// release that wrote it did.
func TestRestoreFromAnOlderLayoutsChangelog(t *testing.T) {
	if os.Getenv("CUSTREAM_WRITE_COMPAT_FIXTURE") != "" {
		writeCompatFixture(t)
	}
	records, err := readChangelogFixture(compatChangelog)
	if err != nil {
		t.Fatal(err)
	}
	var want compatAnswerSet
	if err := readGzipJSON(compatAnswers, &want); err != nil {
		t.Fatal(err)
	}
	db := mustOpen(t, "db", Options{FS: vfs.NewMem(), CacheBytes: 8 << 20})
	task := db.Task(0, 1)
	// In slices of 500, as restore applies fetched batches.
	for i := 0; i < len(records); i += 500 {
		end := min(len(records), i+500)
		must(t, task.ApplyChangelog(records[i:end], int64(end)))
	}
	got, err := compatAnswersOf(task, want.Requests)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Customers) < 1000 || len(want.Searches) < 1000 {
		t.Fatalf("fixture too small to prove much: %d customers, %d searches", len(want.Customers), len(want.Searches))
	}
	compareAnswers(t, "customer", want.Customers, got.Customers)
	compareAnswers(t, "holders", want.Holders, got.Holders)
	compareAnswers(t, "owner", want.Owners, got.Owners)
	compareAnswers(t, "search", want.Searches, got.Searches)
	compareAnswers(t, "request", want.RequestAnswers, got.RequestAnswers)
}

func compareAnswers(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	bad := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if bad++; bad <= 5 {
				t.Errorf("%s %s: got %q, the older layout answered %q", what, k, g, w)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 5 {
				t.Errorf("%s %s: answered here, not by the older layout", what, k)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d answers differ", what, bad, len(want))
	}
}

// compatAnswerSet maps each query, spelled as a string, to its answer.
type compatAnswerSet struct {
	Requests       []string          // the request ids to look up
	Customers      map[string]string // id → sha256 of the JSON document
	Holders        map[string]string // type:key → holdings
	Owners         map[string]string // type:key@source/account → owner
	Searches       map[string]string // prefix → total and ids
	RequestAnswers map[string]string // request id → sha256 of the record
}

// compatAnswersOf asks r every query the fixture records: each customer
// id the allocator gave, the holders and scope owners of every identifier
// of every customer, searches by 1, 2, 3 leading characters and the whole
// of every name and identifier token, and the request ids.
func compatAnswersOf(task *Task, requests []string) (compatAnswerSet, error) {
	r := task.Reader()
	a := compatAnswerSet{Requests: requests, Customers: map[string]string{}, Holders: map[string]string{},
		Owners: map[string]string{}, Searches: map[string]string{}, RequestAnswers: map[string]string{}}
	prefixes := map[string]bool{}
	for id := int64(1); ; id++ {
		c, ok, err := r.Customer(id)
		if err != nil {
			return a, err
		}
		if !ok {
			break // ids of one task of one are 1, 2, 3...
		}
		doc, err := json.Marshal(c)
		if err != nil {
			return a, err
		}
		a.Customers[fmt.Sprint(id)] = sum(doc)
		for _, p := range c.Profiles {
			for _, ident := range p.Identifiers {
				hs, err := r.Holders(compatOrg, ident)
				if err != nil {
					return a, err
				}
				a.Holders[ident.Type+":"+ident.Key()] = fmt.Sprint(hs)
				owner, ok, err := r.OwnerInScope(compatOrg, p.Source, p.AccountID, ident)
				if err != nil {
					return a, err
				}
				a.Owners[ident.Type+":"+ident.Key()+"@"+p.Source+"/"+p.AccountID] = fmt.Sprint(owner, ok)
			}
		}
		for _, tok := range customer.SearchTokens(c) {
			for _, n := range []int{1, 2, 3, len(tok)} {
				if n <= len(tok) {
					prefixes[tok[:n]] = true
				}
			}
		}
	}
	for p := range prefixes {
		ids, total, err := r.Search(compatOrg, p, 1000, 0)
		if err != nil {
			return a, err
		}
		a.Searches[p] = fmt.Sprint(total, ids)
	}
	// A prefix nothing starts with, and one of a merged-away customer's
	// words are covered above; so is the empty prefix's absence.
	b := task.NewBatch()
	defer b.Close()
	for _, id := range requests {
		rec, ok, err := b.Request(compatOrg, id)
		if err != nil {
			return a, err
		}
		a.RequestAnswers[id] = fmt.Sprint(ok, " ", sum(rec))
	}
	return a, nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// writeCompatFixture runs the sample mix through the rules on a task of
// one and keeps every batch's changelog records and, at the end, the
// answers to every query.
func writeCompatFixture(t *testing.T) {
	db := mustOpen(t, "db", Options{FS: vfs.NewMem(), CacheBytes: 8 << 20})
	task := db.Task(0, 1)
	cfg := customer.DefaultConfig()
	cfg.DefaultCountryCode = "91"
	gen := sample.New(sample.Config{Seed: 3, Orgs: []int64{compatOrg}, Partitions: 1, DuplicatePct: 30})
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var records []KV
	var requests []string
	merges := 0
	for i := 0; i < compatFixtureCommands; i += 250 {
		b := task.NewBatch()
		for j := i; j < i+250; j++ {
			cmd := gen.Next()
			cmd.Time = t0.Add(time.Duration(j) * time.Second)
			out, err := customer.Apply(cfg, b, cmd)
			if err != nil {
				t.Fatal(err)
			}
			merges += len(out.Merges)
			rec, err := json.Marshal(out.Result)
			if err != nil {
				t.Fatal(err)
			}
			must(t, b.PutRequest(cmd.Org, cmd.RequestID, rec, cmd.Time))
			requests = append(requests, cmd.RequestID)
		}
		kvs, err := b.Writes()
		must(t, err)
		records = append(records, kvs...)
		must(t, task.Apply(b, int64(len(records))))
	}
	// Half the request ids expire, so the fixture holds tombstones too.
	b := task.NewBatch()
	must(t, b.PruneRequests(t0.Add(compatFixtureCommands/2*time.Second)))
	kvs, err := b.Writes()
	must(t, err)
	records = append(records, kvs...)
	must(t, task.Apply(b, int64(len(records))))
	requests = append(requests, "never-sent")

	answers, err := compatAnswersOf(task, requests)
	must(t, err)
	t.Logf("fixture: %d changelog records, %d customers, %d merges, %d searches", len(records), len(answers.Customers), merges, len(answers.Searches))
	must(t, os.MkdirAll(filepath.Dir(compatChangelog), 0o755))
	must(t, writeChangelogFixture(compatChangelog, records))
	must(t, writeGzipJSON(compatAnswers, answers))
}

// The fixture's record form: uvarint key length, key, then 0 for a delete
// or 1, uvarint value length and value.
func writeChangelogFixture(path string, records []KV) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := bufio.NewWriter(zw)
	for _, kv := range records {
		w.Write(binary.AppendUvarint(nil, uint64(len(kv.Key))))
		w.Write(kv.Key)
		if kv.Value == nil {
			w.WriteByte(0)
			continue
		}
		w.WriteByte(1)
		w.Write(binary.AppendUvarint(nil, uint64(len(kv.Value))))
		w.Write(kv.Value)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func readChangelogFixture(path string) ([]KV, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := bufio.NewReader(zr)
	var out []KV
	readBytes := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for {
		key, err := readBytes()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", path, len(out), err)
		}
		kind, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", path, len(out), err)
		}
		kv := KV{Key: key}
		if kind == 1 {
			if kv.Value, err = readBytes(); err != nil {
				return nil, fmt.Errorf("%s: record %d: %w", path, len(out), err)
			}
		}
		out = append(out, kv)
	}
}

func writeGzipJSON(path string, v any) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	if err := enc.Encode(v); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func readGzipJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
