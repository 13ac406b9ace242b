package processor

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// idleClock measures, per task, the time this member held the task without
// processing it: from its assignment (or the rewind that sent it back to
// restore) until the loop starts processing it, or until it is revoked.
// That is its restore plus any wait behind other work; it feeds
// custream_task_not_processing_seconds_total. Its methods are called with
// Processor.mu held.
type idleClock struct {
	since   map[int32]time.Time
	seconds *prometheus.CounterVec
}

func newIdleClock(seconds *prometheus.CounterVec) *idleClock {
	return &idleClock{since: map[int32]time.Time{}, seconds: seconds}
}

// stop says task is held but not processing from now on; a task already
// stopped keeps its earlier start.
func (c *idleClock) stop(task int32) {
	if _, ok := c.since[task]; !ok {
		c.since[task] = time.Now()
	}
}

// run says task processes (or is no longer ours) from now on, and counts
// the time it did not.
func (c *idleClock) run(task int32) {
	if at, ok := c.since[task]; ok {
		c.seconds.WithLabelValues(strconv.Itoa(int(task))).Add(time.Since(at).Seconds())
		delete(c.since, task)
	}
}
