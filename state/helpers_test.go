package state

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/custream/custream/processor/customer"
)

// env is one storage configuration the suite runs on. open may be called
// again after the DB is closed and sees the same data (a restart).
type env struct {
	name string
	open func(t testing.TB) *DB
}

// envs returns the two implementations every store test runs on (nats-style
// "one suite, two implementations"): Pebble on an in-memory FS, for logic,
// and on the real disk, for durability.
func envs(t testing.TB) []env {
	mem := vfs.NewMem()
	dir := t.TempDir()
	return []env{
		{"mem", func(t testing.TB) *DB { return mustOpen(t, "db", Options{FS: mem, CacheBytes: 8 << 20}) }},
		{"disk", func(t testing.TB) *DB { return mustOpen(t, dir, Options{CacheBytes: 8 << 20}) }},
	}
}

// forEachEnv runs fn as a subtest on every env with a freshly opened DB,
// closed when the subtest ends unless fn closed it.
func forEachEnv(t *testing.T, fn func(t *testing.T, e env, db *DB)) {
	for _, e := range envs(t) {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			fn(t, e, db)
		})
	}
}

func mustOpen(t testing.TB, dir string, o Options) *DB {
	t.Helper()
	db, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2016, 6, 23, 19, 11, 18, 0, time.FixedZone("", 8*3600))

// person builds a live customer with one profile per scope given as
// "SOURCE/account" → identifiers "type:value".
func person(id, org int64, first, last string, scopes map[string][]string) *customer.Customer {
	c := &customer.Customer{ID: id, Org: org, LoyaltyType: "loyalty", CreateDate: t0, ModifiedDate: t0}
	for _, sc := range sortedKeys(scopes) {
		src, acct, _ := strings.Cut(sc, "/")
		p := customer.Profile{Source: src, AccountID: acct, FirstName: first, LastName: last, CreateDate: t0}
		for _, s := range scopes[sc] {
			typ, val, _ := strings.Cut(s, ":")
			p.Identifiers = append(p.Identifiers, customer.Identifier{Type: typ, Value: val})
		}
		c.Profiles = append(c.Profiles, p)
	}
	return c
}

func put(t testing.TB, b *Batch, cs ...*customer.Customer) {
	t.Helper()
	for _, c := range cs {
		must(t, b.PutCustomer(c))
	}
}

// apply applies b to its task with the given checkpoint.
func apply(t testing.TB, task *Task, b *Batch, ckpt int64) {
	t.Helper()
	must(t, task.Apply(b, ckpt))
}

func owner(t testing.TB, r customer.Reader, org int64, scope, typ, val string) int64 {
	t.Helper()
	src, acct, _ := strings.Cut(scope, "/")
	id, ok, err := r.OwnerInScope(org, src, acct, customer.Identifier{Type: typ, Value: val})
	must(t, err)
	if !ok {
		return 0
	}
	return id
}

func search(t testing.TB, r customer.Reader, org int64, prefix string, limit, offset int) string {
	t.Helper()
	ids, total, err := r.Search(org, prefix, limit, offset)
	must(t, err)
	return fmt.Sprintf("%v total=%d", ids, total)
}

func dump(t testing.TB, task *Task) []KV {
	t.Helper()
	kvs, err := task.Dump()
	must(t, err)
	return kvs
}

func equalKVs(a, b []KV) error {
	for i := 0; i < len(a) || i < len(b); i++ {
		switch {
		case i >= len(a):
			return fmt.Errorf("extra key %x in second", b[i].Key)
		case i >= len(b):
			return fmt.Errorf("extra key %x in first", a[i].Key)
		case !bytes.Equal(a[i].Key, b[i].Key):
			return fmt.Errorf("key %d: %x vs %x", i, a[i].Key, b[i].Key)
		case !bytes.Equal(a[i].Value, b[i].Value):
			return fmt.Errorf("key %x: value %x vs %x", a[i].Key, a[i].Value, b[i].Value)
		}
	}
	return nil
}
