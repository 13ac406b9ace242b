package schemas

import (
	"container/list"
	"time"
)

// The negative cache of the Confluent form: schema ids the registry does
// not know, or whose schema custream cannot use, are answered from memory
// until their retry time, so a topic full of such records does not turn
// into one registry request per record. Ids that could not be asked (the
// registry down) are never remembered: that is retried with the batch.
const (
	// negativeCacheSize bounds the ids remembered; the least recently
	// used goes first.
	negativeCacheSize = 1024
	// retryUnknownSchema: an id the registry does not know may be
	// registered later (a producer ahead of its schema), so ask again
	// after a minute.
	retryUnknownSchema = time.Minute
	// retryUnusableSchema: a schema under an id never changes, so one we
	// cannot use stays unusable; asked again hourly only so that the
	// cache forgets what it no longer sees.
	retryUnusableSchema = time.Hour
)

// negativeCache is a bounded LRU of refused schema ids with their error
// and retry time. Not safe for concurrent use: Confluent holds its lock.
type negativeCache struct {
	max  int
	byID map[int]*list.Element
	lru  list.List // of *negativeEntry, most recently used first
}

type negativeEntry struct {
	id    int
	until time.Time
	err   *Error
}

func newNegativeCache(size int) *negativeCache {
	return &negativeCache{max: size, byID: map[int]*list.Element{}}
}

// get returns the error remembered for id, or nil if none is remembered
// or its retry time has come (the entry is then dropped).
func (c *negativeCache) get(id int, now time.Time) *Error {
	el, ok := c.byID[id]
	if !ok {
		return nil
	}
	e := el.Value.(*negativeEntry)
	if !now.Before(e.until) {
		c.lru.Remove(el)
		delete(c.byID, id)
		return nil
	}
	c.lru.MoveToFront(el)
	return e.err
}

// put remembers err for id until until, evicting the least recently used
// id beyond the bound.
func (c *negativeCache) put(id int, until time.Time, err *Error) {
	if el, ok := c.byID[id]; ok {
		el.Value = &negativeEntry{id, until, err}
		c.lru.MoveToFront(el)
		return
	}
	c.byID[id] = c.lru.PushFront(&negativeEntry{id, until, err})
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.byID, last.Value.(*negativeEntry).id)
	}
}

// len is the number of ids remembered.
func (c *negativeCache) len() int { return c.lru.Len() }
