package customer_test

import (
	"reflect"
	"testing"

	"github.com/custream/custream/processor/customer"
)

// bal is a balance command for customer cid.
func bal(org, cid int64, b customer.Balance) customer.Command {
	return customer.Command{Org: org, Op: customer.OpPoints, CustomerID: cid, Time: t0, Balance: &b}
}

// stored is customer cid's stored balance in program, or the zero Balance.
func stored(st *store, cid, program int64) customer.Balance {
	for _, b := range st.get(cid).Points {
		if b.ProgramID == program {
			return b
		}
	}
	return customer.Balance{}
}

func TestPointsLastWriterByVersion(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	c := apply(t, cfg, st, reg(1, wc, "22232", m1)).Result.CreatedID

	b2 := customer.Balance{ProgramID: 1, Version: 2, LoyaltyPoints: 200, CurrentSlab: "Gold", SlabSNo: 2, NextSlabSerialNumber: 3}
	if out := apply(t, cfg, st, bal(1, c, b2)); !out.Result.Success || out.Result.CreatedID != c || !reflect.DeepEqual(out.Changed, []int64{c}) {
		t.Fatalf("first balance: %+v", out)
	}
	// Older and equal versions change nothing, whatever they say.
	for _, v := range []int64{1, 2} {
		out := apply(t, cfg, st, bal(1, c, customer.Balance{ProgramID: 1, Version: v, LoyaltyPoints: 999}))
		if out.Result.Success || !reflect.DeepEqual(codes(out.Result.Errors), []int{8908}) || out.Changed != nil {
			t.Fatalf("version %d after 2: %+v", v, out)
		}
	}
	if got := stored(st, c, 1); !reflect.DeepEqual(got, b2) {
		t.Fatalf("stored %+v, want %+v", got, b2)
	}
	b5 := customer.Balance{ProgramID: 1, Version: 5, LoyaltyPoints: 150}
	apply(t, cfg, st, bal(1, c, b5))
	if got := stored(st, c, 1); !reflect.DeepEqual(got, b5) {
		t.Fatalf("a newer version replaces the figure whole: %+v, want %+v", got, b5)
	}
	// Another program is another version line.
	apply(t, cfg, st, bal(1, c, customer.Balance{ProgramID: 7, Version: 1, LoyaltyPoints: 3}))
	if got := stored(st, c, 7); got.LoyaltyPoints != 3 {
		t.Fatalf("program 7: %+v", got)
	}
}

func TestPointsRefused(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	c := apply(t, cfg, st, reg(1, wc, "22232", m1)).Result.CreatedID
	nl := reg(1, in, "", e1)
	nl.Register.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: "non_loyalty"}
	n := apply(t, cfg, st, nl).Result.CreatedID
	ok := customer.Balance{ProgramID: 1, Version: 1}

	for name, tc := range map[string]struct {
		cmd  customer.Command
		code int
	}{
		"not registered yet": {bal(1, c+100, ok), 8009},
		"another org's":      {bal(2, c, ok), 8009},
		"non-loyalty":        {bal(1, n, ok), 8089},
	} {
		out := apply(t, cfg, st, tc.cmd)
		if out.Result.Success || !reflect.DeepEqual(codes(out.Result.Errors), []int{tc.code}) || out.Changed != nil {
			t.Errorf("%s: %+v, want error %d", name, out.Result, tc.code)
		}
	}
	// A balance refused before its customer existed is not kept for later.
	later := apply(t, cfg, st, reg(1, in, "", e2)).Result.CreatedID
	if got := st.get(later).Points; got != nil {
		t.Fatalf("customer registered after a refused balance has %+v", got)
	}

	for p := int64(1); p <= customer.MaxProgramsPerCustomer; p++ {
		if out := apply(t, cfg, st, bal(1, c, customer.Balance{ProgramID: p, Version: 1})); !out.Result.Success {
			t.Fatalf("program %d: %+v", p, out.Result)
		}
	}
	out := apply(t, cfg, st, bal(1, c, customer.Balance{ProgramID: 1000, Version: 1}))
	if !reflect.DeepEqual(codes(out.Result.Errors), []int{8903}) {
		t.Fatalf("one program too many: %+v", out.Result)
	}
	if out := apply(t, cfg, st, bal(1, c, customer.Balance{ProgramID: 1, Version: 2})); !out.Result.Success {
		t.Fatalf("a program it has is still updated: %+v", out.Result)
	}

	for _, b := range []customer.Balance{
		{ProgramID: 0, Version: 1},
		{ProgramID: 1, Version: 0},
		{ProgramID: 1, Version: 1, LoyaltyPoints: 2e15},
		{ProgramID: 1, Version: 1, CurrentSlab: "Gold\x00"},
		{ProgramID: 1, Version: 1, LoyaltyID: -1},
	} {
		if err := customer.CheckBalance(&b); err == nil {
			t.Errorf("CheckBalance(%+v) = nil", b)
		}
		if _, err := st.apply(cfg, bal(1, c, b)); err == nil {
			t.Errorf("Apply took %+v", b)
		}
	}
}

// TestPointsMerge merges V into S with balances on both sides, then sends
// late balances for V and the engine's own figure for S.
func TestPointsMerge(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	s := apply(t, cfg, st, reg(1, wc, "22232", m1)).Result.CreatedID
	v := apply(t, cfg, st, reg(1, in, "", e1)).Result.CreatedID
	apply(t, cfg, st, bal(1, s, customer.Balance{ProgramID: 1, Version: 5, LoyaltyPoints: 100, LifetimePoints: 400, Redeemed: 300, CumulativePurchases: 1000,
		CurrentSlab: "Gold", SlabSNo: 2, SlabExpiryDate: "2117-12-29T23:59:59+05:30", NextSlab: "Platinum", NextSlabSerialNumber: 3, NextSlabDescription: "Platinum tier", LoyaltyID: 52350728}))
	vp1 := customer.Balance{ProgramID: 1, Version: 9, LoyaltyPoints: 50, LifetimePoints: 60, Expired: 10, CumulativePurchases: 500, CurrentSlab: "Silver", SlabSNo: 1}
	vp2 := customer.Balance{ProgramID: 2, Version: 3, LoyaltyPoints: 10, Returned: 1.5, CumulativePurchases: 80, CurrentSlab: "Tier1", SlabSNo: 1, NextSlabSerialNumber: -1}
	apply(t, cfg, st, bal(1, v, vp1))
	apply(t, cfg, st, bal(1, v, vp2))

	out := apply(t, cfg, st, chg(1, v, mj, "", ids(m1), nil))
	if len(out.Merges) != 1 || !reflect.DeepEqual(out.Merges[0].Balances, []customer.Balance{vp1, vp2}) {
		t.Fatalf("merge notice should list V's balances: %+v", out.Merges)
	}
	p1 := stored(st, s, 1)
	want1 := customer.Balance{ProgramID: 1, Version: 5, LoyaltyPoints: 150, LifetimePoints: 460, Redeemed: 300, Expired: 10, CumulativePurchases: 1500,
		CurrentSlab: "Gold", SlabSNo: 2, SlabExpiryDate: "2117-12-29T23:59:59+05:30", NextSlab: "Platinum", NextSlabSerialNumber: 3, NextSlabDescription: "Platinum tier", LoyaltyID: 52350728}
	if !reflect.DeepEqual(p1, want1) {
		t.Fatalf("S's program 1 after the merge:\n got %+v\nwant %+v", p1, want1)
	}
	want2 := vp2
	want2.Version = 0
	if p2 := stored(st, s, 2); !reflect.DeepEqual(p2, want2) {
		t.Fatalf("S's program 2 (V's only): %+v, want %+v", p2, want2)
	}
	if got := st.get(v).Points; !reflect.DeepEqual(got, []customer.Balance{vp1, vp2}) {
		t.Fatalf("V's tombstone keeps V's balances: %+v", got)
	}
	// Views of S show the sums; V answers 8069.
	f := fetch(t, cfg, st, 1, customer.FetchRequest{ID: s, Source: "ALL", Embed: "points,mlp"})
	if f.PointsSummary.LoyaltyPoints != 150 || f.PointsSummary.CurrentSlab != "Gold" || len(f.LoyaltyProgramDetails) != 2 || f.LoyaltyInfo.LifetimePurchases != 1580 {
		t.Fatalf("fetch of S: %+v %+v %+v", f.PointsSummary, f.LoyaltyProgramDetails, f.LoyaltyInfo)
	}

	// A late balance for V moves S by the difference from V's last one;
	// S keeps its slab.
	late := customer.Balance{ProgramID: 1, Version: 10, LoyaltyPoints: 70, LifetimePoints: 80, Expired: 10, CumulativePurchases: 600, CurrentSlab: "Gold"}
	out = apply(t, cfg, st, bal(1, v, late))
	if !out.Result.Success || out.Result.CreatedID != s || !reflect.DeepEqual(codes(out.Result.Warnings), []int{8909}) || !reflect.DeepEqual(out.Changed, sortedIDs(s, v)) {
		t.Fatalf("late balance for V: %+v", out)
	}
	want1.LoyaltyPoints, want1.LifetimePoints, want1.CumulativePurchases = 170, 480, 1600
	if p1 := stored(st, s, 1); !reflect.DeepEqual(p1, want1) {
		t.Fatalf("S after V's late balance:\n got %+v\nwant %+v", p1, want1)
	}
	// In a program S had only through V, V's slab is S's.
	apply(t, cfg, st, bal(1, v, customer.Balance{ProgramID: 2, Version: 4, LoyaltyPoints: 15, CumulativePurchases: 90, CurrentSlab: "Tier2", SlabSNo: 2, NextSlabSerialNumber: -1}))
	if p2 := stored(st, s, 2); p2.LoyaltyPoints != 15 || p2.Returned != 0 || p2.CurrentSlab != "Tier2" || p2.Version != 0 {
		t.Fatalf("S's program 2 after V's late balance: %+v", p2)
	}
	// V's old versions are still stale; a program V never had starts from zero.
	if out := apply(t, cfg, st, bal(1, v, vp1)); !reflect.DeepEqual(codes(out.Result.Errors), []int{8908}) {
		t.Fatalf("V's old version again: %+v", out.Result)
	}
	apply(t, cfg, st, bal(1, v, customer.Balance{ProgramID: 3, Version: 1, LoyaltyPoints: 5}))
	if p3 := stored(st, s, 3); p3.LoyaltyPoints != 5 || p3.Version != 0 {
		t.Fatalf("S's program 3 from V's late balance: %+v", p3)
	}

	// The engine's own figure for S wins by version, whole: it has folded
	// V in itself.
	own := customer.Balance{ProgramID: 1, Version: 6, LoyaltyPoints: 1000, CurrentSlab: "Platinum", SlabSNo: 3}
	apply(t, cfg, st, bal(1, s, own))
	if p1 := stored(st, s, 1); !reflect.DeepEqual(p1, own) {
		t.Fatalf("S's own figure: %+v, want %+v", p1, own)
	}
	if out := apply(t, cfg, st, bal(1, s, customer.Balance{ProgramID: 1, Version: 5})); !reflect.DeepEqual(codes(out.Result.Errors), []int{8908}) {
		t.Fatalf("S's pre-merge version again: %+v", out.Result)
	}
	// Any figure for S beats a balance S has only through merges.
	apply(t, cfg, st, bal(1, s, customer.Balance{ProgramID: 2, Version: 1, LoyaltyPoints: 1}))
	if p2 := stored(st, s, 2); p2.LoyaltyPoints != 1 || p2.Version != 1 {
		t.Fatalf("S's first own figure in program 2: %+v", p2)
	}
}

func sortedIDs(a, b int64) []int64 { return []int64{min(a, b), max(a, b)} }

// TestPointsViews checks every read that shows balances, and the zero
// shape of a customer without any.
func TestPointsViews(t *testing.T) {
	cfg, st := testConfig(), newStore(t)
	c := apply(t, cfg, st, reg(1, wc, "22232", m1)).Result.CreatedID
	zero := customer.ProgramDetails{LoyaltyID: c, CurrentSlab: "Base", NextSlabSerialNumber: -1, SlabSNo: 1, ProgramID: 1}
	if d := loyaltyDetails(t, cfg, st, 1, c, 0); !reflect.DeepEqual(d.Data, []customer.ProgramDetails{zero}) {
		t.Fatalf("no balances: %+v", d.Data)
	}
	if snap := customer.Snapshot(st.get(c)); snap.LoyaltyProgramDetails != nil {
		t.Fatalf("snapshot without balances lists %+v", snap.LoyaltyProgramDetails)
	}

	apply(t, cfg, st, bal(1, c, customer.Balance{ProgramID: 1223, Version: 1, LoyaltyPoints: 300, CumulativePurchases: 8800, CurrentSlab: "Tier1", SlabSNo: 1, NextSlabSerialNumber: -1}))
	d := loyaltyDetails(t, cfg, st, 1, c, 0)
	if len(d.Data) != 2 || d.Data[0] != zero || d.Data[1].ProgramID != 1223 || d.Data[1].LoyaltyID != c || d.Data[1].LoyaltyPoints != 300 {
		t.Fatalf("default program (zeros) and program 1223: %+v", d.Data)
	}
	if d := loyaltyDetails(t, cfg, st, 1, c, 1223); len(d.Data) != 1 || d.Data[0].LoyaltyPoints != 300 {
		t.Fatalf("programId=1223: %+v", d)
	}
	if d := loyaltyDetails(t, cfg, st, 1, c, 1); !reflect.DeepEqual(d.Data, []customer.ProgramDetails{zero}) {
		t.Fatalf("programId=1 (the default, no balance): %+v", d)
	}
	if d := loyaltyDetails(t, cfg, st, 1, c, 1219); !reflect.DeepEqual(codes(d.Errors), []int{8089}) {
		t.Fatalf("programId=1219 (not in it): %+v", d)
	}
	f := fetch(t, cfg, st, 1, customer.FetchRequest{ID: c, Source: "ALL", Embed: "points"})
	if f.PointsSummary.LoyaltyPoints != 0 || f.PointsSummary.CurrentSlab != "Base" || f.LoyaltyInfo.LifetimePurchases != 8800 {
		t.Fatalf("embed=points shows the default program's zeros, lifetimePurchases the sum: %+v %+v", f.PointsSummary, f.LoyaltyInfo)
	}

	apply(t, cfg, st, bal(1, c, customer.Balance{ProgramID: 1, Version: 1, LoyaltyPoints: 42, CumulativePurchases: 200, CurrentSlab: "Silver", SlabSNo: 2, LoyaltyID: 99}))
	f = fetch(t, cfg, st, 1, customer.FetchRequest{ID: c, Source: "ALL", Embed: "points,mlp"})
	if f.PointsSummary.LoyaltyPoints != 42 || f.PointsSummary.CurrentSlab != "Silver" || f.PointsSummary.LoyaltyID != 99 || f.LoyaltyInfo.LifetimePurchases != 9000 {
		t.Fatalf("embed=points: %+v %+v", f.PointsSummary, f.LoyaltyInfo)
	}
	if len(f.LoyaltyProgramDetails) != 2 || f.LoyaltyProgramDetails[0].ProgramID != 1 || f.LoyaltyProgramDetails[1].ProgramID != 1223 {
		t.Fatalf("embed=mlp: %+v", f.LoyaltyProgramDetails)
	}
	snap := customer.Snapshot(st.get(c))
	if !reflect.DeepEqual(snap.LoyaltyProgramDetails, f.LoyaltyProgramDetails) || snap.LoyaltyInfo.LifetimePurchases != 9000 {
		t.Fatalf("snapshot balances %+v, want %+v", snap.LoyaltyProgramDetails, f.LoyaltyProgramDetails)
	}
}
