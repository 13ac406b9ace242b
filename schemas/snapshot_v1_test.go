package schemas

import (
	"time"

	"github.com/custream/custream/processor/customer"
)

// The v1 snapshot encoder (io.custream.v1.Customer, the stored document,
// replaced by the fetch view in v2), kept only as the baseline of
// BenchmarkEncodeSnapshotV1: what the hot path cost before v2.

func encodeSnapshotV1(c *customer.Customer) []byte {
	bp, b := startRecord(KindSnapshot) // the v2 header: same cost
	return finishRecord(bp, appendSnapshotV1(b, c))
}

func appendSnapshotV1(b []byte, c *customer.Customer) []byte {
	b = appendLong(b, c.ID)
	b = appendLong(b, c.Org)
	b = appendOptLong(b, c.MergedInto)
	b = appendString(b, c.LoyaltyType)
	b = appendArray(b, c.Profiles, appendProfileV1)
	b = appendMap(b, c.ExtendedFields, appendString)
	b = appendArray(b, c.Subscriptions, appendSubscription)
	b = appendOptMicros(b, c.CreateDate)
	return appendOptMicros(b, c.ModifiedDate)
}

func appendProfileV1(b []byte, p *customer.Profile) []byte {
	b = appendString(b, p.Source)
	b = appendString(b, p.AccountID)
	b = appendString(b, p.FirstName)
	b = appendString(b, p.LastName)
	b = appendMap(b, p.Fields, appendString)
	b = appendArray(b, p.Identifiers, appendIdentifier)
	b = appendArray(b, p.CommChannels, appendCommChannel)
	b = appendOptMicros(b, p.CreateDate)
	b = appendOptMicros(b, p.ModifiedDate)
	return appendArray(b, p.Conflicting, appendProfileV1)
}

func appendOptMicros(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, unionNull)
	}
	return appendLong(append(b, unionValue), t.UnixMicro())
}
