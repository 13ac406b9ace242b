package customer

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// ErrBadCommand is returned (wrapped) by Apply for a command the decoder
// should never have let through: an unknown op or a missing body. The
// processor sends such records to the DLQ; they are not rule violations.
var ErrBadCommand = errors.New("malformed command")

// Outcome is everything one command produces.
type Outcome struct {
	// Result goes to customers.results.
	Result Result
	// Merges go to customers.merges, one per victim merged away.
	Merges []Merge
	// Changed lists, in increasing order, the customers whose stored
	// document changed; each needs a new customers.snapshots record.
	Changed []int64
}

// plan is what a rule decided: the documents to write, in order, and what
// to report. Rules build a plan by reading only; Apply checks the documents
// against the limits (growthIssue) and writes them.
type plan struct {
	puts []*Customer
	// before holds the stored version of each of puts (nil for a new
	// customer), for the limits: a document may not grow past one.
	before []*Customer
	// newID: puts[0] is a new customer without an id yet; Apply allocates
	// it (and sets createdID) once the limits pass, so a refused register
	// leaves the allocator alone.
	newID     bool
	merges    []Merge
	createdID int64
	warnings  []Issue
	subs      []Subscription
}

// Apply runs one command's rules against st. Rule violations come back as a
// Result with Errors and change nothing; every check runs before the first
// write, so a command is applied whole or not at all. The last check is
// that no document the command writes grows past the limits of limits.go
// (8905), and a result lists at most MaxIssues errors. The error return is
// for store failures (the caller then discards the batch) and for
// ErrBadCommand: a command the decoder should not have let through (no
// body for its op, or a request id CheckRequestID refuses).
func Apply(cfg Config, st Store, cmd Command) (Outcome, error) {
	if err := CheckRequestID(cmd.RequestID); err != nil {
		return Outcome{}, fmt.Errorf("command of org %d: %w: %w", cmd.Org, err, ErrBadCommand)
	}
	var p plan
	var errs []Issue
	var err error
	switch {
	case cmd.Op == OpRegister && cmd.Register != nil:
		p, errs, err = register(cfg, st, cmd)
	case cmd.Op == OpUpdate && cmd.Update != nil:
		p, errs, err = update(cfg, st, cmd)
	case cmd.Op == OpChangeIdentifier && cmd.ChangeIdentifier != nil:
		p, errs, err = changeIdentifier(cfg, st, cmd)
	case cmd.Op == OpSubscriptions && cmd.Subscriptions != nil:
		p, errs, err = subscriptions(cfg, st, cmd)
	case cmd.Op == OpPoints && cmd.Balance != nil:
		if err := CheckBalance(cmd.Balance); err != nil {
			return Outcome{}, fmt.Errorf("balance %q of org %d: %w: %w", cmd.RequestID, cmd.Org, err, ErrBadCommand)
		}
		p, errs, err = points(cfg, st, cmd)
	default:
		return Outcome{}, fmt.Errorf("command %q: op %s without its body: %w", cmd.RequestID, echo(string(cmd.Op)), ErrBadCommand)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("%s %q of org %d: %w", cmd.Op, cmd.RequestID, cmd.Org, err)
	}
	res := Result{
		RequestID: cmd.RequestID,
		Org:       cmd.Org,
		// The scope is echoed as sent, cut like a quoted value when it is
		// absurdly long (the rules refused it then: 8011, 8012).
		Source:    clip(cmd.Source, MaxAccountIDLen),
		AccountID: clip(cmd.AccountID, MaxAccountIDLen),
		Op:        cmd.Op,
	}
	if len(errs) == 0 {
		for i, c := range p.puts {
			var before *Customer
			if i < len(p.before) {
				before = p.before[i]
			}
			if iss := growthIssue(before, c); iss != nil {
				errs = append(errs, *iss)
				break
			}
		}
	}
	if len(errs) > 0 {
		res.Errors = capIssues(errs)
		return Outcome{Result: res}, nil
	}
	if p.newID {
		id, err := st.NextID()
		if err != nil {
			return Outcome{}, fmt.Errorf("%s %q of org %d: allocating a customer id: %w", cmd.Op, cmd.RequestID, cmd.Org, err)
		}
		p.puts[0].ID, p.createdID = id, id
	}
	for _, c := range p.puts {
		// Order matters: a victim's tombstone is written before its
		// survivor, so the store's removal of the victim's index entries
		// cannot remove the survivor's new entries under the same keys.
		if err := st.PutCustomer(c); err != nil {
			return Outcome{}, fmt.Errorf("%s %q of org %d: writing customer %d: %w", cmd.Op, cmd.RequestID, cmd.Org, c.ID, err)
		}
	}
	res.Success = true
	res.CreatedID = p.createdID
	res.Warnings = p.warnings
	res.Subscriptions = p.subs
	out := Outcome{Result: res, Merges: p.merges}
	// A plan writes one or two documents: sorting and compacting their ids
	// is cheaper than a set. Changed stays nil when nothing was written.
	if len(p.puts) > 0 {
		out.Changed = make([]int64, 0, len(p.puts))
		for _, c := range p.puts {
			out.Changed = append(out.Changed, c.ID)
		}
		slices.Sort(out.Changed)
		out.Changed = slices.Compact(out.Changed)
	}
	return out, nil
}

// fail is a plan-less failure of one issue.
func fail(iss Issue) (plan, []Issue, error) { return plan{}, []Issue{iss}, nil }

// loadCustomer reads customer id of org. A customer of another org is
// reported exactly like one that does not exist (8009).
func loadCustomer(r Reader, org, id int64) (*Customer, *Issue, error) {
	c, ok, err := r.Customer(id)
	if err != nil {
		return nil, nil, fmt.Errorf("reading customer %d: %w", id, err)
	}
	if !ok || c.Org != org || id <= 0 {
		iss := Issuef(CodeNoSuchCustomer, "No customer found with the given id %d", id)
		return nil, &iss, nil
	}
	return c, nil, nil
}

// survivor follows the mergedInto chain from id to the live customer.
// Merges never chain in the rules (a victim's identifiers move to the
// survivor, and merging into a merged-away customer is refused), but the
// loop keeps reads right if one ever did.
func survivor(r Reader, id int64) (int64, error) {
	for range 64 {
		c, ok, err := r.Customer(id)
		if err != nil {
			return 0, fmt.Errorf("reading customer %d: %w", id, err)
		}
		if !ok || c.MergedInto == 0 {
			return id, nil
		}
		id = c.MergedInto
	}
	return 0, fmt.Errorf("customer %d: mergedInto chain longer than 64", id)
}

// mergedAway is the 8069 issue for customer c, naming its survivor.
func mergedAway(r Reader, c *Customer) (Issue, error) {
	s, err := survivor(r, c.ID)
	if err != nil {
		return Issue{}, err
	}
	return Issuef(CodeMergedAway, "The customer is merged into another account: customer %d is merged into user id %d", c.ID, s), nil
}

// profileIn returns the index of c's profile in scope sc, or -1.
func profileIn(c *Customer, sc scope) int {
	for i, p := range c.Profiles {
		if p.Source == sc.Source && p.AccountID == sc.AccountID {
			return i
		}
	}
	return -1
}

// addProfile inserts p keeping Profiles sorted by (Source, AccountID), and
// returns its index.
func addProfile(c *Customer, p Profile) int {
	i := sort.Search(len(c.Profiles), func(i int) bool {
		q := c.Profiles[i]
		return q.Source > p.Source || (q.Source == p.Source && q.AccountID >= p.AccountID)
	})
	c.Profiles = append(c.Profiles, Profile{})
	copy(c.Profiles[i+1:], c.Profiles[i:])
	c.Profiles[i] = p
	return i
}

// newProfile is a profile of scope sc made from a body, without identifiers.
// It takes in's fields and channels without copying them (see input).
func newProfile(sc scope, in input, created, now time.Time) Profile {
	return Profile{
		Source:       sc.Source,
		AccountID:    sc.AccountID,
		FirstName:    in.FirstName,
		LastName:     in.LastName,
		Fields:       in.Fields,
		CommChannels: in.Channels,
		CreateDate:   created,
		ModifiedDate: now,
	}
}

// holds reports whether ids contains id (same type and key).
func holds(ids []Identifier, id Identifier) bool {
	for _, x := range ids {
		if x.Type == id.Type && x.Key() == id.Key() {
			return true
		}
	}
	return false
}

// countIdentifiers counts the identifiers c holds over all its profiles (0
// for nil).
func countIdentifiers(c *Customer) int {
	if c == nil {
		return 0
	}
	n := 0
	for _, p := range c.Profiles {
		n += len(p.Identifiers)
	}
	return n
}

// fillChannels appends the channels of add that p lacks (by type and value).
func fillChannels(p *Profile, add []CommChannel) {
	have := map[chanKey]bool{}
	for _, ch := range p.CommChannels {
		have[channelKey(ch)] = true
	}
	for _, ch := range add {
		if !have[channelKey(ch)] {
			have[channelKey(ch)] = true
			p.CommChannels = append(p.CommChannels, ch)
		}
	}
}

// fillMap sets the keys of add that dst lacks; dst's values win.
func fillMap(dst *map[string]string, add map[string]string) {
	if *dst == nil {
		*dst = map[string]string{}
	}
	for k, v := range add {
		if _, ok := (*dst)[k]; !ok {
			(*dst)[k] = v
		}
	}
}
