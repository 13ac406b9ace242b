package schemas

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// The hand-written encoders (avroenc.go) are checked against goavro, which
// they replaced: goavro must decode what they write to the value encoded,
// and, where no map holds more than one entry (goavro writes map entries in
// random order), the bytes must be goavro's own.

// The reference: the goavro path the output records took before
// avroenc.go, native trees encoded by goavro's codecs; for snapshots, the
// JSON output's document encoded by goavro (goavroSnapshot,
// snapshot_test.go).

func goavroResult(r ResultRecord) ([]byte, error) {
	return encodeSingle(nil, KindResult, map[string]any{
		"requestId":     r.RequestID,
		"org":           r.Org,
		"source":        r.Source,
		"accountId":     optString(r.AccountID),
		"op":            string(r.Op),
		"success":       r.Success,
		"createdId":     optLong(r.CreatedID),
		"subscriptions": subscriptionsNative(r.Subscriptions),
		"warnings":      goavroIssues(r.Warnings),
		"errors":        goavroIssues(r.Errors),
		"origin":        map[string]any{"topic": r.Origin.Topic, "partition": r.Origin.Partition, "offset": r.Origin.Offset},
	})
}

func goavroIssues(is []customer.Issue) []any {
	out := make([]any, len(is))
	for i, is := range is {
		out[i] = map[string]any{"code": int32(is.Code), "message": is.Message}
	}
	return out
}

func goavroMerge(m customer.Merge) ([]byte, error) {
	return encodeSingle(nil, KindMerge, map[string]any{
		"org":        m.Org,
		"survivorId": m.SurvivorID,
		"victimId":   m.VictimID,
		"identifier": identifierNative(m.Identifier),
		"source":     m.Source,
		"accountId":  optString(m.AccountID),
		"requestId":  m.RequestID,
		"time":       m.Time,
		"balances":   goavroBalances(m.Balances),
	})
}

func goavroBalances(bs []customer.Balance) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		out[i] = map[string]any{"programId": b.ProgramID, "version": b.Version, "loyaltyId": b.LoyaltyID,
			"loyaltyPoints": b.LoyaltyPoints, "lifetimePoints": b.LifetimePoints, "redeemed": b.Redeemed, "expired": b.Expired,
			"returned": b.Returned, "adjusted": b.Adjusted, "cumulativePurchases": b.CumulativePurchases,
			"currentSlab": b.CurrentSlab, "slabSNo": b.SlabSNo, "slabExpiryDate": b.SlabExpiryDate,
			"nextSlab": b.NextSlab, "nextSlabSerialNumber": b.NextSlabSerialNumber, "nextSlabDescription": b.NextSlabDescription}
	}
	return out
}

// outputCase is one record to encode both ways. want is what decoding
// must give: the input as the wire keeps it (wireResult, …).
type outputCase struct {
	name      string
	kind      Kind
	value     any
	direct    func() ([]byte, error)
	reference func() ([]byte, error)
	decode    func([]byte) (any, error)
	want      any
	// exact: no map holds more than one entry, so the bytes must be goavro's.
	exact bool
}

func resultCase(name string, r ResultRecord) outputCase {
	return outputCase{
		name: name, kind: KindResult, value: r,
		direct:    func() ([]byte, error) { return EncodeResult(r) },
		reference: func() ([]byte, error) { return goavroResult(r) },
		decode:    func(b []byte) (any, error) { return DecodeResult(b) },
		want:      wireResult(r),
		exact:     true,
	}
}

func mergeCase(name string, m customer.Merge) outputCase {
	return outputCase{
		name: name, kind: KindMerge, value: m,
		direct:    func() ([]byte, error) { return EncodeMerge(m) },
		reference: func() ([]byte, error) { return goavroMerge(m) },
		decode:    func(b []byte) (any, error) { return DecodeMerge(b) },
		want:      wireMerge(m),
		exact:     true,
	}
}

func snapshotCase(name string, c *customer.Customer) outputCase {
	return outputCase{
		name: name, kind: KindSnapshot, value: c,
		direct:    func() ([]byte, error) { return EncodeSnapshot(c) },
		reference: func() ([]byte, error) { return goavroSnapshot(c) },
		decode: func(b []byte) (any, error) {
			doc, err := DecodeSnapshot(b)
			return normNumbers(doc), err
		},
		want:  mustSnapshotJSON(c),
		exact: maxMapLen(c) <= 1,
	}
}

func fixtureCases() []outputCase {
	failed := ResultRecord{Result: customer.Result{RequestID: "x", Org: 1, Source: "INSTORE", Op: customer.OpRegister,
		Errors: []customer.Issue{customer.NewIssue(customer.CodeDuplicateInScope, "")}}}
	return []outputCase{
		resultCase("sampleResult", sampleResult()),
		resultCase("failed result", failed),
		resultCase("zero result", ResultRecord{Result: customer.Result{Op: customer.OpSubscriptions}}),
		mergeCase("sampleMerge", sampleMerge()),
		mergeCase("zero merge", customer.Merge{}),
		snapshotCase("sampleCustomer", sampleCustomer()),
		snapshotCase("merged away", &customer.Customer{ID: 11, Org: 7, MergedInto: 10}),
		snapshotCase("zero customer", &customer.Customer{}),
	}
}

func randomCases(n int) []outputCase {
	g := newRecordGen(20261127)
	var out []outputCase
	for i := range n {
		// Every other record keeps its maps to one entry at most, so half
		// the records are held to goavro's bytes.
		g.maxMap = 1 + 3*(i%2)
		out = append(out,
			resultCase(fmt.Sprintf("random result %d", i), g.result()),
			mergeCase(fmt.Sprintf("random merge %d", i), g.merge()),
			snapshotCase(fmt.Sprintf("random snapshot %d", i), g.customer()),
		)
	}
	return out
}

func TestAvroEncodersAgreeWithGoavro(t *testing.T) {
	cases := append(fixtureCases(), randomCases(500)...)
	var exact, multiMap int
	for _, tc := range cases {
		got, err := tc.direct()
		if err != nil {
			t.Fatalf("%s: encode: %v", tc.name, err)
		}
		if k, err := SingleObjectKind(got); err != nil || k != tc.kind {
			t.Fatalf("%s: header says %v, %v; want %v", tc.name, k, err, tc.kind)
		}
		back, err := tc.decode(got)
		if err != nil {
			t.Fatalf("%s: goavro cannot decode the encoding: %v\n% x", tc.name, err, got)
		}
		if !reflect.DeepEqual(back, tc.want) {
			t.Fatalf("%s: decodes to another value\n got %+v\nwant %+v", tc.name, back, tc.want)
		}
		want, err := tc.reference()
		if err != nil {
			t.Fatalf("%s: goavro encode: %v", tc.name, err)
		}
		if !tc.exact {
			// Same entries in another order: the same length.
			if len(got) != len(want) {
				t.Fatalf("%s: %d bytes, goavro writes %d", tc.name, len(got), len(want))
			}
			multiMap++
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: bytes differ from goavro's\n got % x\nwant % x\nvalue %+v", tc.name, got, want, tc.value)
		}
		exact++
	}
	// The generator must keep producing both kinds of case.
	if exact < 500 || multiMap < 100 {
		t.Errorf("%d cases held to goavro's bytes, %d with multi-entry maps: the generator drifted", exact, multiMap)
	}
}

// TestAvroEncodeGolden spells out the bytes of small records by hand, from
// the Avro specification rather than from goavro: zig-zag varints, map
// entries in key order.
func TestAvroEncodeGolden(t *testing.T) {
	header := func(k Kind) []byte {
		return binary.LittleEndian.AppendUint64([]byte{0xC3, 0x01}, Fingerprint(k))
	}
	c := &customer.Customer{
		ID: 1, Org: -1, MergedInto: 0, LoyaltyType: "",
		ExtendedFields: map[string]string{"b": "y", "é": "z", "a": "x"},
		Subscriptions:  []customer.Subscription{{Channel: "S", AccountID: "1", Priority: "P", Type: "T"}},
		CreateDate:     time.UnixMicro(64).In(time.FixedZone("+08:00", 8*3600)),
	}
	snapshot := append(header(KindSnapshot),
		0x02,       // id 1
		0x01,       // org -1
		0x00,       // mergedInto null
		0x02, 0x00, // profiles: branch 1, []
		0x02, // loyaltyInfo: branch 1
		0x00, // loyaltyType ""
		0x28, // attributionV2.createDate: 20 bytes, in UTC to the second
	)
	snapshot = append(snapshot, "1970-01-01T00:00:00Z"...)
	snapshot = append(snapshot,
		0x00, 0x00, // createdBy {"", ""}: no profiles
		0x00, 0x00, // modifiedBy
		0x00,                   // modifiedDate ""
		0, 0, 0, 0, 0, 0, 0, 0, // lifetimePurchases: the double 0
		0x02, 0x00, // segments: branch 1, {}
		0x02,      // extendedFields: branch 1
		0x06,      // a block of 3
		0x02, 'a', // "a"
		0x02, 'x', // "x"
		0x02, 'b', 0x02, 'y',
		0x04, 0xC3, 0xA9, 0x02, 'z', // "é" is two bytes, after ASCII
		0x00,      // end of the map
		0x02,      // subscriptionInfo: branch 1
		0x02,      // subscriptions: a block of 1
		0x02, 'S', // channel
		0x02, 0x02, '1', // accountId: branch 1, "1"
		0x02, 'P', 0x02, 'T', // priority, type
		0x00,       // end of the array
		0x02, 0x00, // warnings: branch 1, []
		0x00, // loyaltyProgramDetails: null (no balances)
	)
	merged := append(header(KindSnapshot),
		0x16,       // id 11
		0x0E,       // org 7
		0x02, 0x14, // mergedInto: branch 1, 10
		0, 0, 0, 0, 0, 0, 0, // profiles … warnings, loyaltyProgramDetails null
	)
	merge := customer.Merge{Org: 300, SurvivorID: -65, VictimID: math.MaxInt64,
		Identifier: customer.Identifier{Type: "t", Value: ""}, Source: "S", AccountID: "A", RequestID: "", Time: time.UnixMilli(-1)}
	mergeBytes := append(header(KindMerge),
		0xD8, 0x04, // org 300: zig-zag 600
		0x81, 0x01, // survivorId -65: zig-zag 129
		0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, // victimId MaxInt64
		0x02, 't', 0x00, // identifier
		0x02, 'S', // source
		0x02, 0x02, 'A', // accountId: branch 1, "A"
		0x00, // requestId ""
		0x01, // time -1 ms
		0x00, // balances: []
	)
	for i := 0; i < 20; i++ { // map order must not depend on Go's iteration order
		got, err := EncodeSnapshot(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, snapshot) {
			t.Fatalf("snapshot\n got % x\nwant % x", got, snapshot)
		}
	}
	if got, err := EncodeSnapshot(&customer.Customer{ID: 11, Org: 7, MergedInto: 10}); err != nil || !bytes.Equal(got, merged) {
		t.Fatalf("merged-away snapshot\n got % x, %v\nwant % x", got, err, merged)
	}
	got, err := EncodeMerge(merge)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, mergeBytes) {
		t.Fatalf("merge\n got % x\nwant % x", got, mergeBytes)
	}
}

// TestAvroEncodeBlocks: an array longer than one block is written as
// goavro writes it; no decoder reads it, as it holds more than
// MaxDatumItems.
func TestAvroEncodeBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes 10^5+ items")
	}
	r := ResultRecord{Result: customer.Result{Op: customer.OpSubscriptions,
		Subscriptions: make([]customer.Subscription, maxBlockItems+3)}}
	r.Subscriptions[maxBlockItems+2].Channel = "last"
	got, err := EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	want, err := goavroResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ from goavro's")
	}
	if _, err := DecodeResult(got); ErrorCode(err) != ErrCodeTooLarge {
		t.Errorf("decoding %d items: %v, want %s", len(r.Subscriptions), err, ErrCodeTooLarge)
	}
}

func TestEncodeResultOp(t *testing.T) {
	for _, op := range []customer.Op{"", "delete", "Register", "REGISTER"} {
		r := sampleResult()
		r.Op = op
		if b, err := EncodeResult(r); err == nil {
			t.Errorf("EncodeResult with op %q succeeded: % x", op, b)
		}
	}
	if _, err := EncodeSnapshot(nil); err == nil {
		t.Error("EncodeSnapshot(nil) succeeded")
	}
}

// TestIssueCodeIsAnInt: Issue.code is an Avro int; a code beyond 32 bits
// is truncated, as goavro did with the int32 it was given.
func TestIssueCodeIsAnInt(t *testing.T) {
	r := sampleResult()
	r.Warnings = []customer.Issue{{Code: 1<<32 + customer.CodeMerged, Message: "m"}}
	back := resultLikeGoavro(t, r)
	if back.Warnings[0].Code != customer.CodeMerged {
		t.Errorf("code %d came back as %d", r.Warnings[0].Code, back.Warnings[0].Code)
	}
}

// What decoding gives back: empty lists and maps as nil, times in UTC at
// the wire's precision (ms in merges). A snapshot decodes to its JSON
// document (mustSnapshotJSON).

func mustSnapshotJSON(c *customer.Customer) map[string]any {
	doc, err := snapshotJSON(c)
	if err != nil {
		panic(err)
	}
	return doc
}

func wireResult(r ResultRecord) ResultRecord {
	r.Subscriptions = nilIfEmpty(r.Subscriptions)
	r.Warnings = nilIfEmpty(r.Warnings)
	r.Errors = nilIfEmpty(r.Errors)
	return r
}

func wireMerge(m customer.Merge) customer.Merge {
	m.Time = m.Time.Truncate(time.Millisecond).UTC()
	m.Balances = nilIfEmpty(m.Balances)
	return m
}

func nilIfEmptyMap[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

// maxMapLen is the most entries any map of c holds.
func maxMapLen(c *customer.Customer) int {
	n := len(c.ExtendedFields)
	var walk func([]customer.Profile)
	walk = func(ps []customer.Profile) {
		for _, p := range ps {
			n = max(n, len(p.Fields))
			for _, ch := range p.CommChannels {
				n = max(n, len(ch.Meta))
			}
			walk(p.Conflicting)
		}
	}
	walk(c.Profiles)
	return n
}

// recordGen builds random output records from a fixed seed: nil and empty
// lists and maps, unicode and long strings, extreme numbers, zero and
// non-zero times in several zones, merged-away customers and conflicting
// profiles nested two deep.
type recordGen struct {
	r      *rand.Rand
	maxMap int // most entries in one generated map
}

func newRecordGen(seed uint64) *recordGen {
	return &recordGen{r: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)), maxMap: 1}
}

var genWords = []string{
	"a", "INSTORE", "WECHAT", "Tom", "Sawyer", "顧客", "Zoë", "王小明", "🚀", "tom.sawyer@example.com",
	"919111111111", "with space", "quote\"and\\backslash", "nul\x00byte", "tab\tnewline\n", "ñ",
}

func (g *recordGen) str() string {
	switch g.r.IntN(6) {
	case 0:
		return ""
	case 1: // longer than 63 bytes: a two-byte length
		return strings.Repeat(genWords[g.r.IntN(len(genWords))], 10+g.r.IntN(20))
	}
	n := 1 + g.r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = genWords[g.r.IntN(len(genWords))]
	}
	return strings.Join(parts, " ")
}

// optStr is empty half the time: the null branch of a nullable string.
func (g *recordGen) optStr() string {
	if g.r.IntN(2) == 0 {
		return ""
	}
	return g.str()
}

func (g *recordGen) long() int64 {
	switch g.r.IntN(8) {
	case 0:
		return 0
	case 1:
		return []int64{math.MaxInt64, math.MinInt64, -1, 63, 64, -64, -65, math.MaxInt32, math.MinInt32}[g.r.IntN(9)]
	case 2:
		return -g.r.Int64N(1 << 20)
	case 3:
		return int64(g.r.Uint64())
	}
	return g.r.Int64N(1 << 20)
}

func (g *recordGen) int32() int32 {
	switch g.r.IntN(4) {
	case 0:
		return []int32{0, -1, math.MaxInt32, math.MinInt32}[g.r.IntN(4)]
	case 1:
		return int32(g.r.Uint32())
	}
	return int32(g.r.IntN(10_000))
}

var genZones = []*time.Location{time.UTC, time.FixedZone("+08:00", 8*3600), time.FixedZone("-03:30", -(3*3600 + 1800))}

// time is zero a third of the time; otherwise an instant between 1900 and
// 2200, or one of the edges, at nanosecond precision, in some zone.
func (g *recordGen) time() time.Time {
	switch g.r.IntN(8) {
	case 0, 1, 2:
		return time.Time{}
	case 3:
		return []time.Time{
			time.Unix(0, 0), time.Unix(0, -1), time.Unix(-1, 999_999_999),
			time.Time{}.Add(time.Nanosecond), time.Time{}.Add(time.Microsecond),
			time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		}[g.r.IntN(6)]
	}
	lo, hi := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	t := time.Unix(lo+g.r.Int64N(hi-lo), g.r.Int64N(1e9))
	return t.In(genZones[g.r.IntN(len(genZones))])
}

// genSlice is nil, empty or 1–4 items from item.
func genSlice[T any](g *recordGen, item func() T) []T {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []T{}
	}
	out := make([]T, 1+g.r.IntN(4))
	for i := range out {
		out[i] = item()
	}
	return out
}

// genMap is nil, empty or 1–g.maxMap entries.
func genMap[V any](g *recordGen, value func() V) map[string]V {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return map[string]V{}
	}
	n := 1 + g.r.IntN(g.maxMap)
	out := make(map[string]V, n)
	for len(out) < n {
		out[g.str()] = value()
	}
	return out
}

func (g *recordGen) boolean() bool { return g.r.IntN(2) == 0 }

func (g *recordGen) identifier() customer.Identifier {
	return customer.Identifier{Type: g.str(), Value: g.str()}
}

func (g *recordGen) subscription() customer.Subscription {
	return customer.Subscription{Channel: g.str(), AccountID: g.str(), Priority: g.str(), Type: g.str()}
}

func (g *recordGen) issue() customer.Issue {
	return customer.Issue{Code: customer.Code(g.int32()), Message: g.str()}
}

func (g *recordGen) commChannel() customer.CommChannel {
	return customer.CommChannel{Type: g.str(), Value: g.str(), Primary: g.boolean(), Verified: g.boolean(),
		Meta: genMap(g, g.boolean)}
}

// profile has conflicting profiles down to depth 2 (a profile's conflict
// has conflicts of its own).
func (g *recordGen) profile(depth int) customer.Profile {
	p := customer.Profile{
		Source: g.str(), AccountID: g.str(), FirstName: g.str(), LastName: g.str(),
		Fields:       genMap(g, g.str),
		Identifiers:  genSlice(g, g.identifier),
		CommChannels: genSlice(g, g.commChannel),
		CreateDate:   g.time(), ModifiedDate: g.time(),
	}
	if depth < 2 {
		p.Conflicting = genSlice(g, func() customer.Profile { return g.profile(depth + 1) })
	}
	return p
}

func (g *recordGen) customer() *customer.Customer {
	if g.r.IntN(6) == 0 { // merged away: a tombstone
		return &customer.Customer{ID: g.long(), Org: g.long(), MergedInto: 1 + g.r.Int64N(math.MaxInt64)}
	}
	return &customer.Customer{
		ID: g.long(), Org: g.long(), LoyaltyType: g.str(),
		Profiles:       genSlice(g, func() customer.Profile { return g.profile(0) }),
		ExtendedFields: genMap(g, g.str),
		Subscriptions:  genSlice(g, g.subscription),
		CreateDate:     g.time(), ModifiedDate: g.time(),
		Points: g.balances(),
	}
}

// balances are a customer's: sorted by program, unique, as stored.
func (g *recordGen) balances() []customer.Balance {
	bs := genSlice(g, g.balance)
	slices.SortFunc(bs, func(a, b customer.Balance) int { return cmp.Compare(a.ProgramID, b.ProgramID) })
	return slices.CompactFunc(bs, func(a, b customer.Balance) bool { return a.ProgramID == b.ProgramID })
}

func (g *recordGen) balance() customer.Balance {
	// Within customer.MaxPointsValue, where a float64 and its JSON text
	// agree exactly.
	f := func() float64 { return float64(g.r.Int64N(1<<43)-1<<42) / 8 }
	return customer.Balance{ProgramID: g.long(), Version: g.long(), LoyaltyID: g.long() * int64(g.r.IntN(2)),
		LoyaltyPoints: f(), LifetimePoints: f(), Redeemed: f(), Expired: f(), Returned: f(), Adjusted: f(), CumulativePurchases: f(),
		CurrentSlab: g.str(), SlabSNo: g.long(), SlabExpiryDate: g.str(), NextSlab: g.str(), NextSlabSerialNumber: g.long(), NextSlabDescription: g.str()}
}

func (g *recordGen) result() ResultRecord {
	return ResultRecord{
		Result: customer.Result{
			RequestID: g.str(), Org: g.long(), Source: g.str(), AccountID: g.optStr(),
			Op: resultOps[g.r.IntN(len(resultOps))], Success: g.boolean(), CreatedID: g.long(),
			Subscriptions: genSlice(g, g.subscription),
			Warnings:      genSlice(g, g.issue),
			Errors:        genSlice(g, g.issue),
		},
		Origin: Origin{Topic: g.str(), Partition: g.int32(), Offset: g.long()},
	}
}

func (g *recordGen) merge() customer.Merge {
	return customer.Merge{
		Org: g.long(), SurvivorID: g.long(), VictimID: g.long(), Identifier: g.identifier(),
		Source: g.str(), AccountID: g.optStr(), RequestID: g.str(), Time: g.time(),
		Balances: genSlice(g, g.balance),
	}
}

// resultLikeGoavro encodes r, checks the bytes are goavro's, and returns
// them decoded.
func resultLikeGoavro(t *testing.T, r ResultRecord) ResultRecord {
	t.Helper()
	got, err := EncodeResult(r)
	if err != nil {
		t.Fatal(err)
	}
	want, err := goavroResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ from goavro's\n got % x\nwant % x", got, want)
	}
	back, err := DecodeResult(got)
	if err != nil {
		t.Fatal(err)
	}
	return back
}
