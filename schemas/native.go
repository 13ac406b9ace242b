package schemas

import (
	"fmt"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
)

// This file reads goavro's native values (map[string]any records, []any
// arrays, map[string]any maps, union values as a one-key map naming the
// branch) without trusting them: a value decoded with a writer schema other
// than ours (Confluent form) may lack fields, carry extra ones, or spell a
// nullable field without its union. So fields are looked up by name,
// missing ones read as the zero value, union wrappers are removed where
// found, and a field of the wrong type is an error naming its path.

func init() {
	// goavro preallocates an array or map block of the count the data
	// claims, before reading any item (up to MaxInt32 by default), so a
	// dozen hostile bytes could ask for tens of gigabytes. Every datum is
	// walked before goavro sees it (avrowalk.go), which refuses such
	// counts; this cap is a second line, and the block size of goavro's
	// encoder, the same as ours (avroenc.go).
	goavro.MaxBlockCount = maxBlockItems
}

// reader accumulates the first error met while walking a native value, so
// the mapping code reads top to bottom without an if after every field.
type reader struct{ err error }

func (r *reader) failf(path, format string, args ...any) {
	if r.err == nil {
		r.err = undecodable(nil, "%s: %s", path, fmt.Sprintf(format, args...))
	}
}

// unwrapUnion returns the value inside a goavro union wrapper
// (map[string]any{"branch": v}), or v itself when it is not one. isWrapper
// decides, per expected type, whether a one-key map is a wrapper.
func unwrapUnion(v any, isWrapper func(branch string, inner any) bool) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	for k, inner := range m {
		if isWrapper(k, inner) {
			return inner
		}
	}
	return v
}

// scalarWrapper: a one-key map where a scalar is expected can only be a
// union wrapper.
func scalarWrapper(string, any) bool { return true }

// recordWrapper: a record inside a union is a one-key map holding a map.
// (Our records of one field hold a scalar, so they are not mistaken.)
func recordWrapper(_ string, inner any) bool {
	_, ok := inner.(map[string]any)
	return ok
}

// field is m[key]; a nil map (an absent record) has no fields.
func field(m map[string]any, key string) any {
	if m == nil {
		return nil
	}
	return m[key]
}

// record returns the record in field key of m; nil when absent or null.
func (r *reader) record(m map[string]any, key, path string) map[string]any {
	v := unwrapUnion(field(m, key), recordWrapper)
	if v == nil {
		return nil
	}
	rec, ok := v.(map[string]any)
	if !ok {
		r.failf(path, "want a record, got %T", v)
	}
	return rec
}

func (r *reader) str(m map[string]any, key, path string) string {
	v := unwrapUnion(field(m, key), scalarWrapper)
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	case []byte: // a writer schema with bytes where we have string
		return string(s)
	}
	r.failf(path, "want a string, got %T", v)
	return ""
}

func (r *reader) long(m map[string]any, key, path string) int64 {
	v := unwrapUnion(field(m, key), scalarWrapper)
	switch n := v.(type) {
	case nil:
		return 0
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	}
	r.failf(path, "want a long, got %T", v)
	return 0
}

func (r *reader) boolean(m map[string]any, key, path string) bool {
	v := unwrapUnion(field(m, key), scalarWrapper)
	switch b := v.(type) {
	case nil:
		return false
	case bool:
		return b
	}
	r.failf(path, "want a boolean, got %T", v)
	return false
}

// timestamp reads a timestamp-millis or -micros field (goavro gives a UTC
// time.Time) or, from a writer schema without the logical type, a plain
// long of milliseconds. Null is the zero time.
func (r *reader) timestamp(m map[string]any, key, path string) time.Time {
	v := unwrapUnion(field(m, key), scalarWrapper)
	switch t := v.(type) {
	case nil:
		return time.Time{}
	case time.Time:
		return t
	case int64:
		return time.UnixMilli(t).UTC()
	}
	r.failf(path, "want a timestamp, got %T", v)
	return time.Time{}
}

func (r *reader) array(m map[string]any, key, path string) []any {
	v := unwrapUnion(field(m, key), func(branch string, inner any) bool {
		_, ok := inner.([]any)
		return branch == "array" && ok
	})
	switch a := v.(type) {
	case nil:
		return nil
	case []any:
		return a
	}
	r.failf(path, "want an array, got %T", v)
	return nil
}

// records reads an array of records, calling fn for each.
func (r *reader) records(m map[string]any, key, path string, fn func(rec map[string]any, path string)) {
	for i, item := range r.array(m, key, path) {
		p := fmt.Sprintf("%s[%d]", path, i)
		rec, ok := unwrapUnion(item, recordWrapper).(map[string]any)
		if !ok {
			r.failf(p, "want a record, got %T", item)
			return
		}
		fn(rec, p)
	}
}

func (r *reader) avroMap(m map[string]any, key, path string) map[string]any {
	v := unwrapUnion(field(m, key), func(branch string, inner any) bool {
		_, ok := inner.(map[string]any)
		return branch == "map" && ok
	})
	switch mm := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return mm
	}
	r.failf(path, "want a map, got %T", v)
	return nil
}

// stringMap reads a map of strings; empty reads as nil.
func (r *reader) stringMap(m map[string]any, key, path string) map[string]string {
	mm := r.avroMap(m, key, path)
	if len(mm) == 0 {
		return nil
	}
	out := make(map[string]string, len(mm))
	for k := range mm {
		out[k] = r.str(mm, k, path+"."+k)
	}
	return out
}

// boolMap reads a map of booleans; empty reads as nil.
func (r *reader) boolMap(m map[string]any, key, path string) map[string]bool {
	mm := r.avroMap(m, key, path)
	if len(mm) == 0 {
		return nil
	}
	out := make(map[string]bool, len(mm))
	for k := range mm {
		out[k] = r.boolean(mm, k, path+"."+k)
	}
	return out
}

// shortName is a union branch's name without its namespace, so a writer
// schema in another namespace still resolves by name.
func shortName(full string) string {
	return full[strings.LastIndexByte(full, '.')+1:]
}

// Writing: the helpers below build the natives goavro encodes. Nullable
// fields are unions; goavro wants their value as {"branch": v} or nil.

func optString(s string) any {
	if s == "" {
		return nil
	}
	return goavro.Union("string", s)
}

func optLong(n int64) any {
	if n == 0 {
		return nil
	}
	return goavro.Union("long", n)
}

// optTime encodes the zero time as null. branch is the union branch name
// goavro gives a logical type: "long.timestamp-millis" or
// "long.timestamp-micros".
func optTime(t time.Time, branch string) any {
	if t.IsZero() {
		return nil
	}
	return goavro.Union(branch, t)
}

func stringMapNative(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func boolMapNative(m map[string]bool) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
