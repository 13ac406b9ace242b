package ingest

import (
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// balances are the rows of a balance file, sent to the points topic keyed
// by their org. Their request ids are not the file's but the figures'
// (schemas.BalanceRequestID, or the row's requestId), so results are
// matched through the ids that were sent: one entry per row sent, the
// only memory a load keeps per row besides its result.
type balances struct {
	cfg *Config

	mu    sync.Mutex
	lines map[sentID]int // the line each request id was sent from
	// byLine is lines inverted, built by requestID the first time a line
	// got no result.
	byLine map[int]string
}

// sentID is a request id of one org: the processor keeps request ids per
// org, and two orgs may send the same figure's.
type sentID struct {
	org int64
	id  string
}

func newBalances(cfg *Config) *balances {
	return &balances{cfg: cfg, lines: map[sentID]int{}}
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
	id := sentID{cmd.Org, cmd.RequestID}
	b.mu.Lock()
	first, seen := b.lines[id]
	if !seen {
		b.lines[id] = row.Line
	}
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
	line, ok := b.lines[sentID{res.Org, res.RequestID}]
	return line, ok
}

func (b *balances) requestID(line int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byLine == nil {
		b.byLine = make(map[int]string, len(b.lines))
		for id, l := range b.lines {
			b.byLine[l] = id.id
		}
	}
	return b.byLine[line]
}
