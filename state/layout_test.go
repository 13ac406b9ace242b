package state

import (
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestLayoutVersion(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("s", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	task := db.Task(0, 1)
	if err := task.ApplyChangelog(nil, 7); err != nil {
		t.Fatal(err)
	}
	if err := task.Drop(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Reopening the same layout works, even after a task was dropped.
	db, err = Open("s", Options{FS: fs})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := db.Task(1, 2).ApplyChangelog(nil, 3); err != nil {
		t.Fatal(err)
	}
	// A store without the version but with data is an older layout.
	if err := db.pdb.Delete(layoutKey, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open("s", Options{FS: fs}); err == nil || !strings.Contains(err.Error(), "older custream") {
		t.Fatalf("opening an unversioned store with data: %v", err)
	}

	// Another version is refused too.
	fs2 := vfs.NewMem()
	db, err = Open("s", Options{FS: fs2})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.pdb.Set(layoutKey, appendInt64(nil, layoutVersion+1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open("s", Options{FS: fs2}); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Fatalf("opening another layout: %v", err)
	}
}
