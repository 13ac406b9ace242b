package customer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// JSON decoding of request bodies as upstream systems really send them: the
// API doc itself sends a mobile number as a JSON number (919111111111),
// comm-channel flags as strings ("true") and custom fields may be numbers
// or booleans. Values are kept as their literal text (DOMAIN.md: "treated
// as strings of digits"), so no precision is lost to float64.

// UnmarshalJSON accepts a string, number or boolean value.
func (i *Identifier) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	v, err := scalarText(raw.Value)
	if err != nil {
		return fmt.Errorf("identifier %s value: %w", echo(raw.Type), err)
	}
	*i = Identifier{Type: raw.Type, Value: v}
	return nil
}

// UnmarshalJSON accepts primary and verified as booleans or as the strings
// "true" and "false", and a number as value.
func (c *CommChannel) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type     string          `json:"type"`
		Value    json.RawMessage `json:"value"`
		Primary  json.RawMessage `json:"primary"`
		Verified json.RawMessage `json:"verified"`
		Meta     map[string]bool `json:"meta"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	v, err := scalarText(raw.Value)
	if err != nil {
		return fmt.Errorf("comm channel %s value: %w", echo(raw.Type), err)
	}
	p, err := flexBool(raw.Primary)
	if err != nil {
		return fmt.Errorf("comm channel %s primary: %w", echo(raw.Type), err)
	}
	ver, err := flexBool(raw.Verified)
	if err != nil {
		return fmt.Errorf("comm channel %s verified: %w", echo(raw.Type), err)
	}
	*c = CommChannel{Type: raw.Type, Value: v, Primary: p, Verified: ver, Meta: raw.Meta}
	return nil
}

// UnmarshalJSON accepts scalar values of any JSON type in fields.
func (p *ProfileInput) UnmarshalJSON(b []byte) error {
	type plain ProfileInput // no methods: no recursion
	var raw struct {
		plain
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	f, err := scalarMap(raw.Fields)
	if err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	*p = ProfileInput(raw.plain)
	p.Fields = f
	return nil
}

// UnmarshalJSON accepts scalar values of any JSON type in extendedFields.
func (c *CustomerBody) UnmarshalJSON(b []byte) error {
	type plain CustomerBody
	var raw struct {
		plain
		ExtendedFields map[string]json.RawMessage `json:"extendedFields"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	f, err := scalarMap(raw.ExtendedFields)
	if err != nil {
		return fmt.Errorf("extendedFields: %w", err)
	}
	*c = CustomerBody(raw.plain)
	c.ExtendedFields = f
	return nil
}

func scalarMap(m map[string]json.RawMessage) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, raw := range m {
		v, err := scalarText(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", echo(k), err)
		}
		out[k] = v
	}
	return out, nil
}

// scalarText is a JSON string's content, or a number's or boolean's literal
// text; null and absent are "".
func scalarText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{', '[':
		return "", fmt.Errorf("want a string, number or boolean, got %s", raw)
	}
	return string(raw), nil
}

func flexBool(raw json.RawMessage) (bool, error) {
	s, err := scalarText(raw)
	if err != nil || s == "" {
		return false, err
	}
	return strconv.ParseBool(s)
}
