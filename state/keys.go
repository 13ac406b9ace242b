package state

// Key layout. This file owns every Pebble key custream writes; nothing else
// builds or parses keys.
//
// All tasks share one Pebble instance. Every key starts with its task, so a
// task's state is one contiguous range that can be dropped with a single
// DeleteRange and validated on restore:
//
//	key   = task(4) table(1) rest...
//	task  = partition number, uint32 big-endian
//	int64 = 8 bytes big-endian, sign bit flipped, so negative < positive
//	        and byte order is numeric order (ids, orgs, times)
//	str   = the bytes with 0x00 escaped as 00 FF, terminated by 00 01
//
// The string encoding is order-preserving (compares like Go strings) and
// self-delimiting, so (org, "ab", "c") and (org, "a", "bc") never collide.
// It is also prefix-preserving: the encoding of s without its terminator is
// a byte prefix of the encoding of every string that starts with s, which is
// what search's prefix scan relies on.
//
// Tables (value after the arrow):
//
//	0x01 meta       task 01 01                                  → next allocator seq, uint64 BE
//	                task 01 02                                  → changelog checkpoint, int64
//	                                                              (local only: never in the changelog)
//	0x02 customer   task 02 id                                  → customer document (codec.go)
//	0x03 (retired: the identifier table of one key per scope; rejected in a changelog)
//	0x04 (retired: the holder table of one key per holding; rejected in a changelog)
//	0x05 search     task 05 org str(token) id                   → 01
//	0x06 request    task 06 org str(requestID)                  → at(int64 unix nanos) result...
//	0x07 (retired: the request ids ordered by time; never in a changelog)
//	0x08 holders    task 08 org str(type) str(idkey)            → holding...
//	                holding = id str(source) str(account), sorted and distinct
//
// idkey is customer.Identifier.Key() (the lower-cased email, else the
// normalised value). The holders table answers Holders and OwnerInScope
// with one point read, so bloom filters answer the common miss (a new
// identifier): its value lists
// every holding of the identifier in the org, encoded like key parts, so
// byte order is (customer id, source, account) order, the order the Store
// contract asks for. PutCustomer edits a list by read-modify-write through
// its batch and only ever removes holdings carrying the customer's own id.
// A list holds one entry per scope holding the identifier, so it stays
// short; an empty list is deleted, never stored. The search
// table is scanned by (org, token prefix) and yields customer ids as the
// last 8 bytes of each key; it holds the words of names and of the
// identifiers the holders table cannot answer a prefix of (below).
// Expired request ids are found by a sweep of the request table
// (requests.go), whose values start with the time they were stored.
//
// Values are never empty (index entries hold a single 01 byte, holder lists
// at least one holding), so in the changelog a nil value means delete and
// nothing else.
//
// Table 0x04 held one key per holding (task 04 org str(type) str(idkey) id
// str(source) str(account) → 01) and was answered by a prefix scan, which
// bloom filters cannot help. Table 0x03 held one key per (scope,
// identifier) → owner; the holder list says the same, so layout 3 answers
// OwnerInScope from it and writes three keys fewer per typical customer.
// State written with either must be rebuilt, not restored: their changelog
// records are rejected.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Table tags, the byte after the task.
const (
	tabMeta      byte = 0x01
	tabCustomer  byte = 0x02
	tabIdentV2   byte = 0x03 // retired (see the layout above)
	tabHolderV1  byte = 0x04 // retired (see the layout above)
	tabSearch    byte = 0x05
	tabRequest   byte = 0x06
	tabReqByTime byte = 0x07 // retired (see the layout above)
	tabHolders   byte = 0x08
	tabEnd       byte = 0x09 // first tag not in use

	metaSeq        byte = 0x01
	metaCheckpoint byte = 0x02
)

// marker is the value of index entries whose key says everything.
var marker = []byte{0x01}

const taskLen = 4

func appendTask(b []byte, task int32) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(task))
}

func appendInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v)^(1<<63))
}

func readInt64(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

// appendStr appends s escaped and terminated (see the layout above).
func appendStr(b []byte, s string) []byte {
	b = appendStrPrefix(b, s)
	return append(b, 0x00, 0x01)
}

// appendStrPrefix appends s escaped but not terminated, for prefix scans.
func appendStrPrefix(b []byte, s string) []byte {
	for {
		i := indexZero(s)
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		b = append(b, 0x00, 0xFF)
		s = s[i+1:]
	}
}

func indexZero(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

// readStr decodes one str at the start of b and returns the rest.
func readStr(b []byte) (s string, rest []byte, err error) {
	var out []byte
	for {
		i := bytes.IndexByte(b, 0x00)
		if i < 0 || i+1 >= len(b) {
			return "", nil, fmt.Errorf("unterminated string in key")
		}
		if out == nil && b[i+1] == 0x01 {
			return string(b[:i]), b[i+2:], nil // no escapes: one allocation
		}
		out = append(out, b[:i]...)
		switch b[i+1] {
		case 0x01:
			return string(out), b[i+2:], nil
		case 0xFF:
			out = append(out, 0x00)
			b = b[i+2:]
		default:
			return "", nil, fmt.Errorf("bad escape 00 %02x in key", b[i+1])
		}
	}
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// for use as an exclusive upper bound.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // all 0xFF: no upper bound
}

func tablePrefix(task int32, tab byte) []byte {
	return appendTablePrefix(make([]byte, 0, 32), task, tab)
}

func appendTablePrefix(b []byte, task int32, tab byte) []byte {
	return append(appendTask(b, task), tab)
}

func taskStart(task int32) []byte { return appendTask(nil, task) }

// taskEnd is the exclusive end of the task's keyspace.
func taskEnd(task int32) []byte {
	if uint32(task) == math.MaxUint32 {
		return []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	}
	return appendTask(nil, int32(uint32(task)+1))
}

func seqKey(task int32) []byte        { return append(tablePrefix(task, tabMeta), metaSeq) }
func checkpointKey(task int32) []byte { return append(tablePrefix(task, tabMeta), metaCheckpoint) }

func customerKey(task int32, id int64) []byte {
	return appendInt64(tablePrefix(task, tabCustomer), id)
}

// appendHoldersKey appends the key of the holder list of one identifier.
func appendHoldersKey(b []byte, task int32, org int64, typ, idkey string) []byte {
	b = appendInt64(appendTablePrefix(b, task, tabHolders), org)
	b = appendStr(b, typ)
	return appendStr(b, idkey)
}

// appendHolding appends one holding of a holder list.
func appendHolding(b []byte, id int64, source, account string) []byte {
	return appendStr(appendStr(appendInt64(b, id), source), account)
}

// appendHolderEntry appends a holder list key followed by one holding:
// PutCustomer sorts and diffs these like the other index keys, then
// splits them (splitHolderEntry) to edit the lists.
func appendHolderEntry(b []byte, task int32, org int64, typ, idkey string, id int64, source, account string) []byte {
	return appendHolding(appendHoldersKey(b, task, org, typ, idkey), id, source, account)
}

// splitHolderEntry splits what appendHolderEntry built into the list key
// and the holding.
func splitHolderEntry(e []byte) (key, holding []byte, err error) {
	n := taskLen + 1 + 8
	if len(e) < n {
		return nil, nil, fmt.Errorf("holder entry %x too short", e)
	}
	for range 2 { // str(type) str(idkey)
		l, err := strLen(e[n:])
		if err != nil {
			return nil, nil, fmt.Errorf("holder entry %x: %w", e, err)
		}
		n += l
	}
	return e[:n:n], e[n:], nil
}

// strEqual reports whether the str at the start of b encodes s, and the
// str's length, terminator included, without allocating.
func strEqual(b []byte, s string) (equal bool, n int, err error) {
	n, err = strLen(b)
	if err != nil {
		return false, 0, err
	}
	if indexZero(s) < 0 {
		return n == len(s)+2 && string(b[:len(s)]) == s, n, nil
	}
	got, _, err := readStr(b[:n])
	return got == s, n, err
}

// strLen returns the length of the str at the start of b, terminator
// included.
func strLen(b []byte) (int, error) {
	n := 0
	for {
		i := bytes.IndexByte(b[n:], 0x00)
		if i < 0 || n+i+1 >= len(b) {
			return 0, fmt.Errorf("unterminated string in key")
		}
		switch b[n+i+1] {
		case 0x01:
			return n + i + 2, nil
		case 0xFF:
			n += i + 2
		default:
			return 0, fmt.Errorf("bad escape 00 %02x in key", b[n+i+1])
		}
	}
}

// splitHoldings cuts a holder list value into its holdings (slices of v),
// checking that they are well formed, sorted and distinct. dst is reused.
func splitHoldings(dst [][]byte, v []byte) ([][]byte, error) {
	dst = dst[:0]
	for rest := v; len(rest) > 0; {
		if len(rest) < 8 {
			return nil, fmt.Errorf("holder list: truncated holding")
		}
		n := 8
		for range 2 { // str(source) str(account)
			l, err := strLen(rest[n:])
			if err != nil {
				return nil, fmt.Errorf("holder list: %w", err)
			}
			n += l
		}
		h := rest[:n:n]
		if len(dst) > 0 && bytes.Compare(dst[len(dst)-1], h) >= 0 {
			return nil, fmt.Errorf("holder list: holdings not sorted and distinct")
		}
		dst = append(dst, h)
		rest = rest[n:]
	}
	return dst, nil
}

// parseHolding reads one holding (from splitHoldings).
func parseHolding(h []byte) (id int64, source, account string, err error) {
	if len(h) < 8 {
		return 0, "", "", fmt.Errorf("holding too short")
	}
	id = readInt64(h)
	source, rest, err := readStr(h[8:])
	if err != nil {
		return 0, "", "", err
	}
	account, rest, err = readStr(rest)
	if err != nil {
		return 0, "", "", err
	}
	if len(rest) != 0 {
		return 0, "", "", fmt.Errorf("trailing bytes in holding")
	}
	return id, source, account, nil
}

// searchPrefix is the scan prefix for tokens of org starting with prefix.
func searchPrefix(task int32, org int64, prefix string) []byte {
	return appendStrPrefix(appendInt64(tablePrefix(task, tabSearch), org), prefix)
}

func searchKey(task int32, org int64, token string, id int64) []byte {
	return appendSearchKey(make([]byte, 0, 48), task, org, token, id)
}

func appendSearchKey(b []byte, task int32, org int64, token string, id int64) []byte {
	b = appendStr(appendInt64(appendTablePrefix(b, task, tabSearch), org), token)
	return appendInt64(b, id)
}

func requestKey(task int32, org int64, requestID string) []byte {
	return appendStr(appendInt64(tablePrefix(task, tabRequest), org), requestID)
}

// parseRequestKey reads (org, requestID) from a request key.
func parseRequestKey(key []byte) (org int64, requestID string, err error) {
	rest := key[taskLen+1:]
	if len(rest) < 8 {
		return 0, "", fmt.Errorf("request key %x too short", key)
	}
	org = readInt64(rest)
	requestID, rest, err = readStr(rest[8:])
	if err != nil {
		return 0, "", fmt.Errorf("request key %x: %w", key, err)
	}
	if len(rest) != 0 {
		return 0, "", fmt.Errorf("request key %x: trailing bytes", key)
	}
	return org, requestID, nil
}

// inChangelog reports whether a key of a task is in a primary table, the
// ones the changelog carries: customers, requests and the id allocator.
// The index tables (holders, search) are derived from them and the
// checkpoint is local.
func inChangelog(key []byte) bool {
	switch key[taskLen] {
	case tabCustomer, tabRequest:
		return true
	case tabMeta:
		return len(key) == taskLen+2 && key[taskLen+1] == metaSeq
	}
	return false
}

// checkChangelogKey reports whether key may arrive in task's changelog: it
// must be in the task's keyspace and in a primary table (inChangelog).
func checkChangelogKey(task int32, key []byte) error {
	if len(key) < taskLen+1 || !bytes.HasPrefix(key, taskStart(task)) {
		return fmt.Errorf("key %x is not in task %d's keyspace", key, task)
	}
	switch tab := key[taskLen]; {
	case tab == 0 || tab >= tabEnd:
		return fmt.Errorf("key %x has unknown table %#x", key, tab)
	case bytes.Equal(key, checkpointKey(task)):
		return fmt.Errorf("key %x is the local checkpoint, which is never in the changelog", key)
	case !inChangelog(key):
		return fmt.Errorf("key %x is in table %#x, which the changelog of layout %d does not carry (an older custream wrote it): delete the changelog topic and the state, or run the custream that wrote them", key, tab, layoutVersion)
	}
	return nil
}

// CheckpointKey is the key of task's changelog checkpoint, for tools and
// tests that compare two states: the checkpoint is the one key whose value
// may differ between a state that processed a changelog and one restored
// from it (a restore also moves past the last transaction marker).
func CheckpointKey(task int32) []byte { return checkpointKey(task) }
