package ingest

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress shows how one phase of a load advances: a bar redrawn in place
// on a terminal, or a plain line every few seconds otherwise (logs and CI
// keep every line, so a redrawn bar would be noise there). A nil *Progress
// shows nothing.
type Progress struct {
	w        io.Writer
	terminal bool
	every    time.Duration

	mu    sync.Mutex // serialises phases
	phase string
	total int64
	start time.Time
	done  atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

// NewProgress returns a Progress writing to w; terminal chooses the bar.
func NewProgress(w io.Writer, terminal bool) *Progress {
	every := 5 * time.Second
	if terminal {
		every = 250 * time.Millisecond
	}
	return &Progress{w: w, terminal: terminal, every: every}
}

// Start begins a phase of total units (an estimate is fine: the bar stops
// at 100%). It ends the previous phase, if any.
func (p *Progress) Start(phase string, total int) {
	if p == nil {
		return
	}
	p.Finish()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.total, p.start = phase, int64(total), time.Now()
	p.done.Store(0)
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.loop(p.stop)
}

// Add records n more units done. Safe for concurrent use.
func (p *Progress) Add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

// Set records that n units are done.
func (p *Progress) Set(n int) {
	if p != nil {
		p.done.Store(int64(n))
	}
}

// Finish ends the phase with a last line.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.stop = nil
	p.render(true)
}

func (p *Progress) loop(stop chan struct{}) {
	defer p.wg.Done()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.render(false)
		}
	}
}

// render draws the current state; only loop and Finish call it, never at
// the same time (Finish waits for loop to end first).
func (p *Progress) render(final bool) {
	done, total := p.done.Load(), p.total
	if done > total {
		total = done
	}
	elapsed := time.Since(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	if !p.terminal {
		fmt.Fprintf(p.w, "%s: %d/%d (%.0f%%) %.0f records/s, eta %s\n", p.phase, done, total, pct, rate, eta)
		return
	}
	const width = 30
	fill := int(pct / 100 * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	end := ""
	if final {
		end = "\n"
	}
	// \r and the erase-line sequence redraw the bar in place.
	fmt.Fprintf(p.w, "\r\033[K%-18s [%s] %3.0f%% %d/%d %.0f rec/s ETA %s%s", p.phase, bar, pct, done, total, rate, eta, end)
}
