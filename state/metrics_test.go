package state

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	db, err := Open("", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(db.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"custream_pebble_compactions_total", "custream_pebble_read_amplification", "custream_pebble_block_cache_hits_total", "custream_pebble_disk_bytes"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}
