package state

// Customer document encoding, the value of the customer table (keys.go).
//
//	doc      = version(1 byte) customer
//	customer = varint(ID) varint(Org) varint(MergedInto) str(LoyaltyType)
//	           uvarint(n) profile×n  map(ExtendedFields)
//	           uvarint(n) subscription×n  time(CreateDate) time(ModifiedDate)
//	           [uvarint(n) balance×n]                  (version 2 only)
//	profile  = str(Source) str(AccountID) str(FirstName) str(LastName)
//	           map(Fields) uvarint(n) (str(Type) str(Value))×n
//	           uvarint(n) commchannel×n time(CreateDate) time(ModifiedDate)
//	           uvarint(n) profile×n            (Conflicting, at most maxDepth deep)
//	commchannel  = str(Type) str(Value) flags(1: 1=Primary 2=Verified)
//	               uvarint(n) (str(key) bool(1))×n   (Meta, keys sorted)
//	subscription = str(Channel) str(AccountID) str(Priority) str(Type)
//	balance  = varint(ProgramID) varint(Version) varint(LoyaltyID)
//	           float64×7 (LoyaltyPoints LifetimePoints Redeemed Expired
//	                      Returned Adjusted CumulativePurchases; IEEE 754
//	                      bits, little-endian)
//	           str(CurrentSlab) varint(SlabSNo) str(SlabExpiryDate)
//	           str(NextSlab) varint(NextSlabSerialNumber) str(NextSlabDescription)
//	map      = uvarint(n) (str(key) str(value))×n    (keys sorted)
//	str      = uvarint(len) bytes
//	time     = 00                                      zero time
//	         | 01 varint(unix seconds) uvarint(nanos)  UTC
//	         | 02 varint(offset seconds) varint(unix seconds) uvarint(nanos)
//
// varint/uvarint are encoding/binary's. Maps are written with sorted keys and
// slices in their given order, so equal documents encode to equal bytes: the
// changelog and snapshots stay deterministic across replays. A time keeps its
// zone offset (2016-06-23T19:11:18+08:00 comes back as +08:00) but not its
// zone name; offset 0 decodes as UTC. Empty maps decode as nil.
//
// Hand-written rather than gob or JSON: encoding a typical customer is a few
// hundred nanoseconds and no reflection, and the format is ours to version.
// A new version adds a new leading byte and a decoder for it; old documents
// stay readable. Version 2 added balances (Points) at the end; a customer
// without any is still written as version 1, so the documents, changelogs
// and snapshots of customers without balances are the bytes they were.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/custream/custream/processor/customer"
)

const (
	docVersion       = 1
	docVersionPoints = 2 // version 1 followed by the balances
	// maxDepth bounds nested Conflicting profiles, so a corrupt or hostile
	// document cannot recurse without limit. Merges nest one level per merge
	// of a customer that already had conflicts; 32 is far beyond that.
	maxDepth = 32
	// maxOffset bounds a zone offset (time.FixedZone accepts any int; real
	// offsets are within ±14h).
	maxOffset = 24 * 60 * 60
)

var errShort = errors.New("truncated customer document")

// encodeCustomer appends the encoding of c to dst.
func encodeCustomer(dst []byte, c *customer.Customer) []byte {
	version := byte(docVersion)
	if len(c.Points) > 0 {
		version = docVersionPoints
	}
	b := append(dst, version)
	b = binary.AppendVarint(b, c.ID)
	b = binary.AppendVarint(b, c.Org)
	b = binary.AppendVarint(b, c.MergedInto)
	b = appendBStr(b, c.LoyaltyType)
	b = binary.AppendUvarint(b, uint64(len(c.Profiles)))
	for i := range c.Profiles {
		b = appendProfile(b, &c.Profiles[i])
	}
	b = appendMap(b, c.ExtendedFields)
	b = binary.AppendUvarint(b, uint64(len(c.Subscriptions)))
	for _, s := range c.Subscriptions {
		b = appendBStr(b, s.Channel)
		b = appendBStr(b, s.AccountID)
		b = appendBStr(b, s.Priority)
		b = appendBStr(b, s.Type)
	}
	b = appendTime(b, c.CreateDate)
	b = appendTime(b, c.ModifiedDate)
	if version == docVersion {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(c.Points)))
	for i := range c.Points {
		b = appendBalance(b, &c.Points[i])
	}
	return b
}

func appendBalance(b []byte, p *customer.Balance) []byte {
	b = binary.AppendVarint(b, p.ProgramID)
	b = binary.AppendVarint(b, p.Version)
	b = binary.AppendVarint(b, p.LoyaltyID)
	for _, v := range [7]float64{p.LoyaltyPoints, p.LifetimePoints, p.Redeemed, p.Expired, p.Returned, p.Adjusted, p.CumulativePurchases} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	b = appendBStr(b, p.CurrentSlab)
	b = binary.AppendVarint(b, p.SlabSNo)
	b = appendBStr(b, p.SlabExpiryDate)
	b = appendBStr(b, p.NextSlab)
	b = binary.AppendVarint(b, p.NextSlabSerialNumber)
	return appendBStr(b, p.NextSlabDescription)
}

func appendProfile(b []byte, p *customer.Profile) []byte {
	b = appendBStr(b, p.Source)
	b = appendBStr(b, p.AccountID)
	b = appendBStr(b, p.FirstName)
	b = appendBStr(b, p.LastName)
	b = appendMap(b, p.Fields)
	b = binary.AppendUvarint(b, uint64(len(p.Identifiers)))
	for _, id := range p.Identifiers {
		b = appendBStr(b, id.Type)
		b = appendBStr(b, id.Value)
	}
	b = binary.AppendUvarint(b, uint64(len(p.CommChannels)))
	for _, cc := range p.CommChannels {
		b = appendBStr(b, cc.Type)
		b = appendBStr(b, cc.Value)
		var flags byte
		if cc.Primary {
			flags |= 1
		}
		if cc.Verified {
			flags |= 2
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(cc.Meta)))
		for _, k := range sortedKeys(cc.Meta) {
			b = appendBStr(b, k)
			b = append(b, boolByte(cc.Meta[k]))
		}
	}
	b = appendTime(b, p.CreateDate)
	b = appendTime(b, p.ModifiedDate)
	b = binary.AppendUvarint(b, uint64(len(p.Conflicting)))
	for i := range p.Conflicting {
		b = appendProfile(b, &p.Conflicting[i])
	}
	return b
}

func appendBStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range sortedKeys(m) {
		b = appendBStr(b, k)
		b = appendBStr(b, m[k])
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	if off == 0 {
		b = append(b, 1)
	} else {
		b = append(b, 2)
		b = binary.AppendVarint(b, int64(off))
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// decodeCustomer decodes a document written by encodeCustomer. It rejects
// unknown versions, truncated input and trailing bytes.
// DecodeCustomer decodes a stored customer document (Batch.Encoded).
func DecodeCustomer(b []byte) (*customer.Customer, error) { return decodeCustomer(b) }

func decodeCustomer(data []byte) (*customer.Customer, error) {
	if len(data) == 0 {
		return nil, errShort
	}
	version := data[0]
	if version != docVersion && version != docVersionPoints {
		return nil, fmt.Errorf("unknown customer document version %d", data[0])
	}
	d := decoder{b: data[1:]}
	c := &customer.Customer{
		ID:          d.varint(),
		Org:         d.varint(),
		MergedInto:  d.varint(),
		LoyaltyType: d.str(),
	}
	if n := d.count(); n > 0 {
		c.Profiles = make([]customer.Profile, n)
		for i := range c.Profiles {
			d.profile(&c.Profiles[i], 0)
		}
	}
	c.ExtendedFields = d.strMap()
	if n := d.count(); n > 0 {
		c.Subscriptions = make([]customer.Subscription, n)
		for i := range c.Subscriptions {
			c.Subscriptions[i] = customer.Subscription{Channel: d.str(), AccountID: d.str(), Priority: d.str(), Type: d.str()}
		}
	}
	c.CreateDate = d.time()
	c.ModifiedDate = d.time()
	if version == docVersionPoints {
		// Written only with balances, so an empty list is corrupt: the
		// same customer must have one encoding.
		n := d.count()
		if n == 0 && d.err == nil {
			d.fail(errors.New("version 2 customer document without balances"))
		}
		c.Points = make([]customer.Balance, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.balance(&c.Points[i])
			if i > 0 && c.Points[i].ProgramID <= c.Points[i-1].ProgramID {
				d.fail(fmt.Errorf("balances not sorted by program at program %d", c.Points[i].ProgramID))
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after customer document", len(d.b))
	}
	return c, nil
}

// decoder reads fields in order; the first error sticks and every later
// read returns a zero value, so callers check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail(errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// count reads an element count. Every element takes at least one byte, so a
// count above the remaining length is corrupt; checking it here keeps a bad
// document from allocating gigabytes.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("element count %d exceeds the %d bytes left", n, len(d.b)))
		return 0
	}
	return int(n)
}

func (d *decoder) balance(p *customer.Balance) {
	p.ProgramID, p.Version, p.LoyaltyID = d.varint(), d.varint(), d.varint()
	for _, v := range [7]*float64{&p.LoyaltyPoints, &p.LifetimePoints, &p.Redeemed, &p.Expired, &p.Returned, &p.Adjusted, &p.CumulativePurchases} {
		if len(d.b) < 8 {
			d.fail(errShort)
			return
		}
		*v = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
	}
	p.CurrentSlab = d.str()
	p.SlabSNo = d.varint()
	p.SlabExpiryDate = d.str()
	p.NextSlab = d.str()
	p.NextSlabSerialNumber = d.varint()
	p.NextSlabDescription = d.str()
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		k, v := d.str(), d.str()
		if i > 0 && k <= prev {
			d.fail(fmt.Errorf("map keys not sorted and unique at %q", k))
		}
		m[k], prev = v, k
	}
	return m
}

func (d *decoder) time() time.Time {
	kind := d.byte()
	var loc *time.Location
	switch kind {
	case 0:
		return time.Time{}
	case 1:
		loc = time.UTC
	case 2:
		off := d.varint()
		if off == 0 || off < -maxOffset || off > maxOffset {
			d.fail(fmt.Errorf("bad zone offset %d", off))
			return time.Time{}
		}
		loc = time.FixedZone("", int(off))
	default:
		d.fail(fmt.Errorf("bad time kind %d", kind))
		return time.Time{}
	}
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= 1e9 {
		d.fail(fmt.Errorf("bad nanoseconds %d", nsec))
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).In(loc)
	if t.IsZero() {
		// Only kind 0 may encode the zero time, so encodings stay unique.
		d.fail(fmt.Errorf("non-canonical zero time"))
		return time.Time{}
	}
	return t
}

func (d *decoder) profile(p *customer.Profile, depth int) {
	if depth > maxDepth {
		d.fail(fmt.Errorf("conflicting profiles nested deeper than %d", maxDepth))
		return
	}
	p.Source, p.AccountID, p.FirstName, p.LastName = d.str(), d.str(), d.str(), d.str()
	p.Fields = d.strMap()
	if n := d.count(); n > 0 {
		p.Identifiers = make([]customer.Identifier, n)
		for i := range p.Identifiers {
			p.Identifiers[i] = customer.Identifier{Type: d.str(), Value: d.str()}
		}
	}
	if n := d.count(); n > 0 {
		p.CommChannels = make([]customer.CommChannel, n)
		for i := range p.CommChannels {
			d.commChannel(&p.CommChannels[i])
		}
	}
	p.CreateDate = d.time()
	p.ModifiedDate = d.time()
	if n := d.count(); n > 0 {
		p.Conflicting = make([]customer.Profile, n)
		for i := range p.Conflicting {
			d.profile(&p.Conflicting[i], depth+1)
		}
	}
}

func (d *decoder) commChannel(cc *customer.CommChannel) {
	cc.Type, cc.Value = d.str(), d.str()
	flags := d.byte()
	if flags > 3 {
		d.fail(fmt.Errorf("bad comm channel flags %#x", flags))
		return
	}
	cc.Primary, cc.Verified = flags&1 != 0, flags&2 != 0
	n := d.count()
	if n == 0 {
		return
	}
	cc.Meta = make(map[string]bool, n)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		v := d.byte()
		if v > 1 {
			d.fail(fmt.Errorf("bad bool %#x in comm channel meta", v))
		}
		if i > 0 && k <= prev {
			d.fail(fmt.Errorf("meta keys not sorted and unique at %q", k))
		}
		cc.Meta[k], prev = v == 1, k
	}
}
