package schemas

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/custream/custream/processor/customer"
)

// A balance from the loyalty engine, the value of a points-topic record
// (docs/wire.md, "Balances"): JSON with loyaltyDetails' field names plus
// customerId, programId and version (or asOf), or balance.avsc in Avro
// single-object encoding or the Confluent wire format. Unlike a command it
// needs no headers: everything is in the value, and the key is the org.
//
// JSON is read as leniently as command bodies: a number may come as its
// string ("350"), null reads as absent, unknown keys are ignored. Absent
// counters are 0, absent texts "", an absent nextSlabSerialNumber -1 (the
// API's "no next slab").

// balanceText are the text fields of a balance, by JSON and Avro name.
var balanceText = [...]string{"currentSlab", "slabExpiryDate", "nextSlab", "nextSlabDescription"}

// balanceCounters are the additive counters, by name, in Balance's order.
var balanceCounters = [...]string{"loyaltyPoints", "lifetimePoints", "redeemed", "expired", "returned", "adjusted", "cumulativePurchases"}

// BalanceFields lists every field name of the JSON form that the decoder
// reads. The decoder ignores other names, as the engine may add fields;
// a tool that takes balances from people (custream load --points) refuses
// them instead, since a misspelt counter would read as absent: 0.
func BalanceFields() []string {
	out := []string{"requestId", "customerId", "programId", "version", "asOf"}
	out = append(out, balanceCounters[:]...)
	return append(out, "loyaltyId", "currentSlab", "slabSNo", "slabExpiryDate", "nextSlab", "nextSlabSerialNumber", "nextSlabDescription")
}

// DecodeBalance decodes a points-topic value into an OpPoints command:
// CustomerID, RequestID and Balance set, and Org when the Avro form
// carries one (the caller checks it against the key). A balance without a
// request id is given BalanceRequestID. Errors are *Error (DLQ codes);
// Retryable ones mean the registry is down.
func DecodeBalance(ctx context.Context, cf *Confluent, value []byte) (customer.Command, Encoding, error) {
	enc := Detect(value)
	var cmd customer.Command
	var err error
	switch enc {
	case EncodingSingleObject:
		var native any
		if native, err = decodeSingle(value, KindBalance); err == nil {
			cmd, err = balanceFromNative(native)
		}
	case EncodingConfluent:
		if cf == nil {
			return cmd, enc, &Error{Code: ErrCodeNoRegistry, Msg: "value is in Confluent wire format (starts with 00) but no schema registry is configured"}
		}
		cmd, err = cf.DecodeBalance(ctx, value)
	default:
		cmd, err = decodeJSONBalance(value)
	}
	if err != nil {
		return customer.Command{}, enc, err
	}
	if err := customer.CheckBalance(cmd.Balance); err != nil {
		return customer.Command{}, enc, &Error{Code: ErrCodeBadBalance, Msg: fmt.Sprintf("customer %d: %v", cmd.CustomerID, err)}
	}
	if cmd.CustomerID <= 0 {
		return customer.Command{}, enc, &Error{Code: ErrCodeBadBalance, Msg: fmt.Sprintf("customerId %d: want a positive customer id", cmd.CustomerID)}
	}
	if cmd.RequestID == "" {
		cmd.RequestID = BalanceRequestID(cmd.CustomerID, cmd.Balance.ProgramID, cmd.Balance.Version)
	}
	// Checked here, not only by the processor, so that every balance this
	// returns survives both encodings (an Avro string may hold any bytes).
	if err := customer.CheckRequestID(cmd.RequestID); err != nil {
		return customer.Command{}, enc, &Error{Code: ErrCodeBadRequestID, Msg: err.Error()}
	}
	return cmd, enc, nil
}

// BalanceRequestID is the request id of a balance that carries none. It
// names the figure, not the record, so the same figure sent twice is one
// request: the second gets the first's result again.
func BalanceRequestID(customerID, programID, version int64) string {
	return "points-" + strconv.FormatInt(customerID, 10) + "-" + strconv.FormatInt(programID, 10) + "-" + strconv.FormatInt(version, 10)
}

// DecodeBalance decodes a Confluent wire-format balance, read with its
// writer schema from the registry and matched to balance.avsc by field
// name.
func (c *Confluent) DecodeBalance(ctx context.Context, data []byte) (customer.Command, error) {
	id, ws, err := c.writerOf(ctx, data)
	if err != nil {
		return customer.Command{}, err
	}
	if ws.codec == nil {
		return customer.Command{}, undecodable(nil, "schema id %d is custream's command schema; the points topic takes balances (balance.avsc)", id)
	}
	native, err := decodeBinary(ws.codec, ws.walk, data[confluentHeaderLen:], KindBalance)
	if err != nil {
		return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	cmd, err := balanceFromNative(native)
	if err != nil {
		return customer.Command{}, fmt.Errorf("schema id %d: %w", id, err)
	}
	return cmd, nil
}

func balanceFromNative(native any) (customer.Command, error) {
	m, ok := native.(map[string]any)
	if !ok {
		return customer.Command{}, undecodable(nil, "balance: want a record, got %T", native)
	}
	var r reader
	b := &customer.Balance{
		ProgramID: r.long(m, "programId", "programId"),
		Version:   r.long(m, "version", "version"),
		LoyaltyID: r.long(m, "loyaltyId", "loyaltyId"),
		SlabSNo:   r.long(m, "slabSNo", "slabSNo"),
	}
	if _, ok := m["nextSlabSerialNumber"]; ok {
		b.NextSlabSerialNumber = r.long(m, "nextSlabSerialNumber", "nextSlabSerialNumber")
	} else {
		b.NextSlabSerialNumber = -1
	}
	texts := balanceTexts(b)
	for i, name := range balanceText {
		*texts[i] = r.str(m, name, name)
	}
	counters := balanceCounterFields(b)
	for i, name := range balanceCounters {
		*counters[i] = r.double(m, name, name)
	}
	if b.Version == 0 {
		if t := r.timestamp(m, "asOf", "asOf"); !t.IsZero() {
			b.Version = t.UnixMilli()
		}
	}
	cmd := customer.Command{
		Op:         customer.OpPoints,
		RequestID:  r.str(m, "requestId", "requestId"),
		Org:        r.long(m, "org", "org"),
		CustomerID: r.long(m, "customerId", "customerId"),
		Balance:    b,
	}
	if r.err != nil {
		return customer.Command{}, r.err
	}
	return cmd, nil
}

func balanceTexts(b *customer.Balance) [4]*string {
	return [4]*string{&b.CurrentSlab, &b.SlabExpiryDate, &b.NextSlab, &b.NextSlabDescription}
}

func balanceCounterFields(b *customer.Balance) [7]*float64 {
	return [7]*float64{&b.LoyaltyPoints, &b.LifetimePoints, &b.Redeemed, &b.Expired, &b.Returned, &b.Adjusted, &b.CumulativePurchases}
}

// decodeJSONBalance reads the JSON form.
func decodeJSONBalance(data []byte) (customer.Command, error) {
	d := jsonReaders.Get().(*jsonReader)
	defer d.release(len(data))
	root, err := d.parse(data)
	if err != nil {
		return customer.Command{}, err
	}
	if d.t.typ(root) != jsonObject {
		return customer.Command{}, undecodable(nil, "balance: want a JSON object, got %s", d.kind(root))
	}
	b := &customer.Balance{
		ProgramID: d.integer(root, "programId"),
		Version:   d.integer(root, "version"),
		LoyaltyID: d.integer(root, "loyaltyId"),
		SlabSNo:   d.integer(root, "slabSNo"),
	}
	b.NextSlabSerialNumber = -1
	if !d.isNull(d.t.field(root, "nextSlabSerialNumber")) {
		b.NextSlabSerialNumber = d.integer(root, "nextSlabSerialNumber")
	}
	texts := balanceTexts(b)
	for i, name := range balanceText {
		*texts[i] = d.text(root, name)
	}
	counters := balanceCounterFields(b)
	for i, name := range balanceCounters {
		*counters[i] = d.number(root, name)
	}
	if asOf := d.text(root, "asOf"); asOf != "" && b.Version == 0 && d.err == nil {
		t, err := time.Parse(time.RFC3339Nano, asOf)
		if err != nil {
			d.failAtf("asOf", "want an RFC 3339 time, got %s", quoteClip(asOf))
		}
		b.Version = t.UnixMilli()
	}
	cmd := customer.Command{
		Op:         customer.OpPoints,
		RequestID:  d.text(root, "requestId"),
		CustomerID: d.integer(root, "customerId"),
		Balance:    b,
	}
	if d.err != nil {
		return customer.Command{}, fmt.Errorf("balance: %w", d.err)
	}
	return cmd, nil
}

// number reads a float64 given as a JSON number or its string.
func (d *jsonReader) number(o jsonV, key string) float64 {
	v := d.t.field(o, key)
	if d.isNull(v) {
		return 0
	}
	var lit string
	switch d.t.typ(v) {
	case jsonNumber:
		lit = string(d.t.literal(v))
	case jsonString:
		lit = strings.TrimSpace(jsonText(d.t.stringBytes(v)))
	default:
		d.failAtf(key, "want a number, got %s", d.kind(v))
		return 0
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		d.failAtf(key, "want a number, got %s", quoteClip(lit))
		return 0
	}
	return f
}

func quoteClip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// double reads an Avro double (or float, int, long from another writer
// schema).
func (r *reader) double(m map[string]any, key, path string) float64 {
	v := unwrapUnion(field(m, key), scalarWrapper)
	switch n := v.(type) {
	case nil:
		return 0
	case float64:
		return n
	case float32:
		return float64(n)
	case int64:
		return float64(n)
	case int32:
		return float64(n)
	}
	r.failf(path, "want a double, got %T", v)
	return 0
}

// EncodeBalance returns the balance command as Avro single-object encoding
// of balance.avsc, for the tools that produce input (load, bench) and for
// tests.
func EncodeBalance(cmd customer.Command) ([]byte, error) {
	b := cmd.Balance
	if b == nil {
		return nil, fmt.Errorf("encode balance %q: no balance", cmd.RequestID)
	}
	native := map[string]any{
		"requestId":            optString(cmd.RequestID),
		"org":                  optLong(cmd.Org),
		"customerId":           cmd.CustomerID,
		"programId":            b.ProgramID,
		"version":              optLong(b.Version),
		"asOf":                 nil,
		"loyaltyId":            optLong(b.LoyaltyID),
		"slabSNo":              b.SlabSNo,
		"nextSlabSerialNumber": b.NextSlabSerialNumber,
	}
	texts := balanceTexts(b)
	for i, name := range balanceText {
		native[name] = *texts[i]
	}
	counters := balanceCounterFields(b)
	for i, name := range balanceCounters {
		native[name] = *counters[i]
	}
	return encodeSingle(nil, KindBalance, native)
}

// EncodeBalanceJSON returns the balance command in the JSON form: every
// field, the request id when it has one. Org travels as the record key.
func EncodeBalanceJSON(cmd customer.Command) ([]byte, error) {
	b := cmd.Balance
	if b == nil {
		return nil, fmt.Errorf("encode balance %q: no balance", cmd.RequestID)
	}
	o := openObj(make([]byte, 0, 512))
	o.optStr("requestId", cmd.RequestID)
	o.integer("customerId", cmd.CustomerID)
	o.integer("programId", b.ProgramID)
	o.integer("version", b.Version)
	counters := balanceCounterFields(b)
	for i, name := range balanceCounters {
		o.key(name)
		o.b = strconv.AppendFloat(o.b, *counters[i], 'g', -1, 64)
	}
	if b.LoyaltyID != 0 {
		o.integer("loyaltyId", b.LoyaltyID)
	}
	o.str("currentSlab", b.CurrentSlab)
	o.integer("slabSNo", b.SlabSNo)
	o.str("slabExpiryDate", b.SlabExpiryDate)
	o.str("nextSlab", b.NextSlab)
	o.integer("nextSlabSerialNumber", b.NextSlabSerialNumber)
	o.str("nextSlabDescription", b.NextSlabDescription)
	return o.close(), nil
}
