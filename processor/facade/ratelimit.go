package facade

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Rate requests per second on average, Burst at
// once. A zero Rate means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// maxBuckets bounds each limiter's memory: past it, idle buckets are
// dropped, and if none is idle, new callers share one overflow bucket
// (so a flood of fresh addresses cannot grow the map, nor escape the
// limit).
const maxBuckets = 10000

// limiter holds one token bucket per caller (API key or client address).
type limiter struct {
	limit Limit
	// idle is how long an untouched bucket takes to fill up again: one
	// idle that long is the same as a new one, so dropping it is lossless.
	idle time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	overflow  *rate.Limiter
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiter(l Limit) *limiter {
	if l.Rate <= 0 {
		return nil
	}
	l.Burst = max(l.Burst, 1)
	idle := time.Duration(float64(l.Burst) / l.Rate * float64(time.Second))
	return &limiter{
		limit:    l,
		idle:     max(idle, time.Second),
		buckets:  map[string]*bucket{},
		overflow: rate.NewLimiter(rate.Limit(l.Rate), l.Burst),
	}
}

// allow takes a token of who's bucket at now, or says how long until
// one is there. A nil limiter allows everything.
func (l *limiter) allow(who string, now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle {
		l.sweep(now)
	}
	lim := l.overflow
	if b, found := l.buckets[who]; found {
		b.last, lim = now, b.lim
	} else {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		if len(l.buckets) < maxBuckets {
			b := &bucket{lim: rate.NewLimiter(rate.Limit(l.limit.Rate), l.limit.Burst), last: now}
			l.buckets[who] = b
			lim = b.lim
		}
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweep drops the buckets idle long enough to be full again.
func (l *limiter) sweep(now time.Time) {
	for who, b := range l.buckets {
		if now.Sub(b.last) >= l.idle {
			delete(l.buckets, who)
		}
	}
	l.lastSweep = now
}

// size is the number of buckets held (for tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// clientOf is the bucket name of a request's client: its IP address, or
// for IPv6 its /64 (one host usually holds a whole /64, so per-address
// buckets would not limit it). The peer's address is used, never a
// header: X-Forwarded-For is whatever the client wants it to be.
func clientOf(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
