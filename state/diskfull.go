package state

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A full disk is a state of the machine, not of the data: the changelog in
// Kafka holds every committed change, so custream loses nothing by
// waiting. Pebble, though, panics when a WAL write fails and retries
// failed flushes in a tight loop. So every write Pebble makes goes through
// waitFS, which turns "no space left on device" (and "quota exceeded")
// into a wait: the write is retried every second until it succeeds. While
// one waits, the committed batch being written to Pebble waits too, so the
// processor takes no more input, reads go on from what Pebble holds, and
// DB.DiskFull says why (readiness, metrics). If space does not come back
// within Options.DiskFullWait, Options.OnDiskFullGiveUp decides (custream
// run exits with status 3: a restart on a larger or emptier disk restores
// the rest from the changelog).

// diskWaiter is the shared state of one DB's waiting writes.
type diskWaiter struct {
	wait   time.Duration
	giveUp func(error)
	log    *slog.Logger

	mu      sync.Mutex
	waiting int       // writes waiting for space
	since   time.Time // when the current wait began
	last    error     // the error that made them wait
	// episodes counts the waits, for the metrics.
	episodes int64
}

// full reports whether writes wait for space, since when and why.
func (w *diskWaiter) full() (bool, time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiting > 0, w.since, w.last
}

func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// retry runs op until it does not fail for lack of space. After w.wait it
// calls giveUp, which should stop the process; if it returns (or there is
// none), the write goes on waiting: Pebble takes a failed WAL write as
// fatal, and nothing is gained by crashing.
func (w *diskWaiter) retry(what string, op func() error) error {
	err := op()
	if !diskFull(err) {
		return err
	}
	w.mu.Lock()
	if w.waiting == 0 {
		w.since = time.Now()
		w.episodes++
		w.log.Error("the state disk is full: processing stops until space is back; writes are retried every second",
			"op", what, "err", err, "gives_up_after", w.wait)
	}
	w.waiting++
	w.last = err
	since := w.since
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.waiting--
		if w.waiting == 0 && err == nil {
			w.log.Info("space is back on the state disk; processing goes on", "waited", time.Since(w.since).Round(time.Millisecond))
		}
	}()
	gaveUp := false
	for diskFull(err) {
		if !gaveUp && time.Since(since) > w.wait {
			gaveUp = true
			w.log.Error("the state disk stayed full; giving up", "waited", w.wait)
			if w.giveUp != nil {
				w.giveUp(fmt.Errorf("the state disk stayed full for %s: %w", w.wait, err))
			}
		}
		time.Sleep(time.Second)
		err = op()
	}
	return err
}

// waitFS is a vfs.FS whose writes wait for space (see above).
type waitFS struct {
	vfs.FS
	w *diskWaiter
}

func (fs waitFS) Unwrap() vfs.FS { return fs.FS }

func (fs waitFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	var f vfs.File
	err := fs.w.retry("create "+name, func() (err error) {
		f, err = fs.FS.Create(name, category)
		return err
	})
	return fs.file(f), err
}

func (fs waitFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	var f vfs.File
	err := fs.w.retry("open "+name, func() (err error) {
		f, err = fs.FS.OpenReadWrite(name, category, opts...)
		return err
	})
	return fs.file(f), err
}

func (fs waitFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	var f vfs.File
	err := fs.w.retry("reuse "+oldname, func() (err error) {
		f, err = fs.FS.ReuseForWrite(oldname, newname, category)
		return err
	})
	return fs.file(f), err
}

func (fs waitFS) Link(oldname, newname string) error {
	return fs.w.retry("link "+newname, func() error { return fs.FS.Link(oldname, newname) })
}

func (fs waitFS) Rename(oldname, newname string) error {
	return fs.w.retry("rename "+oldname, func() error { return fs.FS.Rename(oldname, newname) })
}

func (fs waitFS) MkdirAll(dir string, perm os.FileMode) error {
	return fs.w.retry("mkdir "+dir, func() error { return fs.FS.MkdirAll(dir, perm) })
}

func (fs waitFS) file(f vfs.File) vfs.File {
	if f == nil {
		return nil
	}
	return waitFile{File: f, w: fs.w}
}

// waitFile is a vfs.File whose writes and syncs wait for space.
type waitFile struct {
	vfs.File
	w *diskWaiter
}

// Write retries what a short write left: a full disk may take part of p.
func (f waitFile) Write(p []byte) (int, error) {
	done := 0
	err := f.w.retry("write", func() error {
		n, err := f.File.Write(p[done:])
		done += n
		if err == nil && done < len(p) {
			err = io.ErrShortWrite
		}
		return err
	})
	return done, err
}

func (f waitFile) WriteAt(p []byte, off int64) (int, error) {
	done := 0
	err := f.w.retry("write", func() error {
		n, err := f.File.WriteAt(p[done:], off+int64(done))
		done += n
		if err == nil && done < len(p) {
			err = io.ErrShortWrite
		}
		return err
	})
	return done, err
}

func (f waitFile) Preallocate(offset, length int64) error {
	return f.w.retry("preallocate", func() error { return f.File.Preallocate(offset, length) })
}

func (f waitFile) Sync() error {
	return f.w.retry("sync", f.File.Sync)
}

func (f waitFile) SyncData() error {
	return f.w.retry("sync", f.File.SyncData)
}

func (f waitFile) SyncTo(length int64) (fullSync bool, err error) {
	err = f.w.retry("sync", func() (err error) {
		fullSync, err = f.File.SyncTo(length)
		return err
	})
	return fullSync, err
}
