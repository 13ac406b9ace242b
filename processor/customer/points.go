package customer

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Balances come from the loyalty engine, a separate upstream system that
// owns transactions, redemptions and tier evaluation. custream keeps the
// last figure it published per (customer, program) and shows it in the
// API's loyalty shapes; it computes no points itself. DOMAIN.md's choices
// for the questions the API doc leaves open (docs/points.md has them for
// users):
//
//   - Last writer by Version wins per (customer, program). A balance whose
//     version is not above the stored one is refused (8908) and changes
//     nothing, so redelivery and reordering are harmless.
//   - A balance for a customer that does not exist is refused (8009), not
//     kept for later: custream hands out customer ids, so an id it has not
//     handed out belongs to nobody yet, and keeping its balance would give
//     the points to whoever gets the id next. A non-loyalty customer's
//     balance is refused too (8089).
//   - When V merges into S, per program the additive counters are summed
//     and S keeps its slab (tier, expiry, loyalty id) unless it has none.
//     S's version stays its own, so the engine's next figure for S wins; a
//     balance S did not have comes with version 0 (any figure for S wins).
//     V's tombstone keeps V's balances, so a later balance for V moves S by
//     its difference from V's last one (8909 says where it went).
//   - A balance for S replaces S's figure whole: custream takes the engine's
//     figure for S as the whole of S, including what it folded in from V.

// Balance is one customer's standing in one loyalty program, as the loyalty
// engine last published it: loyaltyDetails' fields (ProgramDetails) plus
// the version that orders the engine's figures.
type Balance struct {
	ProgramID int64
	// Version orders the engine's figures of one (customer, program): a
	// counter or a time in milliseconds, always increasing. 0 marks a
	// balance made by merges only, which any published figure replaces.
	Version int64
	// LoyaltyID is the engine's id of the membership; 0 shows the
	// customer's id, as before balances existed.
	LoyaltyID int64
	// The additive counters: a merge sums them.
	LoyaltyPoints       float64
	LifetimePoints      float64
	Redeemed            float64
	Expired             float64
	Returned            float64
	Adjusted            float64
	CumulativePurchases float64
	// The slab (tier): a merge keeps the survivor's.
	CurrentSlab          string
	SlabSNo              int64
	SlabExpiryDate       string // as the engine wrote it (RFC 3339 with its offset, as the API doc shows)
	NextSlab             string
	NextSlabSerialNumber int64
	NextSlabDescription  string
}

// counters returns pointers to b's additive counters, in a fixed order.
func (b *Balance) counters() [7]*float64 {
	return [7]*float64{&b.LoyaltyPoints, &b.LifetimePoints, &b.Redeemed, &b.Expired, &b.Returned, &b.Adjusted, &b.CumulativePurchases}
}

// hasSlab reports whether b names a tier.
func (b *Balance) hasSlab() bool { return b.CurrentSlab != "" }

// takeSlab copies from's slab (and loyalty id) into b.
func (b *Balance) takeSlab(from *Balance) {
	b.CurrentSlab, b.SlabSNo, b.SlabExpiryDate = from.CurrentSlab, from.SlabSNo, from.SlabExpiryDate
	b.NextSlab, b.NextSlabSerialNumber, b.NextSlabDescription = from.NextSlab, from.NextSlabSerialNumber, from.NextSlabDescription
	if b.LoyaltyID == 0 {
		b.LoyaltyID = from.LoyaltyID
	}
}

// add adds sign×from's counters to b's.
func (b *Balance) add(from *Balance, sign float64) {
	to, add := b.counters(), from.counters()
	for i := range to {
		*to[i] += sign * *add[i]
	}
}

// ErrBadBalance is returned (wrapped) by CheckBalance.
var ErrBadBalance = errors.New("invalid balance")

// Bounds of a balance's fields. A counter beyond MaxPointsValue is a
// corrupt figure, not a balance (and past 2^53 a float64 no longer counts
// by ones).
const (
	MaxPointsValue = 1e15
	MaxSlabTextLen = MaxNameLen
	// MaxProgramsPerCustomer is the most programs a customer has balances
	// in; a balance for one more is refused (8903).
	MaxProgramsPerCustomer = 32
)

// CheckBalance reports why b cannot be a balance: a program id or version
// that is not positive, a counter that is not a finite number within
// ±MaxPointsValue, or slab text that is too long or has control
// characters. The decoder calls it, so such a record goes to the DLQ; Apply
// calls it again and refuses the command with ErrBadCommand.
func CheckBalance(b *Balance) error {
	switch {
	case b.ProgramID <= 0:
		return fmt.Errorf("%w: programId %d, want a positive id", ErrBadBalance, b.ProgramID)
	case b.Version <= 0:
		return fmt.Errorf("%w: version %d, want a positive, increasing number", ErrBadBalance, b.Version)
	case b.LoyaltyID < 0:
		return fmt.Errorf("%w: loyaltyId %d is negative", ErrBadBalance, b.LoyaltyID)
	}
	names := [7]string{"loyaltyPoints", "lifetimePoints", "redeemed", "expired", "returned", "adjusted", "cumulativePurchases"}
	for i, v := range b.counters() {
		if math.IsNaN(*v) || math.IsInf(*v, 0) || math.Abs(*v) > MaxPointsValue {
			return fmt.Errorf("%w: %s %v, want a finite number within ±%g", ErrBadBalance, names[i], *v, MaxPointsValue)
		}
	}
	for _, t := range [4]struct{ name, v string }{
		{"currentSlab", b.CurrentSlab}, {"slabExpiryDate", b.SlabExpiryDate}, {"nextSlab", b.NextSlab}, {"nextSlabDescription", b.NextSlabDescription},
	} {
		if why := textProblem(t.v, MaxSlabTextLen); why != "" {
			return fmt.Errorf("%w: %s %s %s", ErrBadBalance, t.name, echo(t.v), why)
		}
	}
	return nil
}

// pointsOf returns the index of c's balance in program, or -1.
func pointsOf(c *Customer, program int64) int {
	i, ok := slices.BinarySearchFunc(c.Points, program, func(b Balance, p int64) int {
		switch {
		case b.ProgramID < p:
			return -1
		case b.ProgramID > p:
			return 1
		}
		return 0
	})
	if !ok {
		return -1
	}
	return i
}

// setPoints stores b as c's balance in b's program, keeping Points sorted.
func setPoints(c *Customer, b Balance) {
	if i := pointsOf(c, b.ProgramID); i >= 0 {
		c.Points[i] = b
		return
	}
	i, _ := slices.BinarySearchFunc(c.Points, b.ProgramID, func(x Balance, p int64) int {
		if x.ProgramID < p {
			return -1
		}
		return 1
	})
	c.Points = slices.Insert(c.Points, i, b)
}

// points applies one balance: to its customer, or, when that customer was
// merged away, to its survivor by the difference from the customer's last
// balance in the program.
func points(cfg Config, st Store, cmd Command) (plan, []Issue, error) {
	b := *cmd.Balance
	target, iss, err := loadCustomer(st, cmd.Org, cmd.CustomerID)
	if err != nil || iss != nil {
		return plan{}, issues(iss), err
	}
	if target.MergedInto == 0 {
		if iss := acceptsPoints(target, b.ProgramID); iss != nil {
			return fail(*iss)
		}
		if i := pointsOf(target, b.ProgramID); i >= 0 && target.Points[i].Version >= b.Version {
			return fail(stale(target.ID, &b, target.Points[i].Version))
		}
		c := target.Clone()
		setPoints(c, b)
		return plan{puts: []*Customer{c}, before: []*Customer{target}, createdID: c.ID}, nil, nil
	}

	// A balance for a merged-away customer: its tombstone keeps its last
	// balance per program, and the survivor carries that balance inside
	// its own (merged in by mergePoints, or by an earlier difference).
	var last Balance
	if i := pointsOf(target, b.ProgramID); i >= 0 {
		last = target.Points[i]
		if last.Version >= b.Version {
			return fail(stale(target.ID, &b, last.Version))
		}
	}
	sid, err := survivor(st, target.ID)
	if err != nil {
		return plan{}, nil, err
	}
	orig, iss, err := loadCustomer(st, cmd.Org, sid)
	if err != nil || iss != nil {
		return plan{}, issues(iss), err
	}
	if iss := acceptsPoints(orig, b.ProgramID); iss != nil {
		return fail(*iss)
	}
	s := orig.Clone()
	if i := pointsOf(s, b.ProgramID); i >= 0 {
		sb := &s.Points[i]
		sb.add(&b, 1)
		sb.add(&last, -1)
		if sb.Version == 0 {
			// S has no figure of its own in the program: its slab is the
			// merged-away customers', and the latest of theirs is this.
			sb.takeSlab(&b)
		}
	} else {
		nb := b
		nb.Version = 0
		nb.add(&last, -1)
		setPoints(s, nb)
	}
	tomb := target.Clone()
	setPoints(tomb, b)
	w := Issuef(CodePointsRedirected, "%s: customer %d is merged into user id %d; its balance in program %d changed the survivor's by the difference from its last one",
		CodePointsRedirected.Message(), target.ID, s.ID, b.ProgramID)
	return plan{
		puts:      []*Customer{tomb, s}, // tombstone first: see Apply
		before:    []*Customer{target, orig},
		createdID: s.ID,
		warnings:  []Issue{w},
	}, nil, nil
}

// acceptsPoints is why c cannot take a balance in program: it is not a
// loyalty customer (8089), or it has balances in as many programs as a
// customer may (8903).
func acceptsPoints(c *Customer, program int64) *Issue {
	if c.LoyaltyType != Loyalty {
		iss := notInProgram(c.ID, program)
		return &iss
	}
	if pointsOf(c, program) < 0 && len(c.Points) >= MaxProgramsPerCustomer {
		iss := Issuef(CodeTooMany, "%s: customer %d has balances in %d programs, at most %d", CodeTooMany.Message(), c.ID, len(c.Points), MaxProgramsPerCustomer)
		return &iss
	}
	return nil
}

func stale(id int64, b *Balance, have int64) Issue {
	return Issuef(CodeStaleBalance, "%s: customer %d, program %d: version %d is not newer than the stored version %d",
		CodeStaleBalance.Message(), id, b.ProgramID, b.Version, have)
}

func issues(iss *Issue) []Issue {
	if iss == nil {
		return nil
	}
	return []Issue{*iss}
}

// mergePoints moves v's balances into s: per program the additive counters
// are summed and s keeps its slab unless it has none; a program s has no
// balance in gets v's, with version 0 (s has no figure of its own there).
// s's versions stay its own. The cap on programs does not apply: a merge
// must not lose a balance.
func mergePoints(s, v *Customer) {
	for _, vb := range v.Points {
		i := pointsOf(s, vb.ProgramID)
		if i < 0 {
			nb := vb
			nb.Version = 0
			setPoints(s, nb)
			continue
		}
		sb := &s.Points[i]
		sb.add(&vb, 1)
		if !sb.hasSlab() {
			sb.takeSlab(&vb)
		}
	}
}
