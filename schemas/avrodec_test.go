package schemas

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/custream/custream/processor/customer"
)

// The hand-written command decoder (avrodec.go) is checked against goavro,
// which it replaced for command.avsc: on valid input it must give what
// goavro and commandFromNative give, and on damaged input it must fail
// (with an undecodable *Error, never a panic) wherever goavro fails.

// goavroDecodeCommand is the path DecodeCommand took before avrodec.go.
func goavroDecodeCommand(data []byte) (customer.Command, error) {
	native, err := decodeSingle(data, KindCommand)
	if err != nil {
		return customer.Command{}, err
	}
	return commandFromNative(native)
}

// commandCases are the fixtures and n random commands, each with its
// goavro encoding.
func commandCases(t testing.TB, n int) (cmds []customer.Command, encoded [][]byte) {
	cmds = sampleCommands()
	g := newRecordGen(4242)
	for i := range n {
		g.maxMap = 1 + 3*(i%2)
		cmds = append(cmds, g.command())
	}
	for _, cmd := range cmds {
		b, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("encode %+v: %v", cmd, err)
		}
		encoded = append(encoded, b)
	}
	return cmds, encoded
}

func TestDecodeCommandAgreesWithGoavro(t *testing.T) {
	cmds, encoded := commandCases(t, 1000)
	for i, cmd := range cmds {
		got, err := DecodeCommand(encoded[i])
		if err != nil {
			t.Fatalf("command %d: %v\n% x", i, err, encoded[i])
		}
		ref, err := goavroDecodeCommand(encoded[i])
		if err != nil {
			t.Fatalf("command %d: goavro: %v", i, err)
		}
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("command %d: goavro decodes otherwise\n got %+v\nwant %+v", i, got, ref)
		}
		if want := wireCommand(cmd); !reflect.DeepEqual(got, want) {
			t.Fatalf("command %d: decodes to another value\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// checkAgainstGoavro decodes data both ways: whatever the direct decoder
// accepts goavro must accept as the same command, and whatever it refuses
// must be an undecodable *Error, refused by goavro too unless it is a
// varint goavro is lax about (longer than ten bytes or 64 bits).
func checkAgainstGoavro(t testing.TB, data []byte) (accepted bool) {
	t.Helper()
	got, err := DecodeCommand(data)
	ref, refErr := goavroDecodeCommand(data)
	if err == nil {
		if refErr != nil {
			t.Fatalf("accepted what goavro refuses (%v): %+v\n% x", refErr, got, data)
		}
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("goavro decodes otherwise\n got %+v\nwant %+v\n% x", got, ref, data)
		}
		return true
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrCodeUndecodable {
		if ErrorCode(err) != ErrorCode(refErr) { // a damaged header: both see it alike
			t.Fatalf("error %v (code %s), want an undecodable *Error\n% x", err, ErrorCode(err), data)
		}
	}
	if refErr == nil && !strings.Contains(err.Error(), "malformed varint") {
		t.Fatalf("refused what goavro accepts: %v\n%+v\n% x", err, ref, data)
	}
	return false
}

func TestDecodeCommandDamaged(t *testing.T) {
	_, encoded := commandCases(t, 200)
	r := rand.New(rand.NewPCG(7, 8))
	var accepted, refused int
	count := func(ok bool) {
		if ok {
			accepted++
		} else {
			refused++
		}
	}
	for _, good := range encoded {
		// Every truncation.
		for n := soeHeaderLen; n < len(good); n++ {
			if checkAgainstGoavro(t, good[:n]) {
				t.Fatalf("accepted %d of %d bytes", n, len(good))
			}
		}
		// Random damage to the body.
		for range 50 {
			count(checkAgainstGoavro(t, damage(r, good)))
		}
	}
	// Some damage leaves a valid command (a changed character in a
	// string): both outcomes must occur, or the damage is not exercising
	// the decoder.
	if accepted < 100 || refused < 100 {
		t.Errorf("%d damaged inputs accepted, %d refused", accepted, refused)
	}
}

// damage returns a copy of a single-object value with its body damaged:
// bytes changed, inserted, deleted, or a run of varint continuation bytes.
func damage(r *rand.Rand, good []byte) []byte {
	b := bytes.Clone(good)
	for range 1 + r.IntN(3) {
		body := len(b) - soeHeaderLen
		if body == 0 {
			break
		}
		i := soeHeaderLen + r.IntN(body)
		switch r.IntN(5) {
		case 0:
			b[i] = byte(r.Uint32())
		case 1:
			b[i] ^= 1 << r.IntN(8)
		case 2:
			b = append(b[:i], append([]byte{byte(r.Uint32())}, b[i:]...)...)
		case 3:
			b = append(b[:i], b[i+1:]...)
		case 4:
			run := bytes.Repeat([]byte{0xFF}, 1+r.IntN(12))
			b = append(b[:i], append(run, b[i:]...)...)
		}
	}
	return b
}

func TestDecodeCommandBadBodies(t *testing.T) {
	header := func(body ...byte) []byte { return append(appendSingleObjectHeader(nil, KindCommand), body...) }
	// requestId "", org 0, op register, source "", no accountId, customerId
	// or time: the prefix of every case below.
	prefix := []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	with := func(rest ...byte) []byte { return header(append(bytes.Clone(prefix), rest...)...) }
	for _, tc := range []struct {
		name, msg string
		data      []byte
	}{
		{"empty body", "truncated", header()},
		{"op beyond the enum", "enum io.custream.v1.Op index 4", header(0x00, 0x00, 0x08)},
		{"negative op", "enum io.custream.v1.Op index -1", header(0x00, 0x00, 0x01)},
		{"accountId union index 2", "union index 2", header(0x00, 0x00, 0x00, 0x00, 0x04)},
		{"body union index 3", "union index 3, want 0 to 2", with(0x06)},
		{"negative string length", "string of -1 bytes", header(0x01)},
		{"string beyond the data", "string of 64 bytes", header(0x80, 0x01, 'a')},
		{"eleven-byte varint", "malformed varint", header(0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)},
		{"varint beyond 64 bits", "malformed varint", header(0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02)},
		{"huge profile count", "block of 262144 items", with(0x00, 0x80, 0x80, 0x20)},
		{"count beyond the cap", "block of 262145 items", with(0x00, 0x82, 0x80, 0x20)},
		{"MinInt64 block count", "block of -9223372036854775808 items",
			with(0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00)},
		{"boolean 2", "boolean byte 2", with(0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x02, 0x00, 0x00)},
		{"duplicate map key", `map key "k" twice`, with(0x00, 0x00, 0x00, 0x04, 0x02, 'k', 0x00, 0x02, 'k', 0x00, 0x00, 0x00)},
		{"wrong body for the op", "op register carries a ChangeIdentifierBody body", with(0x02, 0x00, 0x00)},
		{"trailing bytes", "2 trailing bytes", with(0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xAA, 0xBB)},
	} {
		_, err := DecodeCommand(tc.data)
		var e *Error
		if !errors.As(err, &e) || e.Code != ErrCodeUndecodable || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want an undecodable *Error containing %q", tc.name, err, tc.msg)
		}
		if _, refErr := goavroDecodeCommand(tc.data); refErr == nil && !strings.Contains(tc.msg, "varint") {
			t.Errorf("%s: goavro accepts it", tc.name)
		}
	}
}

// TestDecodeCommandHostileCount: a count of items the data cannot hold is
// refused before anything is allocated for it.
func TestDecodeCommandHostileCount(t *testing.T) {
	data := append(appendSingleObjectHeader(nil, KindCommand),
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // requestId … time
		0x00,             // CustomerBody
		0xFE, 0xFF, 0x1F, // 262143 profiles
	)
	data = append(data, make([]byte, 64)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := DecodeCommand(data); err == nil {
			t.Fatal("decoded")
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("10 hostile decodes allocated %d bytes", n)
	}
}

// FuzzDecodeCommandAgainstGoavro: on any input the direct decoder and
// goavro agree (checkAgainstGoavro).
func FuzzDecodeCommandAgainstGoavro(f *testing.F) {
	for _, cmd := range sampleCommands() {
		b, err := EncodeCommand(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(appendSingleObjectHeader(nil, KindCommand))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAlloc(t, len(data), avroAllocBound, func() { DecodeCommand(data) })
		checkAgainstGoavro(t, data)
	})
}

// wireCommand is cmd as decoding gives it back: empty lists and maps as
// nil, the time in UTC to the millisecond.
func wireCommand(cmd customer.Command) customer.Command {
	if !cmd.Time.IsZero() {
		cmd.Time = cmd.Time.Truncate(time.Millisecond).UTC()
	}
	wireBody := func(b *customer.CustomerBody) *customer.CustomerBody {
		if b == nil {
			return nil
		}
		out := *b
		out.ExtendedFields = nilIfEmptyMap(b.ExtendedFields)
		out.Profiles = nilIfEmpty(b.Profiles)
		for i := range out.Profiles {
			p := &out.Profiles[i]
			p.Fields = nilIfEmptyMap(p.Fields)
			p.Identifiers = nilIfEmpty(p.Identifiers)
			p.CommChannels = nilIfEmpty(p.CommChannels)
			for j := range p.CommChannels {
				p.CommChannels[j].Meta = nilIfEmptyMap(p.CommChannels[j].Meta)
			}
		}
		return &out
	}
	cmd.Register, cmd.Update = wireBody(cmd.Register), wireBody(cmd.Update)
	if b := cmd.ChangeIdentifier; b != nil {
		cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{Add: nilIfEmpty(b.Add), Remove: nilIfEmpty(b.Remove)}
	}
	if b := cmd.Subscriptions; b != nil {
		out := *b
		out.Subscriptions = nilIfEmpty(b.Subscriptions)
		cmd.Subscriptions = &out
	}
	return cmd
}

func (g *recordGen) command() customer.Command {
	cmd := customer.Command{
		RequestID: g.str(), Org: g.long(), Op: ops[g.r.IntN(len(ops))], Source: g.str(),
		AccountID: g.optStr(), CustomerID: g.long(), Time: g.time(),
	}
	switch cmd.Op {
	case customer.OpRegister:
		cmd.Register = g.customerBody()
	case customer.OpUpdate:
		cmd.Update = g.customerBody()
	case customer.OpChangeIdentifier:
		cmd.ChangeIdentifier = &customer.ChangeIdentifierBody{Add: genSlice(g, g.identifier), Remove: genSlice(g, g.identifier)}
	case customer.OpSubscriptions:
		cmd.Subscriptions = &customer.SubscriptionsBody{
			CommunicationID: g.long(), CampaignID: g.long(), Reason: g.str(),
			Subscriptions: genSlice(g, g.subscription),
		}
		if g.boolean() {
			cmd.Subscriptions.Scope = &customer.Scope{Scope: g.str(), SubScope: g.str()}
		}
	}
	return cmd
}

func (g *recordGen) customerBody() *customer.CustomerBody {
	b := &customer.CustomerBody{
		Profiles: genSlice(g, func() customer.ProfileInput {
			return customer.ProfileInput{
				FirstName: g.str(), LastName: g.str(), Fields: genMap(g, g.str),
				Identifiers: genSlice(g, g.identifier), CommChannels: genSlice(g, g.commChannel),
				Source: g.str(), AccountID: g.str(),
			}
		}),
		ExtendedFields: genMap(g, g.str),
	}
	if g.boolean() {
		b.LoyaltyInfo = &customer.LoyaltyInput{LoyaltyType: g.str()}
	}
	if g.boolean() {
		b.AttributionV2 = &customer.AttributionInput{CreateDate: g.str()}
	}
	return b
}
