package ingest

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// balances are the rows of a balance file, sent to the points topic keyed
// by their org. Their request ids are not the file's but the figures'
// (schemas.BalanceRequestID, or the row's requestId), so results are
// matched through the ids that were sent: one entry per row sent, the
// only memory a balance load keeps per row.
type balances struct {
	cfg *Config

	mu sync.Mutex
	// figures holds the request ids of the form BalanceRequestID writes
	// (nearly all) as numbers: a key of fixed size without pointers, which
	// the garbage collector need not scan (84 MB for 1M rows, measured).
	// others holds any other request id (a row's own).
	figures map[figure]int
	others  map[sentID]int
}

// figure is the request id points-<customer>-<program>-<version> of an org.
type figure struct{ org, customer, program, version int64 }

// sentID is any other request id of an org. Both keys carry the org: the
// processor keeps request ids per org, and two orgs may send the same
// figure's.
type sentID struct {
	org int64
	id  string
}

func newBalances(cfg *Config) *balances {
	return &balances{cfg: cfg, figures: map[figure]int{}, others: map[sentID]int{}}
}

// figureOf reads a request id written by schemas.BalanceRequestID. An id
// that only resembles one (a leading zero, a sign) is not, so that each id
// has one key.
func figureOf(org int64, rid string) (figure, bool) {
	parts := strings.Split(strings.TrimPrefix(rid, "points-"), "-")
	if len(parts) != 3 || !strings.HasPrefix(rid, "points-") {
		return figure{}, false
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return figure{}, false
		}
		n[i] = v
	}
	if schemas.BalanceRequestID(n[0], n[1], n[2]) != rid {
		return figure{}, false
	}
	return figure{org, n[0], n[1], n[2]}, true
}

// remember records that request id rid of org is sent from line, unless
// it was sent before: then it returns the earlier line and true. Call with
// b.mu held.
func (b *balances) remember(org int64, rid string, line int) (int, bool) {
	if f, ok := figureOf(org, rid); ok {
		if first, seen := b.figures[f]; seen {
			return first, true
		}
		b.figures[f] = line
		return 0, false
	}
	id := sentID{org, rid}
	if first, seen := b.others[id]; seen {
		return first, true
	}
	b.others[id] = line
	return 0, false
}

func (b *balances) parse(r io.Reader, fn func(Row) error) error {
	return ParseBalances(r, b.cfg.Format, b.cfg.Org, fn)
}

// record sends a good row in the JSON form schemas.EncodeBalanceJSON
// writes, not the line as the file has it: what goes out is exactly what
// was checked, CSV rows and JSONL lines alike, with the request id spelt
// out (so the result names the id the load waits for), the version
// resolved from asOf, and no org (the record key carries it).
func (b *balances) record(row Row) (*kgo.Record, *Reject, error) {
	if row.Err != nil {
		return nil, &Reject{Line: row.Line, Code: CodeBadLine, Message: row.Err.Error()}, nil
	}
	cmd := row.Cmd
	b.mu.Lock()
	first, seen := b.remember(cmd.Org, cmd.RequestID, row.Line)
	b.mu.Unlock()
	if seen {
		// The processor would answer it with line first's result and
		// apply nothing: say so here rather than count a duplicate.
		return nil, &Reject{Line: row.Line, RequestID: cmd.RequestID, Code: CodeBadLine,
			Message: fmt.Sprintf("the same request id as line %d (customer %d, program %d, version %d, org %d): a figure is loaded once; give a newer version",
				first, cmd.CustomerID, cmd.Balance.ProgramID, cmd.Balance.Version, cmd.Org)}, nil
	}
	value, err := schemas.EncodeBalanceJSON(cmd)
	if err != nil {
		return nil, nil, err
	}
	return &kgo.Record{Topic: b.cfg.Topic, Key: strconv.AppendInt(nil, cmd.Org, 10), Value: value}, nil, nil
}

func (b *balances) lineOf(res customer.Result) (int, bool) {
	if res.Op != customer.OpPoints {
		return 0, false // a command's result with an id like a balance's
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := figureOf(res.Org, res.RequestID); ok {
		line, ok := b.figures[f]
		return line, ok
	}
	line, ok := b.others[sentID{res.Org, res.RequestID}]
	return line, ok
}

// requestIDs goes over every row sent once: it runs only for lines that
// got no result.
func (b *balances) requestIDs(lines []int) []string {
	if len(lines) == 0 {
		return nil
	}
	at := make(map[int]int, len(lines))
	for i, l := range lines {
		at[l] = i
	}
	out := make([]string, len(lines))
	b.mu.Lock()
	defer b.mu.Unlock()
	for f, l := range b.figures {
		if i, ok := at[l]; ok {
			out[i] = schemas.BalanceRequestID(f.customer, f.program, f.version)
		}
	}
	for id, l := range b.others {
		if i, ok := at[l]; ok {
			out[i] = id.id
		}
	}
	return out
}
