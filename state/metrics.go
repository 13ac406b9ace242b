package state

import "github.com/prometheus/client_golang/prometheus"

// Collector exports Pebble's own metrics, read when Prometheus scrapes:
//
//	custream_pebble_compactions_total       compactions finished
//	custream_pebble_flushes_total           memtable flushes finished
//	custream_pebble_read_amplification      sstables a point read may consult (L0 sublevels + non-empty levels)
//	custream_pebble_block_cache_hits_total  block cache hits
//	custream_pebble_block_cache_misses_total block cache misses
//	custream_pebble_block_cache_bytes       bytes held by the block cache
//	custream_pebble_disk_bytes              bytes of every file of the store
//	custream_state_disk_full                1 while writes wait for space on a full disk
//	custream_state_disk_full_waits_total    times writes began to wait for space
func (db *DB) Collector() prometheus.Collector { return pebbleCollector{db} }

type pebbleCollector struct{ db *DB }

var (
	descCompactions = prometheus.NewDesc("custream_pebble_compactions_total", "Pebble compactions finished.", nil, nil)
	descFlushes     = prometheus.NewDesc("custream_pebble_flushes_total", "Pebble memtable flushes finished.", nil, nil)
	descReadAmp     = prometheus.NewDesc("custream_pebble_read_amplification", "Sstables a point read may consult: L0 sublevels plus non-empty levels.", nil, nil)
	descCacheHits   = prometheus.NewDesc("custream_pebble_block_cache_hits_total", "Pebble block cache hits.", nil, nil)
	descCacheMisses = prometheus.NewDesc("custream_pebble_block_cache_misses_total", "Pebble block cache misses.", nil, nil)
	descCacheBytes  = prometheus.NewDesc("custream_pebble_block_cache_bytes", "Bytes held by the Pebble block cache.", nil, nil)
	descDiskBytes   = prometheus.NewDesc("custream_pebble_disk_bytes", "Bytes of every file of the Pebble store.", nil, nil)
	descDiskFull    = prometheus.NewDesc("custream_state_disk_full", "1 while state writes wait for space on a full disk (processing is stopped), else 0.", nil, nil)
	descDiskWaits   = prometheus.NewDesc("custream_state_disk_full_waits_total", "Times state writes began to wait for space on a full disk.", nil, nil)
)

func (pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCompactions, descFlushes, descReadAmp, descCacheHits, descCacheMisses, descCacheBytes, descDiskBytes, descDiskFull, descDiskWaits} {
		ch <- d
	}
}

func (c pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.pdb.Metrics()
	ch <- prometheus.MustNewConstMetric(descCompactions, prometheus.CounterValue, float64(m.Compact.Count))
	ch <- prometheus.MustNewConstMetric(descFlushes, prometheus.CounterValue, float64(m.Flush.Count))
	ch <- prometheus.MustNewConstMetric(descReadAmp, prometheus.GaugeValue, float64(m.ReadAmp()))
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(m.BlockCache.Hits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(m.BlockCache.Misses))
	ch <- prometheus.MustNewConstMetric(descCacheBytes, prometheus.GaugeValue, float64(m.BlockCache.Size))
	ch <- prometheus.MustNewConstMetric(descDiskBytes, prometheus.GaugeValue, float64(m.DiskSpaceUsage()))
	w := c.db.disk
	w.mu.Lock()
	full, episodes := w.waiting > 0, w.episodes
	w.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descDiskFull, prometheus.GaugeValue, map[bool]float64{true: 1}[full])
	ch <- prometheus.MustNewConstMetric(descDiskWaits, prometheus.CounterValue, float64(episodes))
}
