package schemas

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/custream/custream/processor/customer"
)

// JSON forms of the output records (`--output-format json`), with the API
// doc's field names. Lists are always present ([] rather than null), as in
// the API's responses; createdId and accountId are left out when unset;
// times are RFC 3339 in UTC with millisecond precision.

type resultJSON struct {
	RequestID     string                  `json:"requestId"`
	Org           int64                   `json:"org"`
	Source        string                  `json:"source"`
	AccountID     string                  `json:"accountId,omitempty"`
	Op            customer.Op             `json:"op"`
	Success       bool                    `json:"success"`
	CreatedID     int64                   `json:"createdId,omitempty"`
	Subscriptions []customer.Subscription `json:"subscriptions"`
	Warnings      []customer.Issue        `json:"warnings"`
	Errors        []customer.Issue        `json:"errors"`
	Origin        Origin                  `json:"origin"`
}

// EncodeResultJSON returns r as JSON:
//
//	{"requestId":"r-1","org":7,"source":"WECHAT","accountId":"22232","op":"register",
//	 "success":true,"createdId":329,"subscriptions":[],"warnings":[],"errors":[],
//	 "origin":{"topic":"customers.wechat","partition":3,"offset":1042}}
func EncodeResultJSON(r ResultRecord) ([]byte, error) {
	b, err := json.Marshal(resultJSON{
		RequestID:     r.RequestID,
		Org:           r.Org,
		Source:        r.Source,
		AccountID:     r.AccountID,
		Op:            r.Op,
		Success:       r.Success,
		CreatedID:     r.CreatedID,
		Subscriptions: nonNil(r.Subscriptions),
		Warnings:      nonNil(r.Warnings),
		Errors:        nonNil(r.Errors),
		Origin:        r.Origin,
	})
	if err != nil {
		return nil, fmt.Errorf("encode result %q as JSON: %w", r.RequestID, err)
	}
	return b, nil
}

// DecodeResultJSON reads what EncodeResultJSON wrote (for consumers and
// tests). Empty lists decode as nil.
func DecodeResultJSON(data []byte) (ResultRecord, error) {
	var j resultJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return ResultRecord{}, undecodable(err, "decode JSON result")
	}
	return ResultRecord{
		Result: customer.Result{
			RequestID:     j.RequestID,
			Org:           j.Org,
			Source:        j.Source,
			AccountID:     j.AccountID,
			Op:            j.Op,
			Success:       j.Success,
			CreatedID:     j.CreatedID,
			Subscriptions: nilIfEmpty(j.Subscriptions),
			Warnings:      nilIfEmpty(j.Warnings),
			Errors:        nilIfEmpty(j.Errors),
		},
		Origin: j.Origin,
	}, nil
}

type mergeJSON struct {
	Org        int64               `json:"org"`
	SurvivorID int64               `json:"survivorId"`
	VictimID   int64               `json:"victimId"`
	Identifier customer.Identifier `json:"identifier"`
	Source     string              `json:"source"`
	AccountID  string              `json:"accountId,omitempty"`
	RequestID  string              `json:"requestId"`
	Time       string              `json:"time"`
	Balances   []balanceJSON       `json:"balances"`
}

// balanceJSON is a merge notice's moved balance: merge.avsc's
// ProgramBalance, the same names in JSON.
type balanceJSON struct {
	ProgramID            int64   `json:"programId"`
	Version              int64   `json:"version"`
	LoyaltyID            int64   `json:"loyaltyId"`
	LoyaltyPoints        float64 `json:"loyaltyPoints"`
	LifetimePoints       float64 `json:"lifetimePoints"`
	Redeemed             float64 `json:"redeemed"`
	Expired              float64 `json:"expired"`
	Returned             float64 `json:"returned"`
	Adjusted             float64 `json:"adjusted"`
	CumulativePurchases  float64 `json:"cumulativePurchases"`
	CurrentSlab          string  `json:"currentSlab"`
	SlabSNo              int64   `json:"slabSNo"`
	SlabExpiryDate       string  `json:"slabExpiryDate"`
	NextSlab             string  `json:"nextSlab"`
	NextSlabSerialNumber int64   `json:"nextSlabSerialNumber"`
	NextSlabDescription  string  `json:"nextSlabDescription"`
}

// jsonTime is RFC 3339 in UTC with milliseconds: the precision of a Kafka
// timestamp and of the Avro form.
const jsonTime = "2006-01-02T15:04:05.000Z07:00"

// EncodeMergeJSON returns m as JSON:
//
//	{"org":7,"survivorId":329,"victimId":418,"identifier":{"type":"wechat","value":"ray11"},
//	 "source":"WECHAT","accountId":"22232","requestId":"r-2","time":"2024-05-01T10:00:00.000Z"}
func EncodeMergeJSON(m customer.Merge) ([]byte, error) {
	balances := make([]balanceJSON, len(m.Balances))
	for i, b := range m.Balances {
		balances[i] = balanceJSON(b)
	}
	b, err := json.Marshal(mergeJSON{
		Org:        m.Org,
		SurvivorID: m.SurvivorID,
		VictimID:   m.VictimID,
		Identifier: m.Identifier,
		Source:     m.Source,
		AccountID:  m.AccountID,
		RequestID:  m.RequestID,
		Time:       m.Time.UTC().Format(jsonTime),
		Balances:   balances,
	})
	if err != nil {
		return nil, fmt.Errorf("encode merge of %d into %d as JSON: %w", m.VictimID, m.SurvivorID, err)
	}
	return b, nil
}

// DecodeMergeJSON reads what EncodeMergeJSON wrote.
func DecodeMergeJSON(data []byte) (customer.Merge, error) {
	var j mergeJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return customer.Merge{}, undecodable(err, "decode JSON merge")
	}
	t, err := time.Parse(time.RFC3339, j.Time)
	if err != nil {
		return customer.Merge{}, undecodable(err, "decode JSON merge: time")
	}
	var balances []customer.Balance
	for _, b := range j.Balances {
		balances = append(balances, customer.Balance(b))
	}
	return customer.Merge{
		Balances:   balances,
		Org:        j.Org,
		SurvivorID: j.SurvivorID,
		VictimID:   j.VictimID,
		Identifier: j.Identifier,
		Source:     j.Source,
		AccountID:  j.AccountID,
		RequestID:  j.RequestID,
		Time:       t.UTC(),
	}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
