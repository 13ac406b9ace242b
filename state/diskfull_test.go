package state

import (
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/custream/custream/processor/customer"
)

// fullDisk fails every write of the filesystem with ENOSPC while on, as a
// full disk does (removing files still works).
func fullDisk(fs vfs.FS, on func() bool) vfs.FS {
	return errorfs.Wrap(fs, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if on() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpRemove && op.Kind != errorfs.OpRemoveAll {
			return syscall.ENOSPC
		}
		return nil
	}))
}

// TestDiskFullWaits: an apply on a full disk waits instead of failing or
// panicking, DiskFull says so, and once space is back the apply lands and
// survives a reopen.
func TestDiskFullWaits(t *testing.T) {
	var full atomic.Bool
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{FS: fullDisk(vfs.Default, full.Load), CacheBytes: 8 << 20, SyncCommits: true})
	task := db.Task(0, 1)
	put := func(name string) error {
		b := task.NewBatch()
		id, err := b.NextID()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.PutCustomer(&customer.Customer{ID: id, Org: 1, Profiles: []customer.Profile{{Source: "INSTORE", FirstName: name}}}); err != nil {
			t.Fatal(err)
		}
		return task.Apply(b, -1)
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	full.Store(true)
	done := make(chan error, 1)
	go func() { done <- put("during") }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if f, _, err := db.DiskFull(); f {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("DiskFull error %v, want ENOSPC", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("DiskFull never reported the full disk")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the apply returned (%v) while the disk was full", err)
	default:
	}
	full.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("apply after space came back: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the apply did not go on once space was back")
	}
	if f, _, _ := db.DiskFull(); f {
		t.Fatal("DiskFull still reports a full disk")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, Options{CacheBytes: 8 << 20})
	defer db.Close()
	kvs, err := db.Task(0, 1).Dump()
	if err != nil {
		t.Fatal(err)
	}
	customers := 0
	for _, kv := range kvs {
		if kv.Key[taskLen] == tabCustomer {
			customers++
		}
	}
	if customers != 2 {
		t.Fatalf("%d customers after reopening, want 2", customers)
	}
}

// TestDiskFullGivesUp: a disk that stays full past DiskFullWait calls
// OnDiskFullGiveUp with an error that says so.
func TestDiskFullGivesUp(t *testing.T) {
	var on atomic.Bool
	gaveUp := make(chan error, 1)
	db := mustOpen(t, t.TempDir(), Options{FS: fullDisk(vfs.Default, on.Load), CacheBytes: 8 << 20,
		SyncCommits: true, DiskFullWait: 2 * time.Second, OnDiskFullGiveUp: func(err error) { gaveUp <- err }})
	task := db.Task(0, 1)
	on.Store(true)
	b := task.NewBatch()
	if _, err := b.NextID(); err != nil {
		t.Fatal(err)
	}
	applied := make(chan error, 1)
	go func() { applied <- task.Apply(b, 5) }()
	select {
	case err := <-gaveUp:
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("gave up with %v, want ENOSPC", err)
		}
		t.Logf("gave up: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("never gave up")
	}
	// A give-up that returns leaves the write waiting, not failed.
	on.Store(false)
	if err := <-applied; err != nil {
		t.Fatalf("apply after the give-up returned: %v", err)
	}
}
